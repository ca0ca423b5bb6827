//! The pipeline: reader → batcher → model → stitcher → streaming COG writer, on scoped threads joined by bounded
//! channels.

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use ndarray::{Array3, Array4, Axis};

use eoforge_raster::{CogWriter, CogWriterOptions, DataType, Pixel, Raster, RasterMetadata, RasterSpec, Window};
use eoforge_storage::StoreOptions;

use crate::derivatives::{DerivativeOptions, DerivedWriters};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::plan::{Blend, WindowPlan, weights_1d};

/// The largest tensor (elements) a batch may hold: GPU backends index tensors with 32-bit integers.
const MAX_ELEMENTS: usize = (1 << 31) - 1;

/// Bytes of f32 input plus output one automatically sized batch may hold (a few batches are in flight).
const AUTO_BATCH_BYTES: usize = 128 << 20;

/// Inference settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Window size in input pixels.
    pub window: usize,
    /// Overlap on each side of a window, in input pixels.
    pub halo: usize,
    /// Windows per batch; 0 picks a safe batch: under the 2^31-element limit, about 128 MiB of f32 input and output,
    /// at most 64 (at 10x, a 128 px window's output is 26 MB, so about 5 windows).
    pub batch: usize,
    /// Input bands (1-based); `None` = all.
    pub bands: Option<Vec<usize>>,
    /// Per-band normalisation `(x - mean) / std` applied before the model.
    pub normalize: Option<(Vec<f32>, Vec<f32>)>,
    /// A map of every input value applied before the normalisation (an embedding product's de-quantisation);
    /// nodata is found on the values as read.
    pub input_map: Option<fn(f32) -> f32>,
    /// Seam handling.
    pub blend: Blend,
    /// Output element type.
    pub out_dtype: DataType,
    /// Output nodata value.
    pub out_nodata: Option<f64>,
    /// Output band descriptions (names), one per output band or empty.
    pub out_band_descriptions: Vec<String>,
    /// Output dataset and band metadata (licence items, scale/offset, colour interpretation); per-band entries
    /// must match the output bands.
    pub out_metadata: RasterMetadata,
    /// Palette of a one-band UInt8 output (class maps).
    pub out_color_map: Option<Vec<[u8; 3]>>,
    /// Write one band holding, per pixel, the index of the model's largest (blended) output band — a class map
    /// from per-class probabilities — instead of the bands themselves.
    pub argmax: bool,
    /// Integer outputs beyond the type's range are clipped to it (its nodata value left out), as GDAL's
    /// resamplers do, and counted ([`EngineProfile::clipped_pixels`]); `false`: such a value is an error.
    pub clip: bool,
    /// With `argmax`, the value written for each output band (a class table's label values: band `i` is written as
    /// `class_values[i]`); empty: the band index itself.
    pub class_values: Vec<f64>,
    /// How input nodata reaches the output: masked pixels are written as `out_nodata`, never blended.
    pub nodata_mask: NodataMask,
    /// Crop to this input-pixel window (an AOI); `None` = the whole scene.
    pub crop: Option<Window>,
    /// Output COG layout.
    pub cog: CogWriterOptions,
    /// Memory for the stitcher's accumulators, in MiB: an output wider than fits is processed in column stripes
    /// of output tiles (windows on a stripe border run once per stripe, the output is the same).
    pub stitch_memory_mib: usize,
    /// Store settings for an `s3://` input.
    pub store: StoreOptions,
    /// Maps derived from the output bands, written beside `dest` (`<stem>_ndvi.tif`, …).
    pub derivatives: DerivativeOptions,
    /// Append a quality band (named `quality`) after the model's: per pixel [`QUALITY_NODATA`],
    /// [`QUALITY_VALID`], [`QUALITY_NEAR_NODATA`] (input nodata within the halo of its input pixel) or
    /// [`QUALITY_CLIPPED`] (a band's value clipped to the type's range). Not for class maps.
    pub quality_band: bool,
}

/// Quality band value: no data (input nodata, or not covered).
pub const QUALITY_NODATA: u8 = 0;
/// Quality band value: valid.
pub const QUALITY_VALID: u8 = 1;
/// Quality band value: valid, but the input had nodata within the halo around the pixel's input pixel (what the
/// model saw was partly missing).
pub const QUALITY_NEAR_NODATA: u8 = 2;
/// Quality band value: a band's value was clipped to the output type's range.
pub const QUALITY_CLIPPED: u8 = 3;

impl Default for EngineOptions {
    /// 128 px windows with a 16 px halo, automatic batch, all bands, Hann blending, Float32 output, LZW COG,
    /// 512 MiB for stitching, no derivatives.
    fn default() -> Self {
        Self {
            window: 128,
            halo: 16,
            batch: 0,
            bands: None,
            normalize: None,
            input_map: None,
            blend: Blend::Hann,
            out_dtype: DataType::Float32,
            out_nodata: None,
            out_band_descriptions: Vec::new(),
            out_metadata: RasterMetadata::default(),
            out_color_map: None,
            argmax: false,
            clip: false,
            class_values: Vec::new(),
            nodata_mask: NodataMask::AnyBand,
            crop: None,
            cog: CogWriterOptions::default(),
            stitch_memory_mib: 512,
            store: StoreOptions::default(),
            derivatives: DerivativeOptions::default(),
            quality_band: false,
        }
    }
}

/// Which output pixels input nodata (or NaN) masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodataMask {
    /// Nodata is data: the model's output is written everywhere.
    Off,
    /// Every output band is nodata where any input band is (a model whose bands mix its inputs).
    #[default]
    AnyBand,
    /// Output band `b` is nodata where input band `b` is (models that keep their input's bands).
    PerBand,
}

/// What a run measured.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EngineProfile {
    /// Windows processed (including those run again on stripe borders).
    pub windows: usize,
    /// Column stripes the output was processed in (1 = the whole width at once).
    pub stripes: usize,
    /// Output tiles per stripe.
    pub stripe_tiles: usize,
    /// Batches run.
    pub batches: usize,
    /// Batch size used.
    pub batch_size: usize,
    /// Busy seconds of each stage (`read`, `model`, `stitch_write`); the largest is the limiting stage.
    pub busy_s: eoforge_profile::Stages,
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
    /// Share of output pixels masked by input nodata, per mask plane (one for all bands, or one per band);
    /// empty without a mask. What QC judges the product's nodata share against.
    pub source_nodata_fraction: Vec<f64>,
    /// Output values clipped to the output type's range (with [`EngineOptions::clip`]), over all bands.
    pub clipped_pixels: u64,
    /// Pixels of each quality band value (0 no data, 1 valid, 2 nodata near, 3 clipped), with
    /// [`EngineOptions::quality_band`].
    pub quality_counts: Option<[u64; 4]>,
    /// Derived maps written beside the product (working paths: not part of the serialized profile).
    #[serde(skip)]
    pub derivatives: Vec<PathBuf>,
}

/// Runs `model` over the raster at `source` and writes the stitched output as a COG at `dest`.
pub fn run(source: &str, dest: &Path, model: &mut dyn Model, options: &EngineOptions) -> Result<EngineProfile> {
    match options.out_dtype {
        DataType::Int8 => Err(Error::Options("products are not written as signed bytes; choose Int16".into())),
        DataType::UInt8 => run_typed::<u8>(source, dest, model, options),
        DataType::UInt16 => run_typed::<u16>(source, dest, model, options),
        DataType::Int16 => run_typed::<i16>(source, dest, model, options),
        DataType::UInt32 => run_typed::<u32>(source, dest, model, options),
        DataType::Int32 => run_typed::<i32>(source, dest, model, options),
        DataType::Float32 => run_typed::<f32>(source, dest, model, options),
        DataType::Float64 => run_typed::<f64>(source, dest, model, options),
    }
}

/// A batch of windows, their top-left input positions (relative to the crop) and their nodata masks
/// `(n, mask bands, h, w)` (1 = masked).
type Batch = (Array4<f32>, Vec<(usize, usize)>, Option<Array4<u8>>);

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
    let per_window_bytes = 4 * (bands.len() * plan.width * plan.height + out_bands * ow * oh);
    let batch = if options.batch == 0 {
        limit.min(64).min(AUTO_BATCH_BYTES / per_window_bytes.max(1)).max(1)
    } else {
        options.batch
    };
    if batch > limit {
        return Err(Error::Options(format!(
            "a batch of {batch} windows holds {} elements, over the 2^31 limit of tensor backends; use --batch {limit} or less",
            batch * per_window
        )));
    }

    // Bands of the product: the model's (and the quality band), or one class band.
    let quality = usize::from(options.quality_band);
    let written = if options.argmax { 1 } else { out_bands + quality };
    if options.argmax
        && (!options.derivatives.kinds.is_empty() || options.nodata_mask == NodataMask::PerBand || quality > 0)
    {
        return Err(Error::Options(
            "a class map (argmax) has no derived maps, no per-band nodata mask and no quality band".into(),
        ));
    }
    if !options.class_values.is_empty() && (!options.argmax || options.class_values.len() != out_bands) {
        return Err(Error::Options(format!(
            "{} class values for a {}class map of {out_bands} classes",
            options.class_values.len(),
            if options.argmax { "" } else { "non-" }
        )));
    }
    if let Some(v) = options.class_values.iter().find(|v| !T::DTYPE.holds(**v) || Some(**v) == options.out_nodata) {
        return Err(Error::Options(format!("class value {v} is not a value of {} beside nodata", T::DTYPE)));
    }
    let model_written = written - quality;
    let names = options.out_band_descriptions.len();
    if names != 0 && names != model_written {
        return Err(Error::Options(format!("{names} output band descriptions for {model_written} output bands")));
    }
    if !options.out_metadata.bands.is_empty() && options.out_metadata.bands.len() != model_written {
        return Err(Error::Options(format!(
            "band metadata for {} bands, but the model writes {model_written}",
            options.out_metadata.bands.len()
        )));
    }
    let mut band_descriptions = options.out_band_descriptions.clone();
    let mut metadata = options.out_metadata.clone();
    if quality > 0 {
        if band_descriptions.is_empty() {
            band_descriptions = (1..=model_written).map(|b| format!("band {b}")).collect();
        }
        band_descriptions.push("quality".into());
        if !metadata.bands.is_empty() {
            metadata.bands.push(eoforge_raster::BandMetadata::default());
        }
    }
    if let Some(nodata) = options.out_nodata
        && !T::DTYPE.holds(nodata)
    {
        return Err(Error::Options(format!("output nodata {nodata} cannot be stored in {}", T::DTYPE)));
    }
    // Input nodata per band; masked pixels need an output nodata value to be written as.
    let in_nodata: Vec<Option<f64>> = bands.iter().map(|&b| raster.nodata(b)).collect::<Result<_, _>>()?;
    let mask = if options.nodata_mask == NodataMask::Off || in_nodata.iter().all(Option::is_none) {
        None
    } else {
        if options.out_nodata.is_none() {
            return Err(Error::Options(format!(
                "the input has nodata {:?}; the output needs a nodata value to mark those pixels (set the output \
                 nodata, or turn the nodata mask off)",
                in_nodata.iter().flatten().next()
            )));
        }
        if options.nodata_mask == NodataMask::PerBand && bands.len() != out_bands {
            return Err(Error::Options(format!(
                "a per-band nodata mask needs as many output bands as input bands ({out_bands} vs {})",
                bands.len()
            )));
        }
        Some(options.nodata_mask)
    };
    let mask_bands = match mask {
        Some(NodataMask::PerBand) => bands.len(),
        Some(_) => 1,
        None => 0,
    };
    let (out_w, out_h) = (crop.width * scale, crop.height * scale);
    let gt = raster.geo_transform().map(|g| g.shifted(crop.col as f64, crop.row as f64).scaled(scale as f64));
    let spec = RasterSpec {
        width: out_w,
        height: out_h,
        bands: written,
        geo_transform: gt,
        crs: raster.crs(),
        nodata: options.out_nodata,
        band_descriptions,
        metadata,
    };
    drop(raster);
    let mut derived = DerivedWriters::<T>::create(dest, &spec, &options.cog, &options.derivatives)?;
    let mut writer = CogWriter::<T>::create(dest, &spec, &options.cog)?;
    if let Some(colors) = &options.out_color_map {
        writer.set_color_map(colors)?;
    }
    let bs = options.cog.block_size;

    let stripes = Stripes::new(&plan, scale, ow, oh, out_w, out_bands, mask_bands, bs, options.stitch_memory_mib);
    let order = stripes.order(&plan);
    let mut profile = EngineProfile {
        batch_size: batch,
        output: (out_w, out_h, written),
        stripes: stripes.ranges.len(),
        stripe_tiles: stripes.tiles,
        ..EngineProfile::default()
    };
    let (tx_read, rx_read) = sync_channel::<Result<Batch>>(2);
    // Model outputs are the large ones (scale² times the input): when a batch of them is big, only one waits
    // while the next is computed.
    let waiting = if batch * out_bands * ow * oh * 4 > 32 << 20 { 1 } else { 2 };
    let (tx_model, rx_model) = sync_channel::<Result<Batch>>(waiting);
    let (mut read_busy, mut model_busy) = (Duration::ZERO, Duration::ZERO);
    let mut stitch_busy = Duration::ZERO;

    std::thread::scope(|scope| -> Result<()> {
        // Reader: windows in stitching order (stripe by stripe, row by row), normalised, in batches.
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
            for chunk in order.chunks(batch) {
                let t = Instant::now();
                let mut array = Array4::<f32>::zeros((chunk.len(), bands.len(), plan.height, plan.width));
                let mut masks =
                    (mask_bands > 0).then(|| Array4::<u8>::zeros((chunk.len(), mask_bands, plan.height, plan.width)));
                for (i, step) in chunk.iter().enumerate() {
                    let window = Window::new(crop.col + step.col, crop.row + step.row, plan.width, plan.height);
                    match raster.read_window::<f32>(window, Some(&bands)) {
                        Ok(data) => array.index_axis_mut(Axis(0), i).assign(&data),
                        Err(e) => {
                            let _ = tx_read.send(Err(e.into()));
                            return busy;
                        }
                    }
                    if let Some(masks) = &mut masks {
                        let mut window_mask = masks.index_axis_mut(Axis(0), i);
                        for (b, plane) in array.index_axis(Axis(0), i).outer_iter().enumerate() {
                            let mut out = window_mask.index_axis_mut(Axis(0), b.min(mask_bands - 1));
                            let nodata = in_nodata[b];
                            ndarray::Zip::from(&mut out).and(&plane).for_each(|m, &v| {
                                if v.is_nan() || Some(f64::from(v)) == nodata {
                                    *m = 1;
                                }
                            });
                        }
                    }
                }
                if let Some(map) = options.input_map {
                    array.mapv_inplace(map);
                }
                if let Some((mean, std)) = &options.normalize {
                    for (b, mut plane) in array.axis_iter_mut(Axis(1)).enumerate() {
                        plane.mapv_inplace(|v| (v - mean[b]) / std[b]);
                    }
                }
                busy += t.elapsed();
                let positions = chunk.iter().map(|s| (s.col, s.row)).collect();
                if tx_read.send(Ok((array, positions, masks))).is_err() {
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
                let out = item.and_then(|(input, pos, masks)| {
                    let t = Instant::now();
                    let n = input.dim().0;
                    let result = model
                        .forward(input)
                        .map_err(|source| Error::Model { window: format!("{:?}", pos[0]), source })?;
                    busy += t.elapsed();
                    let want = (n, out_bands, oh, ow);
                    if result.dim() == want {
                        Ok((result, pos, masks))
                    } else {
                        Err(Error::Model {
                            window: format!("{:?}", pos[0]),
                            source: format!("returned {:?}, expected {want:?}", result.dim()).into(),
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

        // Stitcher + writer (this thread): accumulate weighted outputs over the stripe's columns and a band of
        // rows; emit the stripe's tiles as soon as no later window can touch them.
        let mut steps = order.iter();
        let clip = if options.clip { T::DTYPE.integer_range() } else { None }.map(|(lo, hi)| {
            // Clipped values never become nodata.
            let nodata = options.out_nodata;
            (if nodata == Some(lo) { lo + 1.0 } else { lo }, if nodata == Some(hi) { hi - 1.0 } else { hi })
        });
        let mut acc = Accumulator {
            class_values: options.class_values.clone(),
            clip,
            quality: options.quality_band,
            ..Accumulator::default()
        };
        let halo = options.halo * scale;
        for item in rx_model {
            let (out, _, masks) = item?;
            let t = Instant::now();
            for (i, win) in out.outer_iter().enumerate() {
                let step = steps.next().ok_or(Error::Stage("stitcher"))?;
                let range = &stripes.ranges[step.stripe];
                if step.first_in_stripe {
                    acc = Accumulator {
                        left: range.acc_left,
                        width: range.acc_right - range.acc_left,
                        masked_written: std::mem::take(&mut acc.masked_written),
                        class_values: std::mem::take(&mut acc.class_values),
                        clip: acc.clip,
                        clipped: acc.clipped,
                        quality: acc.quality,
                        quality_counts: acc.quality_counts,
                        ..Default::default()
                    };
                }
                let (c, r) = (step.col, step.row);
                let (oc, or) = (c * scale - acc.left, r * scale);
                acc.grow((or + oh).saturating_sub(acc.top), out_bands, mask_bands);
                let wx = weights_1d(options.blend, ow, halo, c == 0, c + plan.width >= crop.width);
                let wy = weights_1d(options.blend, oh, halo, r == 0, r + plan.height >= crop.height);
                acc.add(&win, (oc, or), &wx, &wy);
                if let Some(masks) = &masks {
                    let window_mask = masks.index_axis(Axis(0), i);
                    let near = options.quality_band.then(|| near_nodata(&window_mask, options.halo));
                    acc.mask(&window_mask, near.as_ref(), (oc, or), scale, ow, oh);
                }
                profile.windows += 1;
                let final_rows = match step.row_end {
                    RowEnd::Inside => None,
                    RowEnd::Next(row) => Some(row * scale),
                    RowEnd::Last => Some(out_h),
                };
                if let Some(final_rows) = final_rows {
                    // Rows above the next window row are final (all of them after the stripe's last row).
                    while acc.flushed < out_h && (acc.flushed + bs <= final_rows || final_rows == out_h) {
                        let rows = bs.min(out_h - acc.flushed);
                        acc.emit_tile_row(
                            &mut writer,
                            &mut derived,
                            range.tiles.clone(),
                            rows,
                            out_w,
                            if options.argmax { None } else { Some(out_bands) },
                            bs,
                            options.out_nodata,
                        )?;
                    }
                    acc.drop_flushed();
                }
            }
            profile.batches += 1;
            stitch_busy += t.elapsed();
        }
        read_busy = reader.join().map_err(|_| Error::Stage("reader"))?;
        model_busy = runner.join().map_err(|_| Error::Stage("model"))?;
        if steps.next().is_some() || acc.flushed < out_h {
            return Err(Error::Stage("stitcher"));
        }
        let pixels = (out_w * out_h) as f64;
        profile.source_nodata_fraction = acc.masked_written.iter().map(|n| *n as f64 / pixels).collect();
        profile.clipped_pixels = acc.clipped;
        profile.quality_counts = options.quality_band.then_some(acc.quality_counts);
        Ok(())
    })?;
    let t = Instant::now();
    writer.finish()?;
    profile.derivatives = derived.finish()?;
    stitch_busy += t.elapsed();
    profile.busy_s.add("read", read_busy.as_secs_f64());
    profile.busy_s.add("model", model_busy.as_secs_f64());
    profile.busy_s.add("stitch_write", stitch_busy.as_secs_f64());
    profile.total_s = start.elapsed().as_secs_f64();
    profile.windows_per_s = profile.windows as f64 / profile.total_s.max(1e-9);
    profile.output_mb_per_s =
        (out_w * out_h * written * options.out_dtype.size()) as f64 / 1e6 / profile.total_s.max(1e-9);
    profile.peak_rss_mib = eoforge_profile::peak_rss_mib();
    Ok(profile)
}

/// Weighted sums (one plane per band, in f64 so that equal values average back to themselves exactly), weights
/// and nodata masks of the output pixels of one stripe, from row `top` down.
#[derive(Default)]
struct Accumulator {
    /// First output column held.
    left: usize,
    /// Columns held.
    width: usize,
    /// First output row held.
    top: usize,
    /// Output rows already written (of this stripe).
    flushed: usize,
    sum: Vec<Vec<f64>>,
    weight: Vec<f64>,
    /// 1 where input nodata masks the pixel: one plane for every band, or one per band.
    masked: Vec<Vec<u8>>,
    /// Masked pixels written so far, per mask plane (kept across stripes).
    masked_written: Vec<u64>,
    /// A class map's value per band index (empty: the index).
    class_values: Vec<f64>,
    /// The range integer outputs are clipped to, when clipping.
    clip: Option<(f64, f64)>,
    /// Values clipped so far (kept across stripes).
    clipped: u64,
    /// Write a quality band after the bands.
    quality: bool,
    /// 1 where input nodata lies within the halo of the pixel's input pixel (with `quality`).
    near: Vec<u8>,
    /// Pixels of each quality value written so far (kept across stripes).
    quality_counts: [u64; 4],
}

/// 1 where any band of a window's input mask `(mask bands, h, w)` has nodata within `radius` pixels (a square
/// neighbourhood): two passes of running counts, linear in the window's size.
fn near_nodata(mask: &ndarray::ArrayView3<'_, u8>, radius: usize) -> ndarray::Array2<u8> {
    let (_, h, w) = mask.dim();
    let any = mask.map_axis(Axis(0), |bands| u8::from(bands.iter().any(|&m| m != 0)));
    // Running sums along one axis of `src` (h x w, as lines of length `len`), 1 where the window [i-r, i+r] holds any.
    let spread = |src: &ndarray::Array2<u8>, along_rows: bool| -> ndarray::Array2<u8> {
        let mut out = ndarray::Array2::<u8>::zeros((h, w));
        let lanes = if along_rows { h } else { w };
        let len = if along_rows { w } else { h };
        let mut prefix = vec![0u32; len + 1];
        for lane in 0..lanes {
            for i in 0..len {
                let v = if along_rows { src[[lane, i]] } else { src[[i, lane]] };
                prefix[i + 1] = prefix[i] + u32::from(v);
            }
            for i in 0..len {
                let (lo, hi) = (i.saturating_sub(radius), (i + radius + 1).min(len));
                if prefix[hi] > prefix[lo] {
                    if along_rows {
                        out[[lane, i]] = 1;
                    } else {
                        out[[i, lane]] = 1;
                    }
                }
            }
        }
        out
    };
    spread(&spread(&any, true), false)
}

impl Accumulator {
    /// Makes room for `rows` rows from `top`.
    fn grow(&mut self, rows: usize, bands: usize, mask_bands: usize) {
        if self.quality && rows * self.width > self.near.len() {
            self.near.resize(rows * self.width, 0);
        }
        self.sum.resize_with(bands, Vec::new);
        self.masked.resize_with(mask_bands, Vec::new);
        self.masked_written.resize(mask_bands, 0);
        if rows * self.width > self.weight.len() {
            for plane in &mut self.sum {
                plane.resize(rows * self.width, 0.0);
            }
            for plane in &mut self.masked {
                plane.resize(rows * self.width, 0);
            }
            self.weight.resize(rows * self.width, 0.0);
        }
    }

    /// Adds a window's output `(bands, oh, ow)` at output column `oc` (relative to `left`) and row `or`, weighted
    /// by `wx[x] * wy[y]`: row slices, so the loops vectorize.
    fn add(&mut self, win: &ndarray::ArrayView3<'_, f32>, (oc, or): (usize, usize), wx: &[f32], wy: &[f32]) {
        let ow = wx.len();
        let wx: Vec<f64> = wx.iter().map(|&w| f64::from(w)).collect();
        for (y, &wyv) in wy.iter().enumerate() {
            let wyv = f64::from(wyv);
            let at = (or + y - self.top) * self.width + oc;
            for (w, &wxv) in self.weight[at..at + ow].iter_mut().zip(&wx) {
                *w += wxv * wyv;
            }
            for (plane, band) in self.sum.iter_mut().zip(win.outer_iter()) {
                let src = band.row(y);
                let dst = &mut plane[at..at + ow];
                match src.as_slice() {
                    Some(src) => {
                        for ((d, &v), &wxv) in dst.iter_mut().zip(src).zip(&wx) {
                            *d += wxv * wyv * f64::from(v);
                        }
                    }
                    None => {
                        for ((d, &v), &wxv) in dst.iter_mut().zip(src.iter()).zip(&wx) {
                            *d += wxv * wyv * f64::from(v);
                        }
                    }
                }
            }
        }
    }

    /// Marks the output pixels of a window whose input pixel is masked (`mask` is `(mask bands, h, w)` of input
    /// pixels; output pixel x comes from input pixel x / scale).
    fn mask(
        &mut self,
        mask: &ndarray::ArrayView3<'_, u8>,
        near: Option<&ndarray::Array2<u8>>,
        (oc, or): (usize, usize),
        scale: usize,
        ow: usize,
        oh: usize,
    ) {
        if let Some(near) = near {
            for y in 0..oh {
                let src = near.row(y / scale);
                let at = (or + y - self.top) * self.width + oc;
                for (x, m) in self.near[at..at + ow].iter_mut().enumerate() {
                    *m |= src[x / scale];
                }
            }
        }
        for (plane, band) in self.masked.iter_mut().zip(mask.outer_iter()) {
            for y in 0..oh {
                let src = band.row(y / scale);
                let at = (or + y - self.top) * self.width + oc;
                for (x, m) in plane[at..at + ow].iter_mut().enumerate() {
                    *m |= src[x / scale];
                }
            }
        }
    }

    /// Forgets the rows already written.
    fn drop_flushed(&mut self) {
        let rows = self.flushed - self.top;
        if rows > 0 {
            let n = (rows * self.width).min(self.weight.len());
            for plane in &mut self.sum {
                plane.drain(..n);
            }
            for plane in &mut self.masked {
                plane.drain(..n);
            }
            if self.quality {
                self.near.drain(..n.min(self.near.len()));
            }
            self.weight.drain(..n);
            self.top = self.flushed;
        }
    }

    /// Writes the next row of output tiles (tile columns `tiles`, `rows` rows) and advances `flushed`: the blended
    /// `bands` (`Some(n)`), or (`None`) one band with the index of the largest blended band per pixel. An integer
    /// output value outside the type (or NaN) is an error, never saturated silently.
    #[allow(clippy::too_many_arguments)]
    fn emit_tile_row<T: Pixel>(
        &mut self,
        writer: &mut CogWriter<T>,
        derived: &mut DerivedWriters<T>,
        tiles: std::ops::Range<usize>,
        rows: usize,
        out_w: usize,
        bands: Option<usize>,
        bs: usize,
        nodata: Option<f64>,
    ) -> Result<()> {
        let top = self.flushed - self.top;
        let fill = nodata.map_or_else(T::default, T::from_f64);
        let integer = !T::DTYPE.is_float();
        let Some(bands) = bands else {
            return self.emit_class_row(writer, tiles, rows, out_w, bs, fill);
        };
        for tx in tiles {
            let (c0, cols) = (tx * bs, bs.min(out_w - tx * bs));
            let quality = usize::from(self.quality);
            let mut tile = Array3::<T>::from_elem((bands + quality, rows, cols), fill);
            // Per pixel of the tile: some band's value was clipped (for the quality band).
            let mut clipped_here = if self.quality { vec![false; rows * cols] } else { Vec::new() };
            for (b, (mut out_band, plane)) in tile.outer_iter_mut().zip(&self.sum).enumerate() {
                let masked = self.masked.get(b.min(self.masked.len().saturating_sub(1)));
                for (y, mut out_row) in out_band.outer_iter_mut().enumerate() {
                    let at = (top + y) * self.width + c0 - self.left;
                    let (sums, weights) = (&plane[at..at + cols], &self.weight[at..at + cols]);
                    let mut lossy = None;
                    for (x, ((o, &s), &w)) in out_row.iter_mut().zip(sums).zip(weights).enumerate() {
                        if w <= 0.0 || masked.is_some_and(|m| m[at + x] != 0) {
                            *o = fill;
                            continue;
                        }
                        // Model outputs are f32: the blend rounds back to f32 first (exact for equal values).
                        let mut v = (s / w) as f32;
                        if let Some((lo, hi)) = self.clip
                            && !v.is_nan()
                        {
                            let rounded = f64::from(v).round();
                            if rounded < lo || rounded > hi {
                                v = rounded.clamp(lo, hi) as f32;
                                self.clipped += 1;
                                if let Some(flag) = clipped_here.get_mut(y * cols + x) {
                                    *flag = true;
                                }
                            }
                        }
                        *o = T::from_f32(v);
                        if integer && (v.is_nan() || ((*o).to_f64() - f64::from(v)).abs() > 0.5) {
                            lossy.get_or_insert((x, v));
                        }
                    }
                    if let Some((x, v)) = lossy {
                        return Err(Error::LossyCast {
                            dtype: T::DTYPE,
                            value: f64::from(v),
                            band: b + 1,
                            col: c0 + x,
                            row: self.flushed + y,
                        });
                    }
                }
            }
            if self.quality {
                self.fill_quality(&mut tile.index_axis_mut(Axis(0), bands), &clipped_here, top, c0);
            }
            writer.write_block(tx, self.flushed / bs, tile.view())?;
            derived.write_block(tx, self.flushed / bs, tile.slice(ndarray::s![..bands, .., ..]))?;
            self.count_masked(top, c0, cols, rows);
        }
        self.flushed += rows;
        Ok(())
    }
}

impl Accumulator {
    /// The quality band of a tile (`rows` x `cols` from accumulator row `top`, column `c0`): no data where every
    /// band is masked or uncovered, else clipped, else near nodata, else valid; counted.
    fn fill_quality<T: Pixel>(
        &mut self,
        band: &mut ndarray::ArrayViewMut2<'_, T>,
        clipped: &[bool],
        top: usize,
        c0: usize,
    ) {
        let (rows, cols) = band.dim();
        for y in 0..rows {
            let at = (top + y) * self.width + c0 - self.left;
            for x in 0..cols {
                let i = at + x;
                let uncovered = self.weight[i] <= 0.0;
                let masked = !self.masked.is_empty() && self.masked.iter().all(|m| m[i] != 0);
                let value = if uncovered || masked {
                    QUALITY_NODATA
                } else if clipped[y * cols + x] {
                    QUALITY_CLIPPED
                } else if self.near.get(i).is_some_and(|&n| n != 0) {
                    QUALITY_NEAR_NODATA
                } else {
                    QUALITY_VALID
                };
                band[[y, x]] = T::from_f64(f64::from(value));
                self.quality_counts[usize::from(value)] += 1;
            }
        }
    }

    /// [`Accumulator::emit_tile_row`] for a class map: per pixel, the index of the largest blended band (the
    /// first on ties), written as its class value when the accumulator has them; masked or uncovered pixels get
    /// `fill`.
    fn emit_class_row<T: Pixel>(
        &mut self,
        writer: &mut CogWriter<T>,
        tiles: std::ops::Range<usize>,
        rows: usize,
        out_w: usize,
        bs: usize,
        fill: T,
    ) -> Result<()> {
        let top = self.flushed - self.top;
        for tx in tiles {
            let (c0, cols) = (tx * bs, bs.min(out_w - tx * bs));
            let mut tile = Array3::<T>::from_elem((1, rows, cols), fill);
            let masked = self.masked.first();
            for y in 0..rows {
                let at = (top + y) * self.width + c0 - self.left;
                for x in 0..cols {
                    if self.weight[at + x] <= 0.0 || masked.is_some_and(|m| m[at + x] != 0) {
                        continue;
                    }
                    let mut best = (0, f64::NEG_INFINITY);
                    for (b, plane) in self.sum.iter().enumerate() {
                        if plane[at + x] > best.1 {
                            best = (b, plane[at + x]);
                        }
                    }
                    tile[(0, y, x)] = T::from_f64(self.class_values.get(best.0).copied().unwrap_or(best.0 as f64));
                }
            }
            writer.write_block(tx, self.flushed / bs, tile.view())?;
            self.count_masked(top, c0, cols, rows);
        }
        self.flushed += rows;
        Ok(())
    }

    /// Adds the masked pixels of a written tile (`rows` rows from accumulator row `top`, `cols` columns from
    /// output column `c0`) to the per-plane counts.
    fn count_masked(&mut self, top: usize, c0: usize, cols: usize, rows: usize) {
        for (plane, count) in self.masked.iter().zip(&mut self.masked_written) {
            for y in 0..rows {
                let at = (top + y) * self.width + c0 - self.left;
                *count += plane[at..at + cols].iter().map(|m| u64::from(*m)).sum::<u64>();
            }
        }
    }
}

/// One column stripe of output tiles and the windows it needs.
struct StripeRange {
    /// Output tile columns written by this stripe.
    tiles: std::ops::Range<usize>,
    /// Window column starts (input pixels, relative to the crop) whose output touches these tiles.
    cols: Vec<usize>,
    /// Output columns covered by those windows.
    acc_left: usize,
    acc_right: usize,
}

/// How the output is split into column stripes.
struct Stripes {
    /// Output tiles per stripe (a power of two, so overview parents complete inside a stripe).
    tiles: usize,
    ranges: Vec<StripeRange>,
}

/// One window in processing order.
struct Step {
    stripe: usize,
    col: usize,
    row: usize,
    first_in_stripe: bool,
    /// Whether this window completes a window row of its stripe.
    row_end: RowEnd,
}

/// Where a window sits in its window row.
#[derive(Clone, Copy)]
enum RowEnd {
    /// More windows of the row follow.
    Inside,
    /// Last of its row; the next window row starts at this input row.
    Next(usize),
    /// Last window of the stripe.
    Last,
}

impl Stripes {
    /// The widest power-of-two stripe of output tiles whose accumulators (stripe plus a window on each side,
    /// a window row plus a tile row high, sums and weights) fit in `memory_mib`; the whole width when it fits.
    #[allow(clippy::too_many_arguments)]
    fn new(
        plan: &WindowPlan,
        scale: usize,
        ow: usize,
        oh: usize,
        out_w: usize,
        bands: usize,
        mask_bands: usize,
        bs: usize,
        memory_mib: usize,
    ) -> Self {
        let tiles_x = out_w.div_ceil(bs);
        // f64 sums and weight, one mask byte per mask band.
        let per_pixel = (bands + 1) * 8 + mask_bands;
        let bytes = |stripe_tiles: usize| ((stripe_tiles * bs).min(out_w) + 2 * ow) * (oh + bs) * per_pixel;
        let budget = memory_mib.max(1) << 20;
        let mut tiles = tiles_x.next_power_of_two();
        while tiles > 1 && bytes(tiles) > budget {
            tiles /= 2;
        }
        let ranges = (0..tiles_x)
            .step_by(tiles)
            .map(|t0| {
                let t1 = (t0 + tiles).min(tiles_x);
                let (x0, x1) = (t0 * bs, (t1 * bs).min(out_w));
                let cols: Vec<usize> =
                    plan.cols.iter().copied().filter(|&c| c * scale < x1 && c * scale + ow > x0).collect();
                let acc_left = cols.first().map_or(x0, |c| c * scale);
                let acc_right = cols.last().map_or(x1, |c| c * scale + ow);
                StripeRange { tiles: t0..t1, cols, acc_left, acc_right }
            })
            .collect();
        Self { tiles, ranges }
    }

    /// Every window in processing order: stripe by stripe, window row by window row.
    fn order(&self, plan: &WindowPlan) -> Vec<Step> {
        let mut steps = Vec::new();
        for (stripe, range) in self.ranges.iter().enumerate() {
            for (ri, &row) in plan.rows.iter().enumerate() {
                for (ci, &col) in range.cols.iter().enumerate() {
                    let last = ci + 1 == range.cols.len();
                    steps.push(Step {
                        stripe,
                        col,
                        row,
                        first_in_stripe: ri == 0 && ci == 0,
                        row_end: match (last, plan.rows.get(ri + 1)) {
                            (false, _) => RowEnd::Inside,
                            (true, Some(&next)) => RowEnd::Next(next),
                            (true, None) => RowEnd::Last,
                        },
                    });
                }
            }
        }
        steps
    }
}
