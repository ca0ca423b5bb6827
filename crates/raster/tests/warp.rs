//! `Raster::warp_onto` on the real 29RKH scene (EPSG:32629): aligned grids give the pixels exactly, uncovered
//! pixels get the fill, and a grid in the neighbouring zone equals what GDAL's own `gdalwarp` writes.

use eoforge_raster::{Crs, GeoTransform, Grid, Raster, Resampling, Window};
use eoforge_testkit::{fixture, gdal_tool};
use ndarray::s;

#[test]
fn an_aligned_grid_in_the_same_crs_reads_the_pixels_and_fills_what_is_outside() {
    let Some(path) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let raster = Raster::open(&path.display().to_string()).expect("open");
    let crs = raster.crs().expect("crs");
    let g = raster.geo_transform().expect("transform").0;
    // Five columns west of the scene, then 45 inside; rows 20..60.
    let grid =
        Grid { width: 50, height: 40, transform: GeoTransform::north_up(g[0] - 500.0, g[3] - 2000.0, 100.0, 100.0) };
    let warped = raster.warp_onto::<u16>(&grid, &crs, None, Resampling::Nearest, 0.0).expect("warp");
    let direct = raster.read_window::<u16>(Window { col: 0, row: 20, width: 45, height: 40 }, None).expect("read");
    assert!(warped.slice(s![.., .., ..5]).iter().all(|v| *v == 0), "outside the scene: the fill");
    assert_eq!(warped.slice(s![.., .., 5..]), direct, "inside: the pixels themselves");
}

#[test]
fn a_grid_in_another_zone_equals_gdalwarp() {
    let Some(path) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let raster = Raster::open(&path.display().to_string()).expect("open");
    let zone28 = Crs::from_epsg(32_628).expect("crs");
    // 20 km × 16 km at 200 m in zone 28, over the scene's western edge.
    let (x0, y0, res) = (796_000.0, 2_760_000.0, 200.0);
    let grid = Grid { width: 100, height: 80, transform: GeoTransform::north_up(x0, y0, res, res) };
    let warped = raster.warp_onto::<u16>(&grid, &zone28, None, Resampling::Nearest, 0.0).expect("warp");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("gdalwarp.tif");
    // `-ovr NONE`: warp_onto reads the full-resolution bands; gdalwarp would pick the fixture's 2x overview here.
    let te = [x0, y0 - 80.0 * res, x0 + 100.0 * res, y0].map(|v| v.to_string());
    gdal_tool(
        "gdalwarp",
        &[
            "-q",
            "-t_srs",
            "EPSG:32628",
            "-te",
            &te[0],
            &te[1],
            &te[2],
            &te[3],
            "-ts",
            "100",
            "80",
            "-r",
            "near",
            "-ovr",
            "NONE",
            "-dstnodata",
            "0",
            path.to_str().expect("utf-8"),
            out.to_str().expect("utf-8"),
        ],
    );
    let oracle = Raster::open(&out.display().to_string())
        .expect("open")
        .read_window::<u16>(Window::full(100, 80), None)
        .expect("read");
    let covered = warped.iter().filter(|v| **v != 0).count();
    assert!(covered > 1000 && covered < 8000, "the grid straddles the scene's edge: {covered} covered pixels");
    let differ = warped.iter().zip(oracle.iter()).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{differ} of {} pixels differ from gdalwarp's", warped.len());
}

#[test]
fn an_ungeoreferenced_raster_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.tif");
    let Some(src) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    gdal_tool(
        "gdal_translate",
        &["-q", "-srcwin", "0", "0", "10", "10", src.to_str().expect("utf-8"), plain.to_str().expect("utf-8")],
    );
    gdal_tool("gdal_edit.py", &["-unsetgt", "-a_srs", "", plain.to_str().expect("utf-8")]);
    let raster = Raster::open(&plain.display().to_string()).expect("open");
    let grid = Grid { width: 4, height: 4, transform: GeoTransform::north_up(0.0, 0.0, 1.0, 1.0) };
    let err = raster
        .warp_onto::<u16>(&grid, &Crs::from_epsg(32_629).expect("crs"), None, Resampling::Nearest, 0.0)
        .expect_err("refused");
    assert!(err.to_string().contains("plain.tif") && err.to_string().contains("not georeferenced"), "{err}");
}
