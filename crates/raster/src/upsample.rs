//! Upsampling by an integer factor with GDAL's bilinear kernel, bit for bit: the values a bilinear `RasterIO` of
//! a whole band without nodata onto a `factor`-times finer buffer returns (GDAL 3.6's overview convolution), with
//! no dataset. Each step below mirrors GDAL's arithmetic: positions from the rounded ratio (not a division by the
//! factor), weights normalised by multiplying with the reciprocal of their sum, an f64 horizontal pass, an f64
//! vertical pass rounded to f32, and for UInt16 `f32 + 0.5` truncated.

use ndarray::{Array2, ArrayView2};

use crate::dtype::{DataType, Pixel};

/// Largest source (pixels) this reproduces GDAL for: GDAL reads bigger sources in chunks, which this does not model.
const MAX_SOURCE_PIXELS: usize = 256 * 256;

/// The taps of one output position along an axis: first source index, weights (GDAL includes taps of weight 0
/// at the kernel's edge; so does this, as `NaN * 0` must still reach the sum) and their count (at most 3).
#[derive(Clone, Copy)]
struct Taps {
    first: usize,
    weights: [f64; 3],
    count: usize,
}

/// GDAL's bilinear taps for `n * factor` output positions over `n` source positions.
fn taps(n: usize, factor: usize) -> Vec<Taps> {
    let ratio = n as f64 / (n * factor) as f64;
    (0..n * factor)
        .map(|i| {
            let centre = (i as f64 + 0.5) * ratio;
            let start = ((centre - 1.0) + 0.5).floor().max(0.0) as usize;
            let stop = (((centre + 1.0) + 0.5) as usize).min(n);
            let mut d = (start as f64 - centre) + 0.5;
            let mut sum = 0.0;
            let mut taps = Taps { first: start, weights: [0.0; 3], count: stop.saturating_sub(start).min(3) };
            for w in &mut taps.weights[..taps.count] {
                *w = if d.abs() <= 1.0 { 1.0 - d.abs() } else { 0.0 };
                sum += *w;
                d += 1.0;
            }
            if sum != 0.0 {
                let inverse = 1.0 / sum;
                taps.weights[..taps.count].iter_mut().for_each(|w| *w *= inverse);
            }
            taps
        })
        .collect()
}

/// `source` upsampled `factor` times in both directions, equal to GDAL's bilinear read of the whole band (no
/// nodata) onto a `(rows * factor, cols * factor)` buffer. `None` where GDAL's result is not reproduced: types
/// other than UInt16 and Float32 (they round through other paths), and sources above 256×256 pixels.
pub fn upsample_bilinear<T: Pixel>(source: &ArrayView2<'_, T>, factor: usize) -> Option<Array2<T>> {
    let (rows, cols) = source.dim();
    if !matches!(T::DTYPE, DataType::UInt16 | DataType::Float32) || rows * cols > MAX_SOURCE_PIXELS {
        return None;
    }
    if factor <= 1 || rows == 0 || cols == 0 {
        return Some(source.to_owned());
    }
    let out_cols = cols * factor;
    let across = taps(cols, factor);
    let down = taps(rows, factor);
    // Horizontal pass: each source row onto the output columns, in f64.
    let mut horizontal = vec![0f64; rows * out_cols];
    let mut row = vec![0f64; cols];
    for (source_row, line) in source.rows().into_iter().zip(horizontal.chunks_exact_mut(out_cols)) {
        row.iter_mut().zip(source_row).for_each(|(r, v)| *r = v.to_f64());
        for (out, tap) in line.iter_mut().zip(&across) {
            let mut acc = 0.0;
            for k in 0..tap.count {
                acc += row[tap.first + k] * tap.weights[k];
            }
            *out = acc;
        }
    }
    // Vertical pass: whole output rows from up to three horizontal rows, rounded to f32 as GDAL stores them.
    let integer = T::DTYPE == DataType::UInt16;
    let mut out = Array2::<T>::default((rows * factor, out_cols));
    let mut acc = vec![0f64; out_cols];
    for (mut line, tap) in out.rows_mut().into_iter().zip(&down) {
        acc.fill(0.0);
        for k in 0..tap.count {
            let w = tap.weights[k];
            let above = &horizontal[(tap.first + k) * out_cols..][..out_cols];
            acc.iter_mut().zip(above).for_each(|(a, h)| *a += h * w);
        }
        for (value, a) in line.iter_mut().zip(&acc) {
            let f = *a as f32;
            *value = if integer {
                // GDAL's float → UInt16 copy: add 0.5 in f32, clamp to [0.5, 65535], truncate (NaN becomes 0).
                T::from_f32(((f + 0.5).clamp(0.5, 65_535.0) as u16).into())
            } else {
                T::from_f32(f)
            };
        }
    }
    Some(out)
}
