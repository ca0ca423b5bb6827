//! The pipeline: reader → batcher → model → stitcher → streaming COG writer, on scoped threads joined by bounded
//! channels.

use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use ndarray::{Array3, Array4, Axis, s};

use eoforge_raster::{CogWriter, CogWriterOptions, DataType, Pixel, Raster, RasterSpec, Window};
use eoforge_storage::StoreOptions;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::plan::{Blend, WindowPlan, weights_1d};

/// The largest tensor (elements) a batch may hold: GPU backends index tensors with 32-bit integers.
const MAX_ELEMENTS: usize = (1 << 31) - 1;

/// Inference settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Window size in input pixels.
    pub window: usize,
    /// Overlap on each side of a window, in input pixels.
    pub halo: usize,
    /// Windows per batch; 0 picks the largest safe batch up to 64.
    pub batch: usize,
    /// Input bands (1-based); `None` = all.
    pub bands: Option<Vec<usize>>,
    /// Per-band normalisation `(x - mean) / std` applied before the model.
    pub normalize: Option<(Vec<f32>, Vec<f32>)>,
    /// Seam handling.
    pub blend: Blend,
    /// Output element type.
    pub out_dtype: DataType,
    /// Output nodata value.
    pub out_nodata: Option<f64>,
    /// Crop to this input-pixel window (an AOI); `None` = the whole scene.
    pub crop: Option<Window>,
    /// Output COG layout.
    pub cog: CogWriterOptions,
    /// Store settings for an `s3://` input.
    pub store: StoreOptions,
}

/// What a run measured.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EngineProfile {
    /// Windows processed.
    pub windows: usize,
    /// Batches run.
    pub batches: usize,
    /// Batch size used.
    pub batch_size: usize,
    /// Busy seconds of each stage (`read`, `model`, `stitch_write`); the largest is the limiting stage.
    pub busy_s: std::collections::BTreeMap<String, f64>,
    /// Wall seconds of the whole run, COG finish included.
    pub total_s: f64,
    /// Input windows per second.
    pub windows_per_s: f64,
    /// Output size in pixels (width, height) and bands.
    pub output: (usize, usize, usize),
    /// Uncompressed output megabytes per second.
    pub output_mb_per_s: f64,
    /// Peak resident memory in MiB.
    pub peak_rss_mib: f64,
}

/// Runs `model` over the raster at `source` and writes the stitched output as a COG at `dest`.
pub fn run(source: &str, dest: &Path, model: &mut dyn Model, options: &EngineOptions) -> Result<EngineProfile> {
    match options.out_dtype {
        DataType::UInt8 => run_typed::<u8>(source, dest, model, options),
        DataType::UInt16 => run_typed::<u16>(source, dest, model, options),
        DataType::Int16 => run_typed::<i16>(source, dest, model, options),
        DataType::Float32 => run_typed::<f32>(source, dest, model, options),
    }
}

/// A batch of windows and their top-left input positions (relative to the crop).
type Batch = (Array4<f32>, Vec<(usize, usize)>);

#[allow(clippy::too_many_lines)]
fn run_typed<T: Pixel>(
    source: &str,
    dest: &Path,
    model: &mut dyn Model,
    options: &EngineOptions,
) -> Result<EngineProfile> {
    let start = Instant::now();
    let raster = Raster::open_with(source, &options.store)?;
    let crop = options.crop.unwrap_or_else(|| Window::full(raster.width(), raster.height()));
    if !crop.fits(raster.width(), raster.height()) {
        return Err(Error::Options(format!("crop {crop} is outside the {}x{} scene", raster.width(), raster.height())));
    }
    let bands: Vec<usize> = options.bands.clone().unwrap_or_else(|| (1..=raster.band_count()).collect());
    if options.window == 0 || options.window <= 2 * options.halo {
        return Err(Error::Options(format!("window {} must exceed twice the halo {}", options.window, options.halo)));
    }
    if let Some((mean, std)) = &options.normalize
        && (mean.len() != bands.len() || std.len() != bands.len() || std.contains(&0.0))
    {
        return Err(Error::Options(format!("normalisation needs {} non-zero values per list", bands.len())));
    }
    let plan = WindowPlan::new(crop.width, crop.height, options.window, options.halo);
    let (scale, out_bands) = (model.scale().max(1), model.out_bands());
    let (ow, oh) = (plan.width * scale, plan.height * scale);
    let per_window = (bands.len() * plan.width * plan.height).max(out_bands * ow * oh);
    let limit = MAX_ELEMENTS / per_window.max(1);
    if limit == 0 {
        return Err(Error::Options(format!(
            "one window alone ({per_window} elements) exceeds the 2^31 element limit; use a smaller window"
        )));
    }
    let batch = if options.batch == 0 { limit.min(64) } else { options.batch };
    if batch > limit {
        return Err(Error::Options(format!(
            "a batch of {batch} windows holds {} elements, over the 2^31 limit of tensor backends; use --batch {limit} or less",
            batch * per_window
        )));
    }

    let (out_w, out_h) = (crop.width * scale, crop.height * scale);
    let gt = raster.geo_transform().map(|g| g.shifted(crop.col as f64, crop.row as f64).scaled(scale as f64));
    let spec = RasterSpec {
        width: out_w,
        height: out_h,
        bands: out_bands,
        geo_transform: gt,
        crs: raster.crs(),
        nodata: options.out_nodata,
        band_descriptions: vec![],
    };
    drop(raster);
    let mut writer = CogWriter::<T>::create(dest, &spec, &options.cog)?;
    let bs = options.cog.block_size;

    let mut profile =
        EngineProfile { batch_size: batch, output: (out_w, out_h, out_bands), ..EngineProfile::default() };
    let (tx_read, rx_read) = sync_channel::<Result<Batch>>(2);
    let (tx_model, rx_model) = sync_channel::<Result<Batch>>(2);
    let (mut read_busy, mut model_busy) = (Duration::ZERO, Duration::ZERO);
    let mut stitch_busy = Duration::ZERO;

    std::thread::scope(|scope| -> Result<()> {
        // Reader: windows row by row, normalised, in batches.
        let reader = scope.spawn(|| {
            let tx_read = tx_read; // owned here, so the model stage sees the end of the stream
            let mut busy = Duration::ZERO;
            let raster = match Raster::open_with(source, &options.store) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx_read.send(Err(e.into()));
                    return busy;
                }
            };
            let positions: Vec<(usize, usize)> =
                plan.rows.iter().flat_map(|&r| plan.cols.iter().map(move |&c| (c, r))).collect();
            for chunk in positions.chunks(batch) {
                let t = Instant::now();
                let mut array = Array4::<f32>::zeros((chunk.len(), bands.len(), plan.height, plan.width));
                for (i, &(c, r)) in chunk.iter().enumerate() {
                    let window = Window::new(crop.col + c, crop.row + r, plan.width, plan.height);
                    match raster.read_window::<f32>(window, Some(&bands)) {
                        Ok(data) => array.index_axis_mut(Axis(0), i).assign(&data),
                        Err(e) => {
                            let _ = tx_read.send(Err(e.into()));
                            return busy;
                        }
                    }
                }
                if let Some((mean, std)) = &options.normalize {
                    for (b, mut plane) in array.axis_iter_mut(Axis(1)).enumerate() {
                        plane.mapv_inplace(|v| (v - mean[b]) / std[b]);
                    }
                }
                busy += t.elapsed();
                if tx_read.send(Ok((array, chunk.to_vec()))).is_err() {
                    break;
                }
            }
            busy
        });
        // Model: batch in, batch out, shape checked.
        let runner = scope.spawn(|| {
            let tx_model = tx_model; // owned here, so the stitcher sees the end of the stream
            let mut busy = Duration::ZERO;
            for item in rx_read {
                let out = item.and_then(|(input, pos)| {
                    let t = Instant::now();
                    let n = input.dim().0;
                    let result = model
                        .forward(input)
                        .map_err(|reason| Error::Model { window: format!("{:?}", pos[0]), reason })?;
                    busy += t.elapsed();
                    let want = (n, out_bands, oh, ow);
                    if result.dim() == want {
                        Ok((result, pos))
                    } else {
                        Err(Error::Model {
                            window: format!("{:?}", pos[0]),
                            reason: format!("returned {:?}, expected {want:?}", result.dim()),
                        })
                    }
                });
                let failed = out.is_err();
                if tx_model.send(out).is_err() || failed {
                    break;
                }
            }
            busy
        });

        // Stitcher + writer (this thread): accumulate weighted outputs over a band of rows, emit finished tile rows.
        let row_len = out_w * out_bands;
        let (mut acc_top, mut sum, mut weight): (usize, Vec<f32>, Vec<f32>) = (0, Vec::new(), Vec::new());
        let mut flushed = 0usize;
        let (wy_edges, wx_edges) = (plan.rows.clone(), plan.cols.clone());
        let mut done_in_row = 0usize;
        let mut row_index = 0usize;
        for item in rx_model {
            let (out, pos) = item?;
            let t = Instant::now();
            for (i, &(c, r)) in pos.iter().enumerate() {
                let (oc, or) = (c * scale, r * scale);
                let need = (or + oh).saturating_sub(acc_top);
                if need * out_w > weight.len() {
                    sum.resize(need * row_len, 0.0);
                    weight.resize(need * out_w, 0.0);
                }
                let halo = options.halo * scale;
                let wx = weights_1d(options.blend, ow, halo, c == 0, c + plan.width >= crop.width);
                let wy = weights_1d(options.blend, oh, halo, r == 0, r + plan.height >= crop.height);
                let win = out.index_axis(Axis(0), i);
                for y in 0..oh {
                    let row = or + y - acc_top;
                    for x in 0..ow {
                        let w = wx[x] * wy[y];
                        let px = row * out_w + oc + x;
                        weight[px] += w;
                        for b in 0..out_bands {
                            sum[px * out_bands + b] += w * win[[b, y, x]];
                        }
                    }
                }
                profile.windows += 1;
                done_in_row += 1;
                if done_in_row == wx_edges.len() {
                    done_in_row = 0;
                    row_index += 1;
                    // Rows above the next window row are final.
                    let final_rows = wy_edges.get(row_index).map_or(out_h, |r| r * scale);
                    while flushed < out_h && (flushed + bs <= final_rows || final_rows == out_h) {
                        let rows = bs.min(out_h - flushed);
                        emit_tile_row(
                            &mut writer,
                            &sum,
                            &weight,
                            flushed - acc_top,
                            rows,
                            out_w,
                            out_bands,
                            bs,
                            flushed / bs,
                            options.out_nodata,
                        )?;
                        flushed += rows;
                    }
                    // Drop the emitted rows from the accumulators.
                    let drop_rows = flushed - acc_top;
                    if drop_rows > 0 {
                        sum.drain(..(drop_rows * row_len).min(sum.len()));
                        weight.drain(..(drop_rows * out_w).min(weight.len()));
                        acc_top = flushed;
                    }
                }
            }
            profile.batches += 1;
            stitch_busy += t.elapsed();
        }
        read_busy = reader.join().map_err(|_| Error::Stage("reader"))?;
        model_busy = runner.join().map_err(|_| Error::Stage("model"))?;
        if flushed < out_h {
            return Err(Error::Stage("stitcher"));
        }
        Ok(())
    })?;
    let t = Instant::now();
    writer.finish()?;
    stitch_busy += t.elapsed();
    profile.busy_s.insert("read".into(), read_busy.as_secs_f64());
    profile.busy_s.insert("model".into(), model_busy.as_secs_f64());
    profile.busy_s.insert("stitch_write".into(), stitch_busy.as_secs_f64());
    profile.total_s = start.elapsed().as_secs_f64();
    profile.windows_per_s = profile.windows as f64 / profile.total_s.max(1e-9);
    profile.output_mb_per_s =
        (out_w * out_h * out_bands * options.out_dtype.size()) as f64 / 1e6 / profile.total_s.max(1e-9);
    profile.peak_rss_mib = eoforge_jobs::peak_rss_mib();
    Ok(profile)
}

/// Writes one row of output tiles from the accumulators (`top` = first accumulator row of the tile row).
#[allow(clippy::too_many_arguments)]
fn emit_tile_row<T: Pixel>(
    writer: &mut CogWriter<T>,
    sum: &[f32],
    weight: &[f32],
    top: usize,
    rows: usize,
    out_w: usize,
    bands: usize,
    bs: usize,
    ty: usize,
    nodata: Option<f64>,
) -> Result<()> {
    for tx in 0..out_w.div_ceil(bs) {
        let (c0, cols) = (tx * bs, bs.min(out_w - tx * bs));
        let mut tile = Array3::<T>::from_elem((bands, rows, cols), nodata.map_or_else(T::default, T::from_f64));
        for y in 0..rows {
            for x in 0..cols {
                let px = (top + y) * out_w + c0 + x;
                let w = weight[px];
                if w > 0.0 {
                    for b in 0..bands {
                        tile[[b, y, x]] = T::from_f64(f64::from(sum[px * bands + b] / w));
                    }
                }
            }
        }
        writer.write_block(tx, ty, tile.slice(s![.., .., ..]))?;
    }
    Ok(())
}
