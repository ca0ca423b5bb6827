//! Reads and writes on the real Earth-observation fixtures, checked against GDAL's own command-line tools.
// Exact float equality is what these tests check; pixel arithmetic reads better as (a + b) / 2.
#![allow(clippy::float_cmp, clippy::manual_midpoint)]

use std::path::{Path, PathBuf};
use std::process::Command;

use eoforge_raster::{
    CogOptions, Compression, Crs, GeoTransform, Grid, Raster, RasterSpec, Resampling, TiffOptions, TiledWriter, Window,
    check_cog, reproject_bounds, write_cog,
};
use eoforge_testkit::fixture;
use ndarray::{Array3, Axis, s};

/// BigEarthNet band names in the order eoforge stacks them.
const BANDS: [&str; 12] = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"];

fn patches() -> Option<Vec<PathBuf>> {
    let dir = fixture("bigearthnet/s2")?;
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list patches")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    assert_eq!(out.len(), 2, "two BigEarthNet patches expected");
    Some(out)
}

fn band_path(patch: &Path, band: &str) -> String {
    let name = patch.file_name().expect("patch name").to_string_lossy();
    patch.join(format!("{name}_{band}.tif")).display().to_string()
}

#[test]
fn bigearthnet_reads_all_twelve_bands_onto_the_10m_grid() {
    let Some(patches) = patches() else { return };
    for patch in patches {
        let reference = Raster::open(&band_path(&patch, "B02")).expect("open B02");
        let grid = Grid { width: 120, height: 120, transform: reference.geo_transform().expect("georeferenced") };
        let mut stack = Array3::<u16>::zeros((12, 120, 120));
        for (i, band) in BANDS.iter().enumerate() {
            let raster = Raster::open(&band_path(&patch, band)).expect("open band");
            let native =
                raster.read_window::<u16>(Window::full(raster.width(), raster.height()), None).expect("native read");
            let factor = 120 / raster.width();
            assert!(matches!(factor, 1 | 2 | 6), "{band}: {}x{}", raster.width(), raster.height());

            // Nearest: every 10 m pixel takes exactly the value of the coarse pixel that contains it.
            let nearest = raster.read_onto_grid::<u16>(&grid, None, Resampling::Nearest).expect("nearest");
            assert_eq!(nearest.dim(), (1, 120, 120));
            for ((_, r, c), v) in nearest.indexed_iter() {
                assert_eq!(*v, native[[0, r / factor, c / factor]], "{band} at {r},{c}");
            }

            // Bilinear: interpolated values stay inside the native range and keep the mean.
            let bilinear = raster.read_onto_grid::<u16>(&grid, None, Resampling::Bilinear).expect("bilinear");
            let (lo, hi) = native.iter().fold((u16::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            assert!(bilinear.iter().all(|&v| v >= lo && v <= hi), "{band}: bilinear out of range");
            let mean = |a: &Array3<u16>| a.iter().map(|&v| f64::from(v)).sum::<f64>() / a.len() as f64;
            let (m0, m1) = (mean(&native), mean(&bilinear));
            assert!((m0 - m1).abs() / m0.max(1.0) < 0.02, "{band}: mean {m0} vs {m1}");
            stack.slice_mut(s![i, .., ..]).assign(&bilinear.index_axis(Axis(0), 0));
        }
        assert!(stack.axis_iter(Axis(0)).all(|b| b.iter().any(|&v| v > 0)), "every band has data");
    }
}

#[test]
fn fractional_grid_reads_match_gdal_resampling() {
    let Some(b05) = fixture("s2-l2a-29RKH/B05.tif") else { return };
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    // A 64x64 window of the "10 m" grid starting at an odd pixel covers half pixels of the "20 m" band.
    let fine = Raster::open(&b04.display().to_string()).expect("open B04");
    let coarse = Raster::open(&b05.display().to_string()).expect("open B05");
    let grid = Grid::of_window(&fine.geo_transform().expect("gt"), Window::new(101, 203, 64, 64));
    let out = coarse.read_onto_grid::<u16>(&grid, None, Resampling::Nearest).expect("read");
    let native = coarse.read_window::<u16>(Window::new(50, 101, 33, 33), None).expect("native");
    for ((_, r, c), v) in out.indexed_iter() {
        // Fine pixel (101 + c, 203 + r) has its centre in coarse pixel ((101 + c) / 2, (203 + r) / 2).
        let (cc, rr) = ((101 + c) / 2 - 50, (203 + r) / 2 - 101);
        assert_eq!(*v, native[[0, rr, cc]], "at {r},{c}");
    }
    let outside = Grid::of_window(&fine.geo_transform().expect("gt"), Window::new(1090, 0, 64, 64));
    let err = coarse.read_onto_grid::<u16>(&outside, None, Resampling::Nearest).expect_err("outside");
    assert!(err.to_string().contains("B05.tif"), "{err}");
}

fn gdal_value(path: &Path, band: usize, col: usize, row: usize) -> f64 {
    let out = Command::new("gdallocationinfo")
        .args(["-valonly", "-b", &band.to_string(), &path.display().to_string(), &col.to_string(), &row.to_string()])
        .output()
        .expect("gdallocationinfo (gdal-bin) must be installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a number")
}

#[test]
fn window_of_29rkh_matches_gdallocationinfo() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let raster = Raster::open(&b04.display().to_string()).expect("open");
    let window = Window::new(517, 300, 97, 61);
    let data = raster.read_window::<u16>(window, None).expect("read");
    assert_eq!(data.dim(), (1, 61, 97));
    for (r, c) in [(0, 0), (60, 96), (30, 48), (7, 90), (59, 1)] {
        let expected = gdal_value(&b04, 1, window.col + c, window.row + r);
        assert_eq!(f64::from(data[[0, r, c]]), expected, "pixel {},{}", window.col + c, window.row + r);
    }
    // A band subset, reordered, of a multi-band file.
    let Some(tci) = fixture("s2-l2a-29RKH/TCI.tif") else { return };
    let tci_raster = Raster::open(&tci.display().to_string()).expect("open TCI");
    let rgb = tci_raster.read_window::<u8>(Window::new(200, 700, 10, 10), Some(&[3, 1])).expect("read TCI");
    for (slot, band) in [(0, 3), (1, 1)] {
        for (r, c) in [(0, 0), (9, 9), (4, 6)] {
            assert_eq!(f64::from(rgb[[slot, r, c]]), gdal_value(&tci, band, 200 + c, 700 + r), "band {band} {r},{c}");
        }
    }
    // Widening reads are allowed and exact.
    let as_f32 = raster.read_window::<f32>(window, None).expect("read as f32");
    assert!(as_f32.iter().zip(data.iter()).all(|(a, b)| *a == f32::from(*b)));
}

#[test]
fn metadata_of_the_29rkh_scene() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let info = Raster::open(&b04.display().to_string()).expect("open").info().expect("info");
    assert_eq!((info.width, info.height, info.band_count), (1098, 1098, 1));
    assert_eq!(info.crs.as_ref().and_then(|c| c.epsg), Some(32_629));
    assert_eq!(info.geo_transform, Some(GeoTransform([199_980.0, 100.0, 0.0, 2_800_020.0, 0.0, -100.0])));
    assert_eq!(info.bands[0].dtype, "UInt16");
    assert_eq!(info.bands[0].nodata, Some(0.0));
    assert_eq!(info.bands[0].block_size, [512, 512]);
    assert_eq!(info.bands[0].overviews, 2);
    assert_eq!(info.compression.as_deref(), Some("DEFLATE"));
}

fn gdaltransform(from: &str, to: &str, x: f64, y: f64) -> (f64, f64) {
    use std::io::Write;
    let mut child = Command::new("gdaltransform")
        .args(["-s_srs", from, "-t_srs", to, "-output_xy"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gdaltransform");
    writeln!(child.stdin.as_mut().expect("stdin"), "{x} {y}").expect("write");
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text.split_whitespace().map(|t| t.parse().expect("number")).collect();
    (v[0], v[1])
}

#[test]
fn scene_bounds_reproject_to_lonlat_like_gdaltransform() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let info = Raster::open(&b04.display().to_string()).expect("open").info().expect("info");
    let bounds = info.bounds.expect("bounds");
    let utm = info.crs.expect("crs");
    let wgs = Crs::wgs84().expect("wgs84");
    let ll = reproject_bounds(&bounds, &utm, &wgs).expect("to lon/lat");
    // The corners bound the box; the densified edges may only widen it.
    for (x, y) in [
        (bounds.min_x, bounds.min_y),
        (bounds.max_x, bounds.max_y),
        (bounds.min_x, bounds.max_y),
        (bounds.max_x, bounds.min_y),
    ] {
        let (lon, lat) = gdaltransform("EPSG:32629", "EPSG:4326", x, y);
        assert!(
            lon >= ll.min_x - 1e-9 && lon <= ll.max_x + 1e-9 && lat >= ll.min_y - 1e-9 && lat <= ll.max_y + 1e-9,
            "{lon},{lat} outside {ll:?}"
        );
    }
    let (lon0, _) = gdaltransform("EPSG:32629", "EPSG:4326", bounds.min_x, bounds.max_y);
    let (lon1, _) = gdaltransform("EPSG:32629", "EPSG:4326", bounds.min_x, bounds.min_y);
    assert!((ll.min_x - lon0.min(lon1)).abs() < 1e-3, "{ll:?} vs {lon0} {lon1}");
    assert_eq!(
        eoforge_raster::utm_epsg((ll.min_x + ll.max_x) / 2.0, (ll.min_y + ll.max_y) / 2.0).expect("zone"),
        32_629
    );
    // A lon/lat AOI inside the scene maps to a window inside it; one far away is refused.
    let raster = Raster::open(&b04.display().to_string()).expect("open");
    let aoi = eoforge_raster::Bounds::new(-11.5, 24.8, -11.4, 24.9);
    let w = raster.window_for(&aoi, &wgs).expect("AOI window");
    assert!(w.fits(1098, 1098) && (100..130).contains(&w.width) && (100..130).contains(&w.height), "{w:?}");
    assert!(raster.window_for(&eoforge_raster::Bounds::new(10.0, 45.0, 10.1, 45.1), &wgs).is_err());
    let back = reproject_bounds(&ll, &wgs, &utm).expect("back to UTM");
    assert!(back.min_x <= bounds.min_x + 1.0 && back.max_x >= bounds.max_x - 1.0, "{back:?} vs {bounds:?}");
}

/// Reads the 29RKH 10 m bands (B02, B03, B04, B08) as one (4, 1098, 1098) stack.
fn rkh_stack() -> Option<(Array3<u16>, GeoTransform, Crs)> {
    let mut planes = Vec::new();
    let mut geo = None;
    for band in ["B02", "B03", "B04", "B08"] {
        let path = fixture(&format!("s2-l2a-29RKH/{band}.tif"))?;
        let raster = Raster::open(&path.display().to_string()).expect("open");
        geo = Some((raster.geo_transform().expect("gt"), raster.crs().expect("crs")));
        planes.push(raster.read_window::<u16>(Window::full(1098, 1098), None).expect("read"));
    }
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    let stack = ndarray::concatenate(Axis(0), &views).expect("stack");
    let (gt, crs) = geo.expect("georeferencing");
    Some((stack, gt, crs))
}

/// Size and georeferencing of the 29RKH stack, nodata 0.
fn rkh_spec(gt: GeoTransform, crs: Crs) -> RasterSpec {
    RasterSpec {
        width: 1098,
        height: 1098,
        bands: 4,
        geo_transform: Some(gt),
        crs: Some(crs),
        nodata: Some(0.0),
        band_descriptions: vec![],
        ..RasterSpec::default()
    }
}

fn write_stack<T: eoforge_raster::Pixel>(
    path: &Path,
    data: &Array3<T>,
    spec: &RasterSpec,
    options: &TiffOptions,
    overviews: Option<Resampling>,
) {
    let mut writer = TiledWriter::<T>::create(path, spec, options).expect("create");
    let (nx, ny) = writer.blocks();
    for by in 0..ny {
        for bx in 0..nx {
            let w = writer.block_window(bx, by);
            let block = data.slice(s![.., w.row..w.row + w.height, w.col..w.col + w.width]);
            writer.write_block(bx, by, block).expect("write block");
        }
    }
    writer.finish(overviews).expect("finish");
}

#[test]
fn tiled_write_then_read_is_bit_exact_for_every_dtype_and_codec() {
    let Some((stack, gt, crs)) = rkh_stack() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = RasterSpec {
        band_descriptions: vec!["B02".into(), "B03".into(), "B04".into(), "B08".into()],
        ..rkh_spec(gt, crs)
    };
    let codecs =
        [Compression::Lzw, Compression::Deflate { level: 6 }, Compression::Zstd { level: 9 }, Compression::None];
    for (i, compression) in codecs.into_iter().enumerate() {
        let options = TiffOptions { block_size: 256, compression, threads: Some(2), ..TiffOptions::default() };
        let path = dir.path().join(format!("u16-{i}.tif"));
        write_stack(&path, &stack, &spec, &options, None);
        assert!(!dir.path().join(format!("u16-{i}.tif.partial")).exists());
        let back = Raster::open(&path.display().to_string()).expect("reopen");
        assert_eq!(
            back.read_window::<u16>(Window::full(1098, 1098), None).expect("read back"),
            stack,
            "{compression:?}"
        );
        let info = back.info().expect("info");
        assert_eq!(info.geo_transform, Some(gt));
        assert_eq!(info.crs.and_then(|c| c.epsg), Some(32_629));
        assert_eq!(info.bands[2].description, "B04");
        assert_eq!(info.bands[0].nodata, Some(0.0));
        assert_eq!(info.bands[0].block_size, [256, 256]);
    }
    // Signed, float and byte data derived from the real values.
    let i16s = stack.mapv(|v| (i32::from(v) - 2000).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16);
    let f32s = stack.mapv(|v| f32::from(v) / 10_000.0);
    let u8s = stack.mapv(|v| (v / 64).min(255) as u8);
    let spec = RasterSpec { nodata: None, band_descriptions: vec![], ..spec };
    let options =
        TiffOptions { compression: Compression::Zstd { level: 1 }, threads: Some(2), ..TiffOptions::default() };
    let p = dir.path().join("i16.tif");
    write_stack(&p, &i16s, &spec, &options, Some(Resampling::Average));
    assert_eq!(
        Raster::open(&p.display().to_string())
            .expect("open")
            .read_window::<i16>(Window::full(1098, 1098), None)
            .expect("read"),
        i16s
    );
    let p = dir.path().join("f32.tif");
    write_stack(&p, &f32s, &spec, &options, Some(Resampling::Bilinear));
    let back = Raster::open(&p.display().to_string())
        .expect("open")
        .read_window::<f32>(Window::full(1098, 1098), None)
        .expect("read");
    assert!(back.iter().zip(f32s.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "f32 round trip is not bit-exact");
    let p = dir.path().join("u8.tif");
    write_stack(&p, &u8s, &spec, &options, Some(Resampling::Nearest));
    let back = Raster::open(&p.display().to_string()).expect("open");
    assert_eq!(back.read_window::<u8>(Window::full(1098, 1098), None).expect("read"), u8s);
    assert_eq!(back.info().expect("info").bands[0].overviews, 2);
}

#[test]
fn abandoned_writer_leaves_nothing_and_bad_blocks_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.tif");
    let spec = RasterSpec { width: 600, height: 300, bands: 2, ..RasterSpec::default() };
    let mut writer = TiledWriter::<u16>::create(&path, &spec, &TiffOptions::default()).expect("create");
    assert_eq!(writer.blocks(), (2, 1));
    assert_eq!(writer.block_window(1, 0), Window::new(512, 0, 88, 300));
    let wrong = Array3::<u16>::zeros((2, 300, 512));
    let err = writer.write_block(1, 0, wrong.view()).expect_err("wrong shape");
    assert!(err.to_string().contains("out.tif"), "{err}");
    assert!(writer.write_block(2, 0, wrong.view()).is_err(), "tile outside the grid");
    writer.write_block(0, 0, wrong.view()).expect("right shape");
    drop(writer);
    assert!(std::fs::read_dir(dir.path()).expect("list").next().is_none(), "partial output left behind");
}

#[test]
fn cogs_pass_gdals_validator_and_our_checker_agrees() {
    let Some((stack, gt, crs)) = rkh_stack() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = rkh_spec(gt, crs);
    let raw = dir.path().join("raw.tif");
    write_stack(&raw, &stack, &spec, &TiffOptions { compression: Compression::None, ..TiffOptions::default() }, None);

    // A COG with overviews: valid for GDAL's validator (no warnings) and for ours.
    let cog = dir.path().join("scene.cog.tif");
    let options = CogOptions {
        tiff: TiffOptions { compression: Compression::Deflate { level: 6 }, ..TiffOptions::default() },
        ..CogOptions::default()
    };
    let report =
        write_cog(&Raster::open(&raw.display().to_string()).expect("open raw"), &cog, &options).expect("write cog");
    assert!(report.is_valid() && report.overview_count >= 1, "{report:?}");
    let (ok, text) = eoforge_testkit::gdal_cog_validator(&cog);
    assert!(
        ok && text.contains("is a valid cloud optimized GeoTIFF") && !text.contains("warnings were found"),
        "{text}"
    );
    assert_eq!(
        Raster::open(&cog.display().to_string())
            .expect("open cog")
            .read_window::<u16>(Window::full(1098, 1098), None)
            .expect("read"),
        stack
    );

    // Overviews added after the base image: both validators reject the layout.
    let late = dir.path().join("late-overviews.tif");
    write_stack(&late, &stack, &spec, &TiffOptions::default(), Some(Resampling::Average));
    let report = check_cog(&late).expect("check");
    assert!(!report.is_valid(), "{report:?}");
    let (ok, text) = eoforge_testkit::gdal_cog_validator(&late);
    assert!(!ok, "GDAL's validator should reject it too: {text}");

    // Tiled but without overviews: GDAL's validator only warns, ours fails it.
    let bare = dir.path().join("no-overviews.tif");
    write_stack(&bare, &stack, &spec, &TiffOptions::default(), None);
    let (ok, text) = eoforge_testkit::gdal_cog_validator(&bare);
    assert!(ok && text.contains("warnings were found"), "{text}");
    let report = check_cog(&bare).expect("check");
    assert!(report.errors.iter().any(|e| e.contains("no internal overviews")), "{report:?}");

    // BigTIFF COGs validate too (their IFDs start at byte 16).
    let big = dir.path().join("bigtiff.cog.tif");
    let options = CogOptions {
        tiff: TiffOptions { bigtiff: eoforge_raster::BigTiff::Yes, ..TiffOptions::default() },
        ..CogOptions::default()
    };
    write_cog(&Raster::open(&raw.display().to_string()).expect("open raw"), &big, &options).expect("write BigTIFF cog");
    let head = std::fs::read(&big).expect("read")[..4].to_vec();
    assert_eq!(head, [0x49, 0x49, 0x2B, 0x00], "BigTIFF signature");
    let (ok, text) = eoforge_testkit::gdal_cog_validator(&big);
    assert!(ok && !text.contains("warnings were found"), "{text}");

    // A failed COG write publishes nothing.
    let blocked = dir.path().join("missing-dir-is-created/but-bad.tif");
    let bad = CogOptions { tiff: TiffOptions { block_size: 100, ..TiffOptions::default() }, ..CogOptions::default() };
    assert!(write_cog(&Raster::open(&raw.display().to_string()).expect("open raw"), &blocked, &bad).is_err());
    assert!(!blocked.exists() && !dir.path().join("missing-dir-is-created/but-bad.tif.partial").exists());

    // The real Landsat strip file is no COG either.
    let Some(landsat) = fixture("landsat/RGB.byte.tif") else { return };
    assert!(!check_cog(&landsat).expect("check").is_valid());
}
