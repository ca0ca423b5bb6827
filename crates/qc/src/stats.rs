//! Band statistics for QC, computed block row by block row (memory stays at one row of blocks).

use std::collections::HashMap;

use eoforge_raster::{Raster, Window};

use crate::error::Result;

/// What QC knows about one band's values.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct BandStats {
    /// 1-based band index.
    pub band: usize,
    /// Pixels.
    pub pixels: u64,
    /// Pixels equal to nodata (or NaN).
    pub nodata: u64,
    /// Valid pixels equal to 0.
    pub zeros: u64,
    /// Mean of valid pixels.
    pub mean: f64,
    /// Standard deviation of valid pixels.
    pub std: f64,
    /// Minimum valid value.
    pub min: f64,
    /// Maximum valid value.
    pub max: f64,
    /// Shannon entropy (bits) of the valid values' histogram (integer values exactly; floats by their top 16 bits).
    pub entropy: f64,
}

impl BandStats {
    /// Share of nodata pixels.
    pub fn nodata_fraction(&self) -> f64 {
        if self.pixels == 0 { 1.0 } else { self.nodata as f64 / self.pixels as f64 }
    }
}

/// Scans every band of `raster` at full resolution.
pub fn band_stats(raster: &Raster) -> Result<Vec<BandStats>> {
    let (width, height) = (raster.width(), raster.height());
    let rows_per_read = raster.info()?.bands.first().map_or(256, |b| b.block_size[1].clamp(1, 1024));
    let mut out = Vec::with_capacity(raster.band_count());
    for band in 1..=raster.band_count() {
        let nodata = raster.nodata(band)?;
        let integer = raster.dtype(band)? != eoforge_raster::DataType::Float32;
        let (mut n, mut mean, mut m2) = (0u64, 0.0f64, 0.0f64);
        let mut stats = BandStats { band, min: f64::INFINITY, max: f64::NEG_INFINITY, ..BandStats::default() };
        let mut histogram: HashMap<i64, u64> = HashMap::new();
        let mut row = 0;
        while row < height {
            let rows = rows_per_read.min(height - row);
            let block = raster.read_window::<f32>(Window::new(0, row, width, rows), Some(&[band]))?;
            for &v in &block {
                let v = f64::from(v);
                stats.pixels += 1;
                if v.is_nan() || Some(v) == nodata {
                    stats.nodata += 1;
                    continue;
                }
                if v == 0.0 {
                    stats.zeros += 1;
                }
                n += 1;
                let delta = v - mean;
                mean += delta / n as f64;
                m2 += delta * (v - mean);
                stats.min = stats.min.min(v);
                stats.max = stats.max.max(v);
                let key = if integer { v as i64 } else { i64::from((v as f32).to_bits() >> 16) };
                *histogram.entry(key).or_default() += 1;
            }
            row += rows;
        }
        if n == 0 {
            stats.min = 0.0;
            stats.max = 0.0;
        }
        stats.mean = mean;
        stats.std = if n == 0 { 0.0 } else { (m2 / n as f64).sqrt() };
        stats.entropy = histogram.values().map(|&c| c as f64 / n as f64).map(|p| -p * p.log2()).sum::<f64>().max(0.0);
        out.push(stats);
    }
    Ok(out)
}
