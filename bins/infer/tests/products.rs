//! Products users can trust, on real rasters in the shapes users bring: identity is exact in every type and blend,
//! nodata is a mask (never blended, never cast), lossy casts are refused, metadata and palettes carry over, and a
//! mostly-nodata source is judged against its own nodata share.
#![allow(clippy::float_cmp)]

use std::path::Path;
use std::process::{Command, Output};

use eoforge_raster::{Raster, RasterSpec, TiffOptions, TiledWriter, Window};
use eoforge_testkit::{fixture, gdal_cog_validator, gdal_tool};
use ndarray::Array3;

fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-infer"))
        .args(args)
        .env_remove("EOFORGE_S3_ENDPOINT")
        .output()
        .expect("run eoforge-infer")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The real 29RKH B04 band as Float32 reflectance-like values 0.77..2.0, with `nodata` planted over the scene's
/// own nodata (0) and a 40x30 block.
fn float_scene(dir: &Path, name: &str, nodata: f32) -> Option<(String, Array3<f32>)> {
    let b04 = Raster::open(&fixture("s2-l2a-29RKH/B04.tif")?.display().to_string()).expect("open");
    let raw = b04.read_window::<u16>(Window::full(1098, 1098), None).expect("read");
    let max = f32::from(*raw.iter().max().expect("pixels"));
    let data = Array3::from_shape_fn(raw.dim(), |(b, y, x)| {
        let v = raw[[b, y, x]];
        if v == 0 || ((300..330).contains(&y) && (500..540).contains(&x)) {
            nodata
        } else {
            0.77 + 1.23 * f32::from(v) / max
        }
    });
    let spec = RasterSpec {
        width: 1098,
        height: 1098,
        bands: 1,
        geo_transform: b04.geo_transform(),
        crs: b04.crs(),
        nodata: Some(f64::from(nodata)),
        ..RasterSpec::default()
    };
    let path = dir.join(format!("{name}.tif"));
    let mut w = TiledWriter::<f32>::create(&path, &spec, &TiffOptions::default()).expect("create");
    w.write_window(Window::full(1098, 1098), data.view()).expect("write");
    w.finish(None).expect("finish");
    Some((path.display().to_string(), data))
}

fn same_bits(a: &Array3<f32>, b: &Array3<f32>) -> usize {
    a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count()
}

#[test]
fn identity_reproduces_float32_bit_for_bit_in_both_blends_with_nodata_masked() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, nodata) in [("minus9999", -9999.0f32), ("nan", f32::NAN)] {
        let Some((source, data)) = float_scene(dir.path(), name, nodata) else { return };
        for blend in ["hann", "center"] {
            let dest = dir.path().join(format!("out_{name}_{blend}.tif"));
            let d = dest.display().to_string();
            let out = infer(&["predict", &source, &d, "--model", "identity", "--blend", blend, "--window", "96"]);
            assert!(out.status.success(), "{name} {blend}: {}", stderr(&out));
            let product = Raster::open(&d).expect("open");
            assert_eq!(product.dtype(1).expect("dtype"), eoforge_raster::DataType::Float32, "the input's type");
            let back = product.read_window::<f32>(Window::full(1098, 1098), None).expect("read");
            assert_eq!(same_bits(&back, &data), 0, "{name} {blend}: pixels differ from the input");
            let nd = product.nodata(1).expect("nodata").expect("nodata carried");
            assert!(nd.to_bits() == f64::from(nodata).to_bits() || (nd.is_nan() && nodata.is_nan()), "{nd}");
            let (valid, text) = gdal_cog_validator(&dest);
            assert!(valid, "{text}");
        }
    }
}

#[test]
fn lossy_output_types_and_nodata_values_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some((source, _)) = float_scene(dir.path(), "float", -9999.0) else { return };
    let dest = dir.path().join("out.tif");
    let d = dest.display().to_string();
    let out = infer(&["predict", &source, &d, "--model", "identity", "--out-dtype", "uint16"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--out-dtype uint16") && stderr(&out).contains("Float32"), "{}", stderr(&out));
    assert!(!dest.exists());

    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let b04 = b04.display().to_string();
    let out = infer(&["predict", &b04, &d, "--model", "identity", "--out-nodata", "70000"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("70000") && stderr(&out).contains("UInt16"), "{}", stderr(&out));
    // UInt16 into UInt8: allowed as a type, but the first value over 255 stops the run, naming the pixel.
    let out = infer(&["predict", &b04, &d, "--model", "identity", "--out-dtype", "uint8", "--out-nodata", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not fit UInt8"), "{}", stderr(&out));
    assert!(!dest.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains("eoforge-work") || n.contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn metadata_colours_and_palettes_carry_over_through_predict() {
    let Some(landsat) = fixture("landsat/RGB.byte.tif") else { return };
    let dir = tempfile::tempdir().expect("tmp");
    // Landsat RGB with licence items, warped into a CRS without an EPSG code.
    let source = dir.path().join("rgb_laea.tif");
    let s = source.display().to_string();
    gdal_tool(
        "gdalwarp",
        &[
            "-q",
            "-t_srs",
            "+proj=laea +lat_0=35 +lon_0=-78 +ellps=GRS80 +units=m +no_defs",
            landsat.to_str().expect("utf-8"),
            &s,
        ],
    );
    gdal_tool("gdal_edit.py", &["-mo", "license=public domain (USGS)", "-mo", "copyright=USGS", "-scale", "0.01", &s]);
    let dest = dir.path().join("rgb_out.tif");
    let d = dest.display().to_string();
    let out = infer(&["predict", &s, &d, "--model", "upsample", "--scale", "2", "--window", "128"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (src, product) = (Raster::open(&s).expect("open"), Raster::open(&d).expect("open"));
    assert!(product.crs().expect("crs").is_same(&src.crs().expect("crs")), "custom CRS kept");
    let meta = product.metadata().expect("metadata");
    assert_eq!(meta.colors(), vec![Some("Red"), Some("Green"), Some("Blue")]);
    assert!(meta.items.contains(&("license".into(), "public domain (USGS)".into())), "{:?}", meta.items);
    assert!(meta.items.contains(&("copyright".into(), "USGS".into())), "{:?}", meta.items);
    assert_eq!(meta.bands[0].scale, Some(0.01));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{d}.qc.json")).expect("report")).expect("json");
    let names: Vec<&str> =
        report["checks"].as_array().expect("checks").iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&"crs") && names.contains(&"geotransform"), "{names:?}");

    // A class map keeps its palette and nearest overviews through predict.
    let Some(cdl) = fixture("labels/cdl_2021_30m_kansas_1000.tif") else { return };
    let dest = dir.path().join("cdl_out.tif");
    let d = dest.display().to_string();
    let out = infer(&["predict", cdl.to_str().expect("utf-8"), &d, "--model", "identity"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (src, product) = (Raster::open(cdl.to_str().expect("utf-8")).expect("open"), Raster::open(&d).expect("open"));
    assert_eq!(
        product.color_table(1).expect("palette"),
        src.color_table(1).expect("palette").map(|mut c| {
            c.truncate(256);
            c
        })
    );
    let window = Window::full(1000, 1000);
    assert_eq!(
        product.read_window::<u8>(window, None).expect("read"),
        src.read_window::<u8>(window, None).expect("read")
    );
    let classes: std::collections::BTreeSet<u8> =
        src.read_window::<u8>(window, None).expect("read").iter().copied().collect();
    let overview = product.dataset().rasterband(1).expect("band").overview(0).expect("overview 1");
    let level: Vec<u8> =
        overview.read_as::<u8>((0, 0), overview.size(), overview.size(), None).expect("read").data().to_vec();
    assert!(level.iter().all(|v| classes.contains(v)), "nearest overviews hold only existing classes");
}

#[test]
fn a_mostly_nodata_class_map_is_judged_against_its_source() {
    // The CDL class map with 87% planted nodata, as a tile that is mostly ocean.
    let Some(cdl) = fixture("labels/cdl_2021_30m_kansas_1000.tif") else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let source = dir.path().join("ocean.tif");
    let s = source.display().to_string();
    gdal_tool("gdal_translate", &["-q", "-a_nodata", "0", cdl.to_str().expect("utf-8"), &s]);
    {
        let ds = gdal::Dataset::open_ex(
            &source,
            gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..gdal::DatasetOptions::default() },
        )
        .expect("open for update");
        let mut band = ds.rasterband(1).expect("band");
        let mut zeros = gdal::raster::Buffer::new((1000, 870), vec![0u8; 1000 * 870]);
        band.write((0, 130), (1000, 870), &mut zeros).expect("plant");
    }
    let dest = dir.path().join("ocean_cog.tif");
    let out = infer(&["cog", &s, &dest.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = infer(&["predict", &s, &dir.path().join("ocean_id.tif").display().to_string(), "--model", "identity"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The same file checked alone has no source: the absolute limit applies and blocks it.
    let out =
        infer(&["qc", &dest.display().to_string(), "--report", &dir.path().join("alone.json").display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("nodata_fraction"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2_naming_the_flag() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let (s, d) = (b04.display().to_string(), dir.path().join("out.tif").display().to_string());
    let predict = |extra: &[&str]| {
        let mut args = vec!["predict", s.as_str(), d.as_str(), "--model", "upsample"];
        args.extend_from_slice(extra);
        infer(&args)
    };
    for (extra, flag) in [
        (&["--aoi", "-9.3,29.6,-9.4,29.5"][..], "--aoi"),
        (&["--aoi", "-9.4,95,-9.3,96"][..], "--aoi"),
        (&["--scale", "0"][..], "--scale"),
        (&["--level", "30"][..], "--level"),
        (&["--compress", "deflate", "--level", "12"][..], "--level"),
        (&["--max-nodata-fraction", "2"][..], "--max-nodata-fraction"),
        (&["--band-roles", "red=1,red=2"][..], "--band-roles"),
        (&["--band-roles", "red=0"][..], "--band-roles"),
    ] {
        let out = predict(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{extra:?}: {}", stderr(&out));
    }
    assert!(!Path::new(&d).exists());
}

#[test]
fn sigterm_and_sigint_remove_the_working_folder_and_publish_nothing() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    // A stop request (what SLURM sends before a time limit) exits 75, an interrupt 130.
    for (signal, code) in [("TERM", 75), ("USR1", 75), ("INT", 130)] {
        let dir = tempfile::tempdir().expect("tmp");
        let dest = dir.path().join("x10.tif");
        let mut child = Command::new(env!("CARGO_BIN_EXE_eoforge-infer"))
            .args(["predict", b04.to_str().expect("utf-8"), dest.to_str().expect("utf-8")])
            .args(["--model", "upsample", "--scale", "10", "--window", "128"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // Visible progress: the working folder beside the destination holds the writer's first tiles.
        eoforge_testkit::wait_for(&mut child, "the first tiles were written", || {
            eoforge_testkit::largest_file_named(dir.path(), ".x10.tif.eoforge-work-", "level-0.bin") > 0
        });
        let work = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(".x10.tif.eoforge-work-"))
            .expect("the working folder")
            .path();
        let status =
            Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {}", stderr(&out));
        assert!(!work.exists(), "SIG{signal}: the working folder was left behind");
        assert!(!dest.exists(), "SIG{signal}: a product was published");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "SIG{signal}: {left:?}");
    }
}

#[test]
fn errors_name_the_destination_not_the_working_folder() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let dest = dir.path().join("b04_u8.tif").display().to_string();
    // The COG writer refuses the tile size while creating the working file.
    for args in [
        vec!["predict", b04.to_str().expect("utf-8"), &dest, "--model", "identity", "--blocksize", "100"],
        vec!["cog", b04.to_str().expect("utf-8"), &dest, "--blocksize", "100"],
    ] {
        let out = infer(&args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("block size 100") && stderr(&out).contains(&dest), "{}", stderr(&out));
        assert!(!stderr(&out).contains("eoforge-work"), "{}", stderr(&out));
    }
    assert!(!Path::new(&dest).exists());
}
