//! Single-band rasters stacked into one scene: named bands with their nodata/scale, the finest grid, one CRS.

use eoforge_raster::{Raster, StackBand, Window, stack_bands};
use eoforge_storage::StoreOptions;
use eoforge_testkit::{fixture, gdal_tool};

fn band(location: &std::path::Path, name: &str) -> StackBand {
    StackBand {
        location: location.display().to_string(),
        name: name.into(),
        nodata: Some(0.0),
        scale: Some(1e-4),
        offset: None,
    }
}

#[test]
fn bands_stack_on_the_finest_grid_and_another_crs_is_refused() {
    let (Some(b04), Some(b11)) = (fixture("s2-l2a-29RKH/B04.tif"), fixture("s2-l2a-29RKH/B11.tif")) else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let vrt = dir.path().join("stack.vrt");
    // The 20 m band first: the grid is still the 10 m one.
    stack_bands(&[band(&b11, "swir16"), band(&b04, "red")], &vrt, &StoreOptions::default()).expect("stack");
    let stack = Raster::open(&vrt.display().to_string()).expect("open");
    let red = Raster::open(&b04.display().to_string()).expect("B04");
    assert_eq!((stack.width(), stack.height(), stack.band_count()), (red.width(), red.height(), 2));
    assert_eq!(stack.geo_transform(), red.geo_transform());
    assert_eq!(stack.band_description(1).expect("name"), "swir16");
    assert_eq!(stack.metadata().expect("meta").bands[1].scale, Some(1e-4));
    let w = Window { col: 100, row: 100, width: 50, height: 40 };
    let a: ndarray::Array3<u16> = stack.read_window(w, Some(&[2])).expect("read");
    assert_eq!(a, red.read_window::<u16>(w, None).expect("read"));
    // Nearest-neighbour: each 20 m value covers 2 x 2 pixels of the stack (GDAL's own read of B11 at 10 m).
    let swir: ndarray::Array3<u16> =
        stack.read_window(Window { col: 0, row: 0, width: 4, height: 4 }, Some(&[1])).expect("read");
    assert_eq!(swir[(0, 0, 0)], swir[(0, 1, 1)]);

    let lonlat = dir.path().join("b04-4326.tif");
    gdal_tool(
        "gdalwarp",
        &["-q", "-t_srs", "EPSG:4326", b04.to_str().expect("utf-8"), lonlat.to_str().expect("utf-8")],
    );
    let err =
        stack_bands(&[band(&b04, "red"), band(&lonlat, "red2")], &dir.path().join("bad.vrt"), &StoreOptions::default())
            .expect_err("two CRSs");
    assert!(err.to_string().contains("b04-4326.tif") && err.to_string().contains("EPSG:4326"), "{err}");
    let missing = dir.path().join("missing.tif");
    let err =
        stack_bands(&[band(&missing, "x")], &dir.path().join("m.vrt"), &StoreOptions::default()).expect_err("missing");
    assert!(err.to_string().contains("missing.tif"), "{err}");
}
