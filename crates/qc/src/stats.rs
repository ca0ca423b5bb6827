//! Band statistics for QC, computed block row by block row (memory stays at one row of blocks).

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

/// Running statistics of one band.
struct Acc {
    stats: BandStats,
    nodata: Option<f64>,
    n: u64,
    mean: f64,
    m2: f64,
    /// Exact histogram of integer values (offset by 32,768) or of the top 16 bits of float values.
    histogram: Vec<u64>,
    integer: bool,
}

impl Acc {
    fn push(&mut self, v: f64) {
        self.stats.pixels += 1;
        if v.is_nan() || Some(v) == self.nodata {
            self.stats.nodata += 1;
            return;
        }
        if v == 0.0 {
            self.stats.zeros += 1;
        }
        self.n += 1;
        let delta = v - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (v - self.mean);
        self.stats.min = self.stats.min.min(v);
        self.stats.max = self.stats.max.max(v);
        let bin = if self.integer { (v as i64 + 32_768) as usize } else { ((v as f32).to_bits() >> 16) as usize };
        let last = self.histogram.len() - 1;
        self.histogram[bin.min(last)] += 1;
    }

    fn finish(mut self) -> BandStats {
        if self.n == 0 {
            self.stats.min = 0.0;
            self.stats.max = 0.0;
        }
        self.stats.mean = self.mean;
        self.stats.std = if self.n == 0 { 0.0 } else { (self.m2 / self.n as f64).sqrt() };
        let n = self.n as f64;
        self.stats.entropy = self
            .histogram
            .iter()
            .filter(|c| **c > 0)
            .map(|&c| c as f64 / n)
            .map(|p| -p * p.log2())
            .sum::<f64>()
            .max(0.0);
        self.stats
    }
}

/// Scans every band of `raster` at full resolution, one strip of block rows at a time (all bands per read, so
/// pixel-interleaved tiles are decompressed once).
pub fn band_stats(raster: &Raster) -> Result<Vec<BandStats>> {
    let (width, height) = (raster.width(), raster.height());
    let rows_per_read = raster.info()?.bands.first().map_or(256, |b| b.block_size[1].clamp(1, 1024));
    let mut accs = Vec::with_capacity(raster.band_count());
    for band in 1..=raster.band_count() {
        let integer = raster.dtype(band)? != eoforge_raster::DataType::Float32;
        accs.push(Acc {
            stats: BandStats { band, min: f64::INFINITY, max: f64::NEG_INFINITY, ..BandStats::default() },
            nodata: raster.nodata(band)?,
            n: 0,
            mean: 0.0,
            m2: 0.0,
            histogram: vec![0; if integer { 98_304 } else { 65_536 }],
            integer,
        });
    }
    let mut row = 0;
    while row < height {
        let rows = rows_per_read.min(height - row);
        let strip = raster.read_window::<f32>(Window::new(0, row, width, rows), None)?;
        for (acc, plane) in accs.iter_mut().zip(strip.outer_iter()) {
            for &v in &plane {
                acc.push(f64::from(v));
            }
        }
        row += rows;
    }
    Ok(accs.into_iter().map(Acc::finish).collect())
}
