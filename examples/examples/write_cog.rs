//! Derive a product from a raster window by window and stream it into a Cloud-Optimized GeoTIFF.
//!
//! Reads the red and near-infrared bands of SOURCE (a path, `file://` or `s3://` URL) one output tile at a time,
//! computes NDVI with [`eoforge_raster::normalized_difference`] (Float32, NaN where a band is nodata or the
//! index is undefined) and hands each tile to the streaming [`CogWriter`]: tiles may come in any order, overviews
//! are reduced while the tiles stream, and nothing larger than a few tiles is held in memory. The COG keeps the
//! source's CRS and geotransform; its layout is then checked with [`check_cog`] and printed.
//!
//! RED_BAND and NIR_BAND are 1-based and default to 3 and 4: a Sentinel-2 stack of B02, B03, B04 and B08, such as
//! the fixture scene's bands stacked with
//! `F=../shared/fixtures/s2-l2a-29RKH; gdalbuildvrt -separate stack.vrt $F/B02.tif $F/B03.tif $F/B04.tif $F/B08.tif`.
//!
//! `cargo run -p eoforge-examples --example write_cog -- stack.vrt ndvi.tif 3 4`
#![allow(clippy::print_stdout)] // an example's output is its point

use std::path::Path;

use anyhow::Context;
use eoforge_raster::{CogWriter, CogWriterOptions, Raster, RasterSpec, Window, check_cog, normalized_difference};
use ndarray::{Array3, Zip};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (source, dest, red, nir) = match args.as_slice() {
        [source, dest] => (source, dest, 3, 4),
        [source, dest, red, nir] => (source, dest, band_number(red)?, band_number(nir)?),
        _ => anyhow::bail!("usage: write_cog SOURCE DEST [RED_BAND NIR_BAND]"),
    };
    let dest = Path::new(dest);
    let raster = Raster::open(source).with_context(|| format!("opening {source}"))?;
    for band in [red, nir] {
        anyhow::ensure!(band <= raster.band_count(), "{source} has {} bands, not {band}", raster.band_count());
    }
    let nodata = [raster.nodata(red)?, raster.nodata(nir)?];

    // The product's grid is the source's: same size, CRS and geotransform; one Float32 band with NaN as nodata.
    let spec = RasterSpec {
        width: raster.width(),
        height: raster.height(),
        bands: 1,
        geo_transform: raster.geo_transform(),
        crs: raster.crs(),
        nodata: Some(f64::NAN),
        band_descriptions: vec!["NDVI".into()],
        ..RasterSpec::default()
    };
    let options = CogWriterOptions::default();
    let mut writer =
        CogWriter::<f32>::create(dest, &spec, &options).with_context(|| format!("creating {}", dest.display()))?;
    let (tiles_x, tiles_y) = writer.blocks();
    let bs = options.block_size;

    // One source window per output tile. Any order works; column by column, top to bottom, completes the
    // overview tiles above each column soon, so they leave memory early.
    for bx in 0..tiles_x {
        for by in 0..tiles_y {
            let (col, row) = (bx * bs, by * bs);
            let window = Window::new(col, row, bs.min(spec.width - col), bs.min(spec.height - row));
            let bands = raster
                .read_window::<f64>(window, Some(&[red, nir]))
                .with_context(|| format!("reading window {window} of {source}"))?;
            let ndvi = ndvi(&bands, nodata);
            writer.write_block(bx, by, ndvi.view()).with_context(|| format!("writing tile {bx},{by}"))?;
        }
    }
    let overviews = writer.overview_count();
    writer.finish().with_context(|| format!("finishing {}", dest.display()))?;
    println!(
        "wrote {} ({}x{} NDVI from bands {red} and {nir} of {source}, {tiles_x}x{tiles_y} tiles, {overviews} overviews)",
        dest.display(),
        spec.width,
        spec.height
    );

    let report = check_cog(dest).with_context(|| format!("checking {}", dest.display()))?;
    println!("COG layout of {}:", report.path.display());
    println!("  tiles {}x{}, {} overviews", report.block_size[0], report.block_size[1], report.overview_count);
    println!("  IFD offsets  {:?}", report.ifd_offsets);
    println!("  data offsets {:?}", report.data_offsets);
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
    for error in &report.errors {
        println!("  error: {error}");
    }
    anyhow::ensure!(report.is_valid(), "{} is not a valid COG", dest.display());
    println!("  valid COG");
    Ok(())
}

/// A 1-based band number.
fn band_number(text: &str) -> anyhow::Result<usize> {
    let band: usize = text.parse().with_context(|| format!("not a band number: {text}"))?;
    anyhow::ensure!(band >= 1, "bands are numbered from 1");
    Ok(band)
}

/// NDVI `(nir − red) / (nir + red)` of a `(2, rows, cols)` red + NIR window as `(1, rows, cols)`; NaN where either
/// band holds its nodata value or the index is undefined.
fn ndvi(bands: &Array3<f64>, nodata: [Option<f64>; 2]) -> Array3<f32> {
    let (_, rows, cols) = bands.dim();
    let mut out = Array3::<f32>::zeros((1, rows, cols));
    let is_nodata = |v: f64, nd: Option<f64>| nd.is_some_and(|nd| (v - nd).abs() < f64::EPSILON);
    Zip::from(out.index_axis_mut(ndarray::Axis(0), 0))
        .and(bands.index_axis(ndarray::Axis(0), 0))
        .and(bands.index_axis(ndarray::Axis(0), 1))
        .for_each(|out, &red, &nir| {
            *out = if is_nodata(red, nodata[0]) || is_nodata(nir, nodata[1]) {
                f32::NAN
            } else {
                normalized_difference(nir, red)
            };
        });
    out
}
