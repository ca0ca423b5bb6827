//! Storage layouts GDAL reads but that are easy to misread: rasters stored bottom-up (a positive pixel height,
//! first row the southernmost, as one public mirror of AlphaEarth Foundations embeddings stores them) and signed
//! bytes (GDAL 3.6 has no Int8: a Byte band with `PIXELTYPE=SIGNEDBYTE`, −128 as nodata). Every read must return
//! the north-up pixels of the same ground, with signed values; the oracles are the arrays written and GDAL's own
//! warp of the bottom-up file to north-up.
#![allow(clippy::float_cmp)]

use std::path::Path;

use eoforge_raster::{CogWriterOptions, DataType, Grid, Raster, Resampling, Window, translate_to_cog};
use eoforge_storage::StoreOptions;
use eoforge_testkit::gdal_tool;
use gdal::raster::{Buffer, RasterCreationOptions};

const WIDTH: usize = 37;
const HEIGHT: usize = 23;
const BANDS: usize = 3;

/// A distinct signed value per (band, north-up row, col), −128 (nodata) in a corner of band 1.
fn value(band: usize, row: usize, col: usize) -> i8 {
    if band == 0 && row < 2 && col < 3 {
        return -128;
    }
    (((band * 53 + row * 11 + col * 7) % 255) as i32 - 127) as i8
}

/// Writes the test scene: north-up, or bottom-up (rows stored south first, positive pixel height), signed bytes or
/// Int16 of the same values.
fn write(path: &Path, bottom_up: bool, signed_bytes: bool) {
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").expect("GTiff");
    let options: RasterCreationOptions = if signed_bytes {
        ["PIXELTYPE=SIGNEDBYTE", "TILED=NO"].into_iter().collect()
    } else {
        RasterCreationOptions::new()
    };
    let mut dataset = if signed_bytes {
        driver.create_with_band_type_with_options::<u8, _>(path, WIDTH, HEIGHT, BANDS, &options)
    } else {
        driver.create_with_band_type_with_options::<i16, _>(path, WIDTH, HEIGHT, BANDS, &options)
    }
    .expect("create");
    let transform = if bottom_up {
        [500_000.0, 10.0, 0.0, 4_000_000.0, 0.0, 10.0]
    } else {
        [500_000.0, 10.0, 0.0, 4_000_000.0 + 10.0 * HEIGHT as f64, 0.0, -10.0]
    };
    dataset.set_geo_transform(&transform).expect("transform");
    dataset.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).expect("srs")).expect("set crs");
    for band in 0..BANDS {
        let stored_row = |r: usize| if bottom_up { HEIGHT - 1 - r } else { r };
        let mut b = dataset.rasterband(band + 1).expect("band");
        b.set_no_data_value(Some(-128.0)).expect("nodata");
        if signed_bytes {
            let mut data = vec![0u8; WIDTH * HEIGHT];
            for r in 0..HEIGHT {
                for c in 0..WIDTH {
                    data[stored_row(r) * WIDTH + c] = value(band, r, c).to_ne_bytes()[0];
                }
            }
            let mut buffer = Buffer::new((WIDTH, HEIGHT), data);
            b.write((0, 0), (WIDTH, HEIGHT), &mut buffer).expect("write");
        } else {
            let mut data = vec![0i16; WIDTH * HEIGHT];
            for r in 0..HEIGHT {
                for c in 0..WIDTH {
                    data[stored_row(r) * WIDTH + c] = i16::from(value(band, r, c));
                }
            }
            let mut buffer = Buffer::new((WIDTH, HEIGHT), data);
            b.write((0, 0), (WIDTH, HEIGHT), &mut buffer).expect("write");
        }
    }
}

fn expected(window: Window) -> Vec<f32> {
    let mut out = Vec::new();
    for band in 0..BANDS {
        for r in window.row..window.row + window.height {
            for c in window.col..window.col + window.width {
                out.push(f32::from(value(band, r, c)));
            }
        }
    }
    out
}

#[test]
fn bottom_up_and_signed_byte_rasters_read_as_their_north_up_signed_values() {
    let dir = tempfile::tempdir().expect("tmp");
    let north = dir.path().join("north.tif");
    write(&north, false, false);
    let north = Raster::open(&north.display().to_string()).expect("open");
    let windows = [Window::new(0, 0, WIDTH, HEIGHT), Window::new(3, 2, 11, 7), Window::new(30, 16, 7, 7)];
    for (bottom_up, signed_bytes) in [(true, false), (false, true), (true, true)] {
        let case = format!("bottom-up {bottom_up}, signed bytes {signed_bytes}");
        let path = dir.path().join(format!("scene_{bottom_up}_{signed_bytes}.tif"));
        write(&path, bottom_up, signed_bytes);
        let raster = Raster::open(&path.display().to_string()).expect("open");
        assert_eq!(raster.is_bottom_up(), bottom_up, "{case}");
        assert_eq!(raster.geo_transform(), north.geo_transform(), "{case}: presented north-up");
        assert_eq!(raster.dtype(1).expect("dtype"), if signed_bytes { DataType::Int8 } else { DataType::Int16 });
        assert_eq!(raster.nodata(1).expect("nodata"), Some(-128.0), "{case}");
        for window in windows {
            let read = raster.read_window::<f32>(window, None).expect("read");
            assert_eq!(read.iter().copied().collect::<Vec<_>>(), expected(window), "{case}: window {window}");
            // Pixel-interleaved reads (the COG writer's) agree.
            let mut interleaved = vec![0i16; window.width * window.height * BANDS];
            raster.read_window_interleaved::<i16>(window, window.width * BANDS, &mut interleaved).expect("interleaved");
            let planar: Vec<f32> = (0..BANDS)
                .flat_map(|b| interleaved.iter().skip(b).step_by(BANDS).map(|v| f32::from(*v)).collect::<Vec<_>>())
                .collect();
            assert_eq!(planar, expected(window), "{case}: interleaved window {window}");
        }
        // Reads onto a grid (labels onto a scene) and the warper (area pipelines) place the same ground.
        let transform = north.geo_transform().expect("transform");
        let grid = Grid::of_window(&transform, Window::new(5, 4, 9, 6));
        let onto = raster.read_onto_grid::<f32>(&grid, None, Resampling::Nearest).expect("onto grid");
        assert_eq!(onto.iter().copied().collect::<Vec<_>>(), expected(Window::new(5, 4, 9, 6)), "{case}: onto grid");
        let crs = north.crs().expect("crs");
        let warped = raster.warp_onto::<f32>(&grid, &crs, None, Resampling::Nearest, f64::NAN).expect("warp");
        assert_eq!(warped.iter().copied().collect::<Vec<_>>(), expected(Window::new(5, 4, 9, 6)), "{case}: warped");
        let aoi = grid.bounds();
        assert_eq!(raster.window_for(&aoi, &crs).expect("window"), Window::new(5, 4, 9, 6), "{case}: window_for");
        if signed_bytes {
            let err = raster.read_window_resampled::<f32>(Window::new(0, 0, 8, 8), (4, 4), None, Resampling::Average);
            assert!(err.expect_err("averaging bytes").to_string().contains("signed bytes"), "{case}");
        }
        // A COG of it is north-up, in GDAL's own reading, with the values (signed bytes widened to Int16).
        let cog = dir.path().join(format!("cog_{bottom_up}_{signed_bytes}.tif"));
        translate_to_cog(&path.display().to_string(), &StoreOptions::default(), &cog, &CogWriterOptions::default())
            .expect("cog");
        let back = Raster::open(&cog.display().to_string()).expect("open cog");
        assert!(!back.is_bottom_up(), "{case}: the COG is stored north-up");
        assert_eq!(back.geo_transform(), north.geo_transform(), "{case}");
        assert_eq!(back.dtype(1).expect("dtype"), DataType::Int16, "{case}");
        assert_eq!(back.nodata(1).expect("nodata"), Some(-128.0), "{case}");
        let all = Window::new(0, 0, WIDTH, HEIGHT);
        assert_eq!(
            back.read_window::<f32>(all, None).expect("read").iter().copied().collect::<Vec<_>>(),
            expected(all)
        );
    }
}

#[test]
fn gdal_warping_a_bottom_up_raster_north_up_agrees_with_our_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    let bottom = dir.path().join("bottom.tif");
    write(&bottom, true, false);
    let warped = dir.path().join("warped.tif");
    // GDAL's own north-up rendering of the same ground, pixel for pixel.
    gdal_tool(
        "gdalwarp",
        &["-q", "-r", "near", "-tr", "10", "10", &bottom.display().to_string(), &warped.display().to_string()],
    );
    let ours = Raster::open(&bottom.display().to_string()).expect("open");
    let gdal = Raster::open(&warped.display().to_string()).expect("open warped");
    assert!(!gdal.is_bottom_up());
    assert_eq!(ours.geo_transform(), gdal.geo_transform());
    let all = Window::new(0, 0, WIDTH, HEIGHT);
    assert_eq!(ours.read_window::<i16>(all, None).expect("ours"), gdal.read_window::<i16>(all, None).expect("gdal"));
}
