//! Bad input gives a typed error naming the file, never a panic.

use std::path::Path;

use eoforge_raster::{Error, Raster, Window};
use eoforge_testkit::fixture;

fn open_err(path: &Path) -> Error {
    Raster::open(&path.display().to_string()).expect_err("must not open")
}

#[test]
fn missing_file_is_not_found() {
    let err = open_err(Path::new("/nonexistent/dir/scene.tif"));
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/dir/scene.tif"), "{err}");
}

#[test]
fn not_a_raster_is_an_open_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("labels.tif");
    std::fs::write(&text, "this is a text file, not a GeoTIFF\n").expect("write");
    let err = open_err(&text);
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("labels.tif"), "{err}");
    // A real JSON sidecar from the fixtures is not a raster either.
    let Some(json) = fixture("s2-l2a-29RKH/S2A_29RKH_20200219_0_L2A.json") else { return };
    let err = open_err(&json);
    assert!(err.to_string().contains("S2A_29RKH_20200219_0_L2A.json"), "{err}");
}

#[test]
fn truncated_tiff_fails_with_the_path() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let bytes = std::fs::read(&b04).expect("read fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, keep) in [("head-only.tif", 200usize), ("half.tif", bytes.len() / 2)] {
        let cut = dir.path().join(name);
        std::fs::write(&cut, &bytes[..keep]).expect("write truncated copy");
        // Either opening or reading the whole image must fail, naming the file.
        let outcome = Raster::open(&cut.display().to_string())
            .and_then(|r| r.read_window::<u16>(Window::full(r.width(), r.height()), None).map(|_| ()));
        let err = outcome.expect_err("a truncated file cannot be read completely");
        assert!(matches!(err, Error::Open { .. } | Error::Read { .. }), "{err:?}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn windows_outside_the_raster_are_rejected() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let raster = Raster::open(&b04.display().to_string()).expect("open");
    for window in [
        Window::new(1000, 0, 99, 10),
        Window::new(0, 1098, 1, 1),
        Window::new(5, 5, 0, 3),
        Window::new(usize::MAX, 0, 2, 2),
    ] {
        let err = raster.read_window::<u16>(window, None).expect_err("outside");
        assert!(matches!(err, Error::WindowOutOfBounds { .. }), "{err:?}");
        assert!(err.to_string().contains("B04.tif"), "{err}");
    }
    let err = raster.read_window::<u16>(Window::new(0, 0, 4, 4), Some(&[2])).expect_err("band 2");
    assert!(matches!(err, Error::BandOutOfRange { band: 2, count: 1, .. }), "{err:?}");
    let err = raster.read_window::<u16>(Window::new(0, 0, 4, 4), Some(&[0])).expect_err("band 0");
    assert!(matches!(err, Error::BandOutOfRange { .. }), "{err:?}");
}

#[test]
fn unsupported_and_lossy_dtypes_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("float64.tif");
    {
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").expect("GTiff");
        let ds = driver.create_with_band_type::<f64, _>(&path, 8, 8, 1).expect("create");
        let mut band = ds.rasterband(1).expect("band");
        let mut buf = gdal::raster::Buffer::new((8, 8), vec![1.5f64; 64]);
        band.write((0, 0), (8, 8), &mut buf).expect("write");
    }
    let raster = Raster::open(&path.display().to_string()).expect("a Float64 file opens");
    let values = raster.read_window::<f64>(Window::new(0, 0, 8, 8), None).expect("Float64 reads as f64");
    assert!(values.iter().all(|v| v.to_bits() == 1.5f64.to_bits()));
    let err = raster.read_window::<f32>(Window::new(0, 0, 8, 8), None).expect_err("Float64 does not fit in f32");
    assert!(matches!(err, Error::DtypeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("float64.tif") && err.to_string().contains("Float64"), "{err}");

    let path = dir.path().join("uint64.tif");
    {
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").expect("GTiff");
        driver.create_with_band_type::<u64, _>(&path, 8, 8, 1).expect("create");
    }
    let raster = Raster::open(&path.display().to_string()).expect("a UInt64 file opens");
    let err = raster.read_window::<f64>(Window::new(0, 0, 8, 8), None).expect_err("UInt64 is unsupported");
    assert!(matches!(err, Error::UnsupportedDtype { .. }), "{err:?}");
    assert!(err.to_string().contains("uint64.tif") && err.to_string().contains("UInt64"), "{err}");

    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let raster = Raster::open(&b04.display().to_string()).expect("open");
    let err = raster.read_window::<u8>(Window::new(0, 0, 8, 8), None).expect_err("UInt16 does not fit in u8");
    assert!(matches!(err, Error::DtypeMismatch { .. }), "{err:?}");
    let err = raster.read_window::<i16>(Window::new(0, 0, 8, 8), None).expect_err("UInt16 does not fit in i16");
    assert!(err.to_string().contains("B04.tif") && err.to_string().contains("UInt16"), "{err}");
}

#[test]
fn gdal_subdataset_syntax_is_accepted() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let raster = Raster::open(&format!("GTIFF_DIR:1:{}", b04.display())).expect("GTIFF_DIR syntax");
    assert_eq!((raster.width(), raster.height()), (1098, 1098));
    let dir = tempfile::tempdir().expect("tempdir");
    let nc = dir.path().join("b04.nc");
    eoforge_testkit::gdal_tool(
        "gdal_translate",
        &["-q", "-of", "netCDF", b04.to_str().expect("utf-8"), nc.to_str().expect("utf-8")],
    );
    let raster = Raster::open(&format!("NETCDF:\"{}\":Band1", nc.display())).expect("NETCDF syntax");
    let window = Window::new(100, 100, 16, 16);
    let original = Raster::open(&b04.display().to_string()).expect("open");
    assert_eq!(
        raster.read_window::<u16>(window, None).expect("read"),
        original.read_window::<u16>(window, None).expect("read")
    );
    let missing = format!("NETCDF:\"{}\":Band1", dir.path().join("missing.nc").display());
    let err = Raster::open(&missing).expect_err("missing file");
    assert!(matches!(err, Error::NotFound { .. }) && err.to_string().contains("missing.nc"), "{err}");
}
