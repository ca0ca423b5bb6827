//! The GDAL-free patch path: `decode_geotiff` must return what GDAL reads from the same file (pixels,
//! geotransform, nodata) for every layout it accepts, and `upsample_bilinear` what GDAL's bilinear read returns,
//! bit for bit. GDAL is the oracle throughout: real BigEarthNet bands, and files written by `gdal_translate`.
#![allow(clippy::float_cmp)]

use std::path::Path;

use eoforge_raster::{Pixel, Raster, Resampling, Window, decode_geotiff, upsample_bilinear};
use eoforge_testkit::{fixture, gdal_tool, seeded_u64s};
use gdal::DriverManager;
use ndarray::{Array2, Axis};

/// GDAL's full-resolution read of band 1.
fn gdal_band<T: Pixel>(path: &str) -> Array2<T> {
    let raster = Raster::open(path).expect("GDAL opens it");
    let all = raster.read_window::<T>(Window::full(raster.width(), raster.height()), Some(&[1])).expect("read");
    all.index_axis(Axis(0), 0).to_owned()
}

/// Decodes `path` without GDAL and checks it against GDAL: pixels bit for bit (NaN as NaN), geotransform, nodata.
fn same_as_gdal<T: Pixel>(path: &str) {
    let bytes = std::fs::read(path).expect("read file");
    let decoded = decode_geotiff::<T>(&bytes, path).expect("no error").unwrap_or_else(|| panic!("{path}: declined"));
    let expected = gdal_band::<T>(path);
    assert_eq!(decoded.pixels.dim(), expected.dim(), "{path}");
    for ((at, a), b) in decoded.pixels.indexed_iter().zip(expected.iter()) {
        assert!(a == b || (a.is_nan() && b.is_nan()), "{path} at {at:?}: {a:?} != GDAL {b:?}");
    }
    let raster = Raster::open(path).expect("open");
    assert_eq!(decoded.transform, raster.geo_transform(), "{path}: geotransform");
    let nodata = raster.nodata(1).expect("nodata");
    assert_eq!(decoded.nodata.map(f64::to_bits), nodata.map(f64::to_bits), "{path}: nodata");
}

#[test]
fn every_bigearthnet_band_decodes_as_gdal_reads_it() {
    let Some(dir) = fixture("bigearthnet") else { return };
    let mut seen = 0;
    for sensor in ["s2", "s1"] {
        for patch in std::fs::read_dir(dir.join(sensor)).expect("list") {
            for file in std::fs::read_dir(patch.expect("entry").path()).expect("list patch") {
                let path = file.expect("entry").path();
                if path.extension().is_some_and(|e| e == "tif") {
                    let p = path.display().to_string();
                    if sensor == "s2" {
                        same_as_gdal::<u16>(&p);
                    } else {
                        same_as_gdal::<f32>(&p);
                    }
                    seen += 1;
                }
            }
        }
    }
    assert!(seen >= 24 + 10, "only {seen} fixture bands found");
}

/// Writes `source` through `gdal_translate` with `args` (a crop, a type, creation options) to `dir/name.tif`.
fn translated(dir: &Path, name: &str, source: &Path, args: &[&str]) -> String {
    let out = dir.join(format!("{name}.tif")).display().to_string();
    let mut all = vec!["-q"];
    all.extend_from_slice(args);
    let src = source.display().to_string();
    all.push(&src);
    all.push(&out);
    gdal_tool("gdal_translate", &all);
    out
}

#[test]
fn layouts_gdal_writes_decode_as_gdal_reads_them() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // An odd crop so strips and tiles end part-way, nodata planted by the scene's own zeros.
    let crop = ["-srcwin", "300", "200", "157", "93"];
    let cases: &[(&str, &[&str])] = &[
        ("plain", &[]),
        ("strips7_lzw_pred", &["-co", "COMPRESS=LZW", "-co", "PREDICTOR=2", "-co", "BLOCKYSIZE=7"]),
        (
            "deflate_tiles",
            &["-co", "COMPRESS=DEFLATE", "-co", "TILED=YES", "-co", "BLOCKXSIZE=32", "-co", "BLOCKYSIZE=16"],
        ),
        (
            "lzw_tiles_pred",
            &[
                "-co",
                "COMPRESS=LZW",
                "-co",
                "PREDICTOR=2",
                "-co",
                "TILED=YES",
                "-co",
                "BLOCKXSIZE=16",
                "-co",
                "BLOCKYSIZE=16",
            ],
        ),
        ("big_endian_pred", &["-co", "ENDIANNESS=BIG", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=2"]),
        ("bigtiff", &["-co", "BIGTIFF=YES", "-co", "TILED=YES", "-co", "BLOCKXSIZE=64", "-co", "BLOCKYSIZE=64"]),
        ("nodata", &["-a_nodata", "0"]),
    ];
    for (name, args) in cases {
        let mut all = crop.to_vec();
        all.extend_from_slice(args);
        same_as_gdal::<u16>(&translated(dir.path(), name, &b04, &all));
    }
    // Other types, each with its predictor or byte order, and read into wider types (u8 into u16, i16 into f32).
    let typed = |name: &str, ty: &str, extra: &[&str]| {
        let mut all = crop.to_vec();
        all.extend_from_slice(&["-ot", ty, "-scale", "0", "4000", "-1000", "1000"]);
        all.extend_from_slice(extra);
        translated(dir.path(), name, &b04, &all)
    };
    same_as_gdal::<i16>(&typed("i16", "Int16", &["-co", "COMPRESS=LZW", "-co", "PREDICTOR=2", "-a_nodata", "-1000"]));
    same_as_gdal::<f32>(&typed("i16_as_f32", "Int16", &["-co", "ENDIANNESS=BIG"]));
    same_as_gdal::<i32>(&typed(
        "i32",
        "Int32",
        &["-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=2", "-co", "ENDIANNESS=BIG"],
    ));
    same_as_gdal::<f32>(&typed("f32", "Float32", &["-co", "COMPRESS=DEFLATE", "-a_nodata", "nan"]));
    same_as_gdal::<f64>(&typed("f64", "Float64", &["-co", "ENDIANNESS=BIG", "-co", "TILED=YES"]));
    let Some(cdl) = fixture("labels/cdl_2021_30m_kansas_1000.tif") else { return };
    let classes = translated(dir.path(), "cdl", &cdl, &["-srcwin", "10", "10", "120", "120", "-co", "COMPRESS=LZW"]);
    same_as_gdal::<u8>(&classes);
    same_as_gdal::<u16>(&classes);

    // Declined, not misread: floating-point predictor (GDAL reads it; so must the caller, through GDAL), a type
    // that does not fit, several samples per pixel.
    let f32_pred = typed("f32_pred", "Float32", &["-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=3"]);
    let declined = |path: &str| decode_geotiff::<f64>(&std::fs::read(path).expect("read"), path).expect("no error");
    assert!(declined(&f32_pred).is_none());
    let i16 = dir.path().join("i16.tif").display().to_string();
    assert!(decode_geotiff::<u16>(&std::fs::read(&i16).expect("read"), &i16).expect("no error").is_none());
    let Some(rgb) = fixture("landsat/RGB.byte.tif") else { return };
    let pixel_interleaved = translated(dir.path(), "rgb", &rgb, &["-co", "INTERLEAVE=PIXEL"]);
    assert!(declined(&pixel_interleaved).is_none());
    assert!(decode_geotiff::<u16>(b"not a tiff at all", "x").expect("no error").is_none());
}

#[test]
fn truncated_files_are_errors_naming_the_file() {
    let Some(dir) = fixture("bigearthnet/s2") else { return };
    let patch = std::fs::read_dir(dir).expect("list").next().expect("a patch").expect("entry").path();
    let name = patch.file_name().expect("name").to_string_lossy().into_owned();
    let bytes = std::fs::read(patch.join(format!("{name}_B02.tif"))).expect("read");
    let cut = &bytes[..bytes.len() / 2];
    let err = decode_geotiff::<u16>(cut, "s3://b/x_B02.tif").expect_err("truncated strips are an error");
    let message = err.to_string();
    assert!(message.contains("s3://b/x_B02.tif") && message.contains("past the end"), "{message}");
    let err = decode_geotiff::<u16>(&bytes[..60], "x.tif").expect_err("a cut IFD is an error");
    assert!(err.to_string().contains("x.tif"), "{err}");
}

/// Writes `values` as a one-band GeoTIFF of `size`² pixels of type T.
fn write_tiff<T: Pixel + gdal::raster::GdalType>(path: &Path, size: usize, values: &[T]) {
    let driver = DriverManager::get_driver_by_name("GTiff").expect("GTiff driver");
    let mut ds = driver.create_with_band_type::<T, _>(path, size, size, 1).expect("create");
    ds.set_geo_transform(&[600_000.0, 20.0, 0.0, 5_800_000.0, 0.0, -20.0]).expect("transform");
    let mut band = ds.rasterband(1).expect("band");
    let mut buffer = gdal::raster::Buffer::new((size, size), values.to_vec());
    band.write((0, 0), (size, size), &mut buffer).expect("write");
}

/// GDAL's bilinear read of the whole band onto a `factor`-times finer buffer.
fn gdal_bilinear<T: Pixel>(path: &str, factor: usize) -> Array2<T> {
    let raster = Raster::open(path).expect("open");
    let (w, h) = (raster.width(), raster.height());
    let out = raster
        .read_window_resampled::<T>(Window::full(w, h), (w * factor, h * factor), Some(&[1]), Resampling::Bilinear)
        .expect("bilinear read");
    out.index_axis(Axis(0), 0).to_owned()
}

fn check_upsample<T: Pixel>(path: &str, factor: usize) {
    let bytes = std::fs::read(path).expect("read");
    let band = decode_geotiff::<T>(&bytes, path).expect("decode").expect("accepted");
    let ours = upsample_bilinear(&band.pixels.view(), factor).expect("a reproduced type");
    let gdal = gdal_bilinear::<T>(path, factor);
    assert_eq!(ours.dim(), gdal.dim());
    let differ: Vec<_> = ours.indexed_iter().zip(gdal.iter()).filter(|((_, a), b)| a != b).take(5).collect();
    assert!(differ.is_empty(), "{path} x{factor}: first differences (ours, GDAL): {differ:?}");
}

#[test]
fn bilinear_upsampling_equals_gdal_bit_for_bit() {
    // The real 20 m and 60 m bands, onto the 10 m grid.
    if let Some(dir) = fixture("bigearthnet/s2") {
        for patch in std::fs::read_dir(dir).expect("list") {
            let patch = patch.expect("entry").path();
            let name = patch.file_name().expect("name").to_string_lossy().into_owned();
            for (band, factor) in [("B05", 2), ("B8A", 2), ("B12", 2), ("B01", 6), ("B09", 6)] {
                check_upsample::<u16>(&patch.join(format!("{name}_{band}.tif")).display().to_string(), factor);
            }
        }
    }
    // Random values over the whole range, and over a narrow one where rounding ties are frequent.
    let dir = tempfile::tempdir().expect("tempdir");
    for (size, factor) in [(60, 2), (20, 6), (13, 3), (7, 10)] {
        for (range, seed) in [(65_536u64, 1u64), (17, 2)] {
            let values: Vec<u16> =
                seeded_u64s(seed + size as u64, size * size).iter().map(|v| (v % range) as u16).collect();
            let path = dir.path().join(format!("u16_{size}_{range}.tif"));
            write_tiff(&path, size, &values);
            check_upsample::<u16>(&path.display().to_string(), factor);
        }
        let floats: Vec<f32> =
            seeded_u64s(size as u64, size * size).iter().map(|v| (*v >> 40) as f32 / 1000.0 - 5000.0).collect();
        let path = dir.path().join(format!("f32_{size}.tif"));
        write_tiff(&path, size, &floats);
        check_upsample::<f32>(&path.display().to_string(), factor);
    }
}
