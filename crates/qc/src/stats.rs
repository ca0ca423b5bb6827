//! Band statistics for QC, computed block row by block row on every core (memory stays at a row of blocks per
//! thread plus one histogram per band and thread).

use eoforge_raster::{DataType, Pixel, Raster, Window};

use crate::error::{Error, Result};

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
    /// Valid pixels per value, for 8- and 16-bit integer bands with at most 1,024 distinct values (class maps);
    /// `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_counts: Option<Vec<(i64, u64)>>,
}

impl BandStats {
    /// Share of nodata pixels.
    pub fn nodata_fraction(&self) -> f64 {
        if self.pixels == 0 { 1.0 } else { self.nodata as f64 / self.pixels as f64 }
    }
}

/// Running statistics of one band over part of the raster; parts merge exactly.
#[derive(Clone)]
struct Acc {
    pixels: u64,
    nodata: u64,
    /// Integer data: exact count per value (offset by 32,768). Floats: count per top 16 bits of the value.
    histogram: Vec<u64>,
    /// Floats only (integers derive everything from the histogram): valid count, zeros, sum, sum of squares
    /// about `shift` (the first value seen, against cancellation), min, max.
    n: u64,
    zeros: u64,
    shift: Option<f64>,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Acc {
    fn new(integer: bool) -> Self {
        Self {
            pixels: 0,
            nodata: 0,
            histogram: vec![0; if integer { 98_304 } else { 65_536 }],
            n: 0,
            zeros: 0,
            shift: None,
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn push_integers<T: Pixel>(&mut self, values: impl Iterator<Item = T>) {
        for v in values {
            self.histogram[(v.to_i64() + 32_768) as usize] += 1;
            self.pixels += 1;
        }
    }

    /// UInt8 samples into four interleaved counters: a run of one value (class maps, masks) would otherwise
    /// serialize every increment on one counter.
    fn push_bytes<T: Pixel>(&mut self, values: &[T]) {
        let mut parts = [[0u64; 256]; 4];
        let chunks = values.chunks_exact(4);
        let tail = chunks.remainder();
        for c in chunks {
            parts[0][(c[0].to_i64() & 255) as usize] += 1;
            parts[1][(c[1].to_i64() & 255) as usize] += 1;
            parts[2][(c[2].to_i64() & 255) as usize] += 1;
            parts[3][(c[3].to_i64() & 255) as usize] += 1;
        }
        for v in tail {
            parts[0][(v.to_i64() & 255) as usize] += 1;
        }
        for (value, slot) in self.histogram[32_768..32_768 + 256].iter_mut().enumerate() {
            *slot += parts.iter().map(|p| p[value]).sum::<u64>();
        }
        self.pixels += values.len() as u64;
    }

    /// Values of any other type (floats, 32-bit integers), compared with nodata in their own type.
    fn push_values<T: Pixel>(&mut self, values: impl Iterator<Item = T>, nodata: Option<T>) {
        for v in values {
            self.pixels += 1;
            if v.is_nan() || Some(v) == nodata {
                self.nodata += 1;
                continue;
            }
            let x = v.to_f64();
            let shift = *self.shift.get_or_insert(x);
            self.n += 1;
            self.zeros += u64::from(x == 0.0);
            self.sum += x - shift;
            self.sum_sq += (x - shift) * (x - shift);
            self.min = self.min.min(x);
            self.max = self.max.max(x);
            self.histogram[((x as f32).to_bits() >> 16) as usize] += 1;
        }
    }

    fn merge(&mut self, other: &Self) {
        self.pixels += other.pixels;
        self.nodata += other.nodata;
        for (a, b) in self.histogram.iter_mut().zip(&other.histogram) {
            *a += b;
        }
        if other.n > 0 {
            // Re-centre the other part's sums on this part's shift.
            let shift = *self.shift.get_or_insert(other.shift.unwrap_or(0.0));
            let d = other.shift.unwrap_or(0.0) - shift;
            let n = other.n as f64;
            self.sum_sq += other.sum_sq + 2.0 * d * other.sum + n * d * d;
            self.sum += other.sum + n * d;
            self.n += other.n;
            self.zeros += other.zeros;
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
    }

    fn finish(mut self, band: usize, integer: bool, nodata: Option<f64>) -> BandStats {
        let mut stats = BandStats { band, pixels: self.pixels, ..BandStats::default() };
        if integer {
            // Everything from the exact histogram.
            if let Some(nd) = nodata.filter(|v| v.fract() == 0.0 && (-32_768.0..65_536.0).contains(v)) {
                let bin = (nd as i64 + 32_768) as usize;
                self.nodata = self.histogram[bin];
                self.histogram[bin] = 0;
            }
            stats.nodata = self.nodata;
            let value = |bin: usize| bin as f64 - 32_768.0;
            let n: u64 = self.histogram.iter().sum();
            stats.zeros = self.histogram[32_768];
            if n > 0 {
                let mean = self.histogram.iter().enumerate().map(|(i, &c)| value(i) * c as f64).sum::<f64>() / n as f64;
                let var =
                    self.histogram.iter().enumerate().map(|(i, &c)| (value(i) - mean).powi(2) * c as f64).sum::<f64>()
                        / n as f64;
                stats.mean = mean;
                stats.std = var.sqrt();
                stats.min = self.histogram.iter().position(|&c| c > 0).map_or(0.0, value);
                stats.max = self.histogram.iter().rposition(|&c| c > 0).map_or(0.0, value);
            }
            stats.entropy = entropy(&self.histogram, n);
            let distinct = self.histogram.iter().filter(|c| **c > 0).count();
            stats.value_counts = (distinct <= 1024).then(|| {
                self.histogram
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(bin, &c)| (bin as i64 - 32_768, c))
                    .collect()
            });
        } else {
            stats.nodata = self.nodata;
            stats.zeros = self.zeros;
            if self.n > 0 {
                let n = self.n as f64;
                let mean_shifted = self.sum / n;
                stats.mean = self.shift.unwrap_or(0.0) + mean_shifted;
                stats.std = (self.sum_sq / n - mean_shifted * mean_shifted).max(0.0).sqrt();
                stats.min = self.min;
                stats.max = self.max;
            }
            stats.entropy = entropy(&self.histogram, self.n);
        }
        stats
    }
}

fn entropy(histogram: &[u64], n: u64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    histogram.iter().filter(|c| **c > 0).map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum::<f64>().max(0.0)
}

/// Scans every band of `raster` at full resolution: reads of a block row by up to 8 blocks are split between
/// threads (one dataset each), every read takes all bands (pixel-interleaved tiles are decompressed once) in the native data type,
/// and integer bands are counted into exact histograms, from which every statistic follows.
pub fn band_stats(raster: &Raster) -> Result<Vec<BandStats>> {
    let dtype = raster.dtype(1)?;
    for band in 2..=raster.band_count() {
        if raster.dtype(band)? != dtype {
            return Err(Error::Raster(eoforge_raster::Error::Invalid {
                path: raster.location().to_owned(),
                reason: "bands of different data types".into(),
            }));
        }
    }
    match dtype {
        DataType::UInt8 => scan::<u8>(raster),
        DataType::UInt16 => scan::<u16>(raster),
        DataType::Int8 | DataType::Int16 => scan::<i16>(raster),
        DataType::UInt32 => scan::<u32>(raster),
        DataType::Int32 => scan::<i32>(raster),
        DataType::Float32 => scan::<f32>(raster),
        DataType::Float64 => scan::<f64>(raster),
    }
}

fn scan<T: Pixel>(raster: &Raster) -> Result<Vec<BandStats>> {
    let (width, height, bands) = (raster.width(), raster.height(), raster.band_count());
    // 8- and 16-bit integers go into exact histograms; everything else through running sums.
    let integer = T::DTYPE.size() <= 2;
    let block = raster.info()?.bands.first().map_or([256, 256], |b| b.block_size);
    let rows_per_read = block[1].clamp(1, 1024);
    // Reads of at most 8 blocks across: a read's blocks then fit GDAL's cache together with the other thread's,
    // so each block is decompressed once for all bands, however wide the raster.
    let cols_per_read = if block[0] < width { (8 * block[0]).max(1) } else { width };
    let chunks_x = width.div_ceil(cols_per_read);
    let nodata: Vec<Option<f64>> = (1..=bands).map(|b| raster.nodata(b)).collect::<std::result::Result<_, _>>()?;
    let reads = height.div_ceil(rows_per_read) * chunks_x;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(reads).max(1);
    let location = raster.location();
    let parts: Vec<Result<Vec<Acc>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let nodata = &nodata;
                scope.spawn(move || -> Result<Vec<Acc>> {
                    let raster = Raster::open(location)?;
                    let mut accs = vec![Acc::new(integer); bands];
                    for read in (t..reads).step_by(threads) {
                        let (row, col) = ((read / chunks_x) * rows_per_read, (read % chunks_x) * cols_per_read);
                        let (rows, cols) = (rows_per_read.min(height - row), cols_per_read.min(width - col));
                        let strip = raster.read_window::<T>(Window::new(col, row, cols, rows), None)?;
                        for ((acc, plane), nd) in accs.iter_mut().zip(strip.outer_iter()).zip(nodata) {
                            if T::DTYPE == DataType::UInt8
                                && let Some(values) = plane.as_slice()
                            {
                                acc.push_bytes(values);
                            } else if integer {
                                acc.push_integers(plane.iter().copied());
                            } else {
                                // Nodata as a value of the type (none if the type cannot hold it).
                                let missing = nd.filter(|v| T::DTYPE.holds(*v) || T::DTYPE == DataType::Float32);
                                acc.push_values(plane.iter().copied(), missing.map(T::from_f64));
                            }
                        }
                    }
                    Ok(accs)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(Error::Interrupted { path: location.to_owned() })))
            .collect()
    });
    let mut total = vec![Acc::new(integer); bands];
    for part in parts {
        for (acc, p) in total.iter_mut().zip(part?) {
            acc.merge(&p);
        }
    }
    Ok(total.into_iter().zip(nodata).enumerate().map(|(i, (acc, nd))| acc.finish(i + 1, integer, nd)).collect())
}
