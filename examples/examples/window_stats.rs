//! Read a window of a raster (local or s3://) and print per-band statistics.
//!
//! `cargo run -p eoforge-examples --example window_stats -- ../shared/fixtures/s2-l2a-29RKH/B04.tif 0 0 256 256`
#![allow(clippy::print_stdout)] // an example's output is its point

use anyhow::Context;
use eoforge_raster::{Raster, Window};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [location, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: window_stats RASTER [COL ROW WIDTH HEIGHT]");
    };
    let raster = Raster::open(location)?;
    let numbers: Vec<usize> =
        rest.iter().map(|v| v.parse().with_context(|| format!("not a number: {v}"))).collect::<Result<_, _>>()?;
    let window = match numbers.as_slice() {
        [col, row, width, height] => Window::new(*col, *row, *width, *height),
        [] => Window::full(raster.width(), raster.height()),
        _ => anyhow::bail!("give all four of COL ROW WIDTH HEIGHT, or none"),
    };
    let data = raster.read_window::<f32>(window, None)?;
    for (i, band) in data.outer_iter().enumerate() {
        let nodata = raster.nodata(i + 1)?.map(|v| v as f32);
        let valid: Vec<f32> = band.iter().copied().filter(|v| Some(*v) != nodata).collect();
        let mean = valid.iter().map(|&v| f64::from(v)).sum::<f64>() / valid.len().max(1) as f64;
        let (lo, hi) = valid.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        println!("band {}: {} valid of {}, mean {mean:.2}, min {lo}, max {hi}", i + 1, valid.len(), band.len());
    }
    Ok(())
}
