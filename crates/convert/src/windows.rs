//! Windows of a scene plus an aligned label raster, cut into segmentation shards: an `image` tensor
//! `(bands, size, size)` and a `mask` tensor `(size, size)` of classes per window.
//!
//! The label raster is read onto the scene's pixel grid with nearest-neighbour resampling (a 20 m SCL band onto
//! the 10 m grid); it must share the scene's CRS and cover it. Splits are drawn per block of `block × block`
//! windows on the ground (from the seed and the block's map coordinates, not the file's name), so neighbouring
//! (overlapping) windows never land on both sides of a train/validation border, and two files of the same area
//! (two dates, a re-export) put the same ground in the same split.
//! Output: `<split>/<split>-NNNNNN.tar` (and/or `.parquet`), then `index.json` (splits, tensors, the class table —
//! the distinct label values present, the ignore value left out, in model order with names and colours — the
//! ignore value) and `stats.json` (channel statistics of the training split, nodata left out), written last, so a
//! set with `index.json` is complete. Masks keep the label values; the class table maps them to model indices.

use std::collections::BTreeMap;
use std::time::Instant;

use eoforge_raster::{DataType, Grid, Raster, Resampling, Window};
use eoforge_sampling::{Split, SplitRatios};
use eoforge_shards::{ChannelStats, ClassTable, Sample, StatsReport, Tensor, merge_all, parquet_shard, webdataset_tar};
use eoforge_storage::{Store, StoreOptions};
use ndarray::{Array2, Array3, Axis, s};

use crate::error::{Error, Result};
use crate::run::Formats;

/// How a scene is cut into windows.
#[derive(Clone, Debug)]
pub struct WindowOptions {
    /// Output root (path or URL).
    pub out: String,
    /// Window side in pixels.
    pub size: usize,
    /// Step between window origins (`size` for no overlap).
    pub stride: usize,
    /// Scene bands to keep (1-based); `None` = all.
    pub bands: Option<Vec<usize>>,
    /// Split shares.
    pub ratios: SplitRatios,
    /// Windows per side of a split block.
    pub block: usize,
    /// Seed of the block splits.
    pub seed: u64,
    /// Windows per shard.
    pub samples_per_shard: usize,
    /// Shard formats.
    pub formats: Formats,
    /// Label value meaning "no label" (left out of losses and metrics); the label raster's nodata when unset.
    pub ignore: Option<u16>,
    /// Windows whose share of ignored label pixels exceeds this are skipped.
    pub max_ignored: f64,
    /// Store settings for inputs and output.
    pub store: StoreOptions,
}

impl Default for WindowOptions {
    /// 128 px windows without overlap, blocks of 4×4 windows split 80/20/0, 64 windows per shard, tar only.
    fn default() -> Self {
        Self {
            out: String::new(),
            size: 128,
            stride: 128,
            bands: None,
            ratios: SplitRatios { train: 0.8, validation: 0.2, test: 0.0 },
            block: 4,
            seed: 0,
            samples_per_shard: 64,
            formats: Formats { webdataset: true, parquet: false },
            ignore: None,
            max_ignored: 0.5,
            store: StoreOptions::default(),
        }
    }
}

/// What a window conversion did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct WindowsReport {
    /// Windows planned over the scene.
    pub windows: usize,
    /// Windows written, per split.
    pub written: BTreeMap<String, usize>,
    /// Windows skipped because a scene band holds nodata in them.
    pub skipped_nodata: usize,
    /// Windows skipped because more than `max_ignored` of their labels are the ignore value.
    pub skipped_unlabelled: usize,
    /// Labelled pixels per class value, per split.
    pub class_pixels: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Wall seconds.
    pub seconds: f64,
}

/// Cuts `scene` and the aligned `labels` raster into segmentation shards under `options.out`; without labels,
/// into image-only shards (`task: images`, for super-resolution).
pub fn convert_windows(
    scene: &str,
    labels: Option<&str>,
    options: &WindowOptions,
    on_window: &(dyn Fn() + Sync),
) -> Result<WindowsReport> {
    let start = Instant::now();
    let bad = |reason: String| Err(Error::Options(reason));
    if options.size == 0 || options.stride == 0 || options.samples_per_shard == 0 || options.block == 0 {
        return bad("window size, stride, block and samples per shard must be at least 1".into());
    }
    if !options.formats.webdataset && !options.formats.parquet {
        return bad("no shard format selected".into());
    }
    let image = Raster::open_with(scene, &options.store)?;
    let refuse = |path: &str, reason: String| Err(Error::Input { path: path.to_owned(), reason });
    let Some(transform) = image.geo_transform() else {
        return refuse(scene, "the scene is not georeferenced".into());
    };
    let label_raster = match labels {
        Some(labels) => Some((labels, Raster::open_with(labels, &options.store)?)),
        None => None,
    };
    if let Some((labels, label_raster)) = &label_raster {
        check_labels(&image, scene, labels, label_raster)?;
    }
    let bands: Vec<usize> = options.bands.clone().unwrap_or_else(|| (1..=image.band_count()).collect());
    if let Some(b) = bands.iter().find(|&&b| b == 0 || b > image.band_count()) {
        return refuse(scene, format!("band {b} requested, the scene has {}", image.band_count()));
    }
    let nodata: Vec<Option<f64>> = bands.iter().map(|&b| image.nodata(b)).collect::<Result<_, _>>()?;
    let ignore = match &label_raster {
        Some((_, raster)) => options.ignore.or_else(|| raster.nodata(1).ok().flatten().map(|v| v as u16)),
        None => None,
    };
    let channels: Vec<String> = bands
        .iter()
        .map(|&b| image.band_description(b).ok().filter(|d| !d.is_empty()).unwrap_or_else(|| format!("band{b}")))
        .collect();
    let (width, height) = (image.width(), image.height());
    if width < options.size || height < options.size {
        return bad(format!("{}x{} windows do not fit the {width}x{height} scene", options.size, options.size));
    }
    let starts = |n: usize| (0..=n - options.size).step_by(options.stride).collect::<Vec<_>>();
    let (cols, rows) = (starts(width), starts(height));
    let stem = std::path::Path::new(scene)
        .file_stem()
        .map_or_else(|| "scene".to_owned(), |s| s.to_string_lossy().into_owned());
    // A split block's side on the ground, in map units along each axis.
    let block_side = (
        (options.block * options.stride) as f64 * transform.0[1].abs(),
        (options.block * options.stride) as f64 * transform.0[5].abs(),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let out = Store::open_with(&options.out, &options.store)?;
    let mut report = WindowsReport { windows: cols.len() * rows.len(), ..WindowsReport::default() };
    let mut writer = SplitWriters::new(&out, options.formats, options.samples_per_shard);
    let mut train_stats: Vec<Vec<ChannelStats>> = Vec::new();
    let size = options.size;
    for &row in &rows {
        let strip = Window::new(0, row, width, size);
        let pixels = image.read_window::<f64>(strip, Some(&bands))?;
        let grid = Grid::of_window(&transform, strip);
        let classes = match &label_raster {
            Some((labels, raster)) => Some(
                raster
                    .read_onto_grid::<u16>(&grid, Some(&[1]), Resampling::Nearest)
                    .map_err(|e| Error::Input {
                        path: (*labels).to_owned(),
                        reason: format!("does not cover the scene: {e}"),
                    })?
                    .index_axis_move(Axis(0), 0),
            ),
            None => None,
        };
        for &col in &cols {
            on_window();
            let window = pixels.slice(s![.., .., col..col + size]);
            let has_nodata = window
                .outer_iter()
                .zip(&nodata)
                .any(|(plane, nd)| plane.iter().any(|v| v.is_nan() || nd.is_some_and(|nd| is_nodata(*v, nd))));
            if has_nodata {
                report.skipped_nodata += 1;
                continue;
            }
            let mask: Option<Array2<u16>> = classes.as_ref().map(|c| c.slice(s![.., col..col + size]).to_owned());
            let ignored = match (&mask, ignore) {
                (Some(mask), Some(i)) => mask.iter().filter(|v| **v == i).count(),
                _ => 0,
            };
            if ignored as f64 > options.max_ignored * (size * size) as f64 {
                report.skipped_unlabelled += 1;
                continue;
            }
            let block = ground_block(&transform, (col, row), block_side);
            let split = options.ratios.split_of(&block, options.seed);
            let histogram = report.class_pixels.entry(split.name().to_owned()).or_default();
            for v in mask.iter().flatten().filter(|v| Some(**v) != ignore) {
                *histogram.entry(*v).or_default() += 1;
            }
            let key = format!("{stem}_r{row:05}_c{col:05}");
            let sample = window_sample(&key, &window.to_owned(), mask.as_ref(), &image, &bands, row, col)?;
            if split == Split::Train {
                train_stats
                    .push(window.outer_iter().map(|plane| ChannelStats::of(plane.iter().copied(), None)).collect());
            }
            *report.written.entry(split.name().to_owned()).or_default() += 1;
            rt.block_on(writer.push(split, sample))?;
        }
    }
    let index_splits = rt.block_on(writer.finish())?;
    if report.written.values().sum::<usize>() == 0 {
        return bad(format!(
            "no window kept: {} hold nodata, {} are mostly unlabelled",
            report.skipped_nodata, report.skipped_unlabelled
        ));
    }
    let mut tensors = serde_json::json!({
        "image": format!("{} ({}, {size}, {size})", sample_dtype(&image, &bands)?, bands.len()),
    });
    let mut index = serde_json::json!({
        "task": "images",
        "source": { "scene": scene, "labels": labels, "bands": bands },
        "input": "image",
        "channels": channels,
        "window": { "size": size, "stride": options.stride, "block": options.block, "seed": options.seed },
        "splits": index_splits,
    });
    if let Some((_, label_raster)) = &label_raster {
        let class_info = class_table(label_raster, &report, ignore)?;
        if class_info.is_empty() {
            return bad("no labelled pixel in the kept windows".into());
        }
        tensors["mask"] = serde_json::json!(format!(
            "uint16 ({size}, {size}) label values (the class table maps them to model indices); {} = no label",
            ignore.map_or("none".into(), |v| v.to_string())
        ));
        index["task"] = "segmentation".into();
        index["ignore"] = serde_json::json!(ignore);
        index["classes"] = serde_json::to_value(&class_info).map_err(|e| Error::Options(e.to_string()))?;
        index["class_pixels"] =
            serde_json::to_value(&report.class_pixels).map_err(|e| Error::Options(e.to_string()))?;
    }
    index["tensors"] = tensors;
    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    let stats = StatsReport::new(&names, &merge_all(train_stats.iter().map(Vec::as_slice)));
    let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).map_err(|e| Error::Options(e.to_string()));
    rt.block_on(
        out.put("stats.json", json(&serde_json::to_value(&stats).map_err(|e| Error::Options(e.to_string()))?)?.into()),
    )?;
    rt.block_on(out.put("index.json", json(&index)?.into()))?;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// A label raster must share the scene's CRS, have one band and hold UInt8 or UInt16 classes.
fn check_labels(image: &Raster, scene: &str, labels: &str, label_raster: &Raster) -> Result<()> {
    let refuse = |path: &str, reason: String| Err(Error::Input { path: path.to_owned(), reason });
    match (image.crs(), label_raster.crs()) {
        (Some(a), Some(b)) if a.is_same(&b) => {}
        (Some(a), Some(b)) => {
            return refuse(
                labels,
                format!("its CRS {} differs from the scene's {}; reproject it first", b.label(), a.label()),
            );
        }
        _ => return refuse(labels, format!("the scene ({scene}) and the label raster must both have a CRS")),
    }
    if label_raster.band_count() != 1 {
        return refuse(labels, format!("a label raster has one band, this one {}", label_raster.band_count()));
    }
    let label_type = label_raster.dtype(1)?;
    if !matches!(label_type, DataType::UInt8 | DataType::UInt16) {
        return refuse(labels, format!("labels must be UInt8 or UInt16 classes, not {label_type}"));
    }
    Ok(())
}

/// The element type windows are stored in: the scene's integer type when every kept band is UInt8 or UInt16,
/// else float32.
fn sample_dtype(image: &Raster, bands: &[usize]) -> Result<&'static str> {
    let types: Vec<DataType> = bands.iter().map(|&b| image.dtype(b)).collect::<Result<_, _>>()?;
    Ok(if types.iter().all(|t| matches!(t, DataType::UInt8 | DataType::UInt16)) { "uint16" } else { "float32" })
}

/// One window as a sample: `image`, `mask` and its place in the scene.
fn window_sample(
    key: &str,
    window: &Array3<f64>,
    mask: Option<&Array2<u16>>,
    image: &Raster,
    bands: &[usize],
    row: usize,
    col: usize,
) -> Result<Sample> {
    let image_tensor = if sample_dtype(image, bands)? == "uint16" {
        Tensor::new("image", &window.mapv(|v| v as u16).view().into_dyn())
    } else {
        Tensor::new("image", &window.mapv(|v| v as f32).view().into_dyn())
    };
    let mut tensors = vec![image_tensor];
    if let Some(mask) = mask {
        tensors.push(Tensor::new("mask", &mask.view().into_dyn()));
    }
    Ok(Sample { key: key.to_owned(), tensors, meta: serde_json::json!({ "row": row, "col": col }) })
}

/// The split block holding the window whose top-left pixel is `(col, row)`: its place on the ground in blocks of
/// `side` map units, so the key depends on where the window lies, not on the file it was cut from.
fn ground_block(transform: &eoforge_raster::GeoTransform, (col, row): (usize, usize), side: (f64, f64)) -> String {
    let (x, y) = transform.pixel_to_map(col as f64 + 0.5, row as f64 + 0.5);
    format!("block/{}/{}", (x / side.0).floor() as i64, (y / side.1).floor() as i64)
}

/// The classes present in any split (the ignore value never one), named and coloured from the label raster's
/// category names or `CLASS_NAMES` item and its colour table where it has them.
fn class_table(labels: &Raster, report: &WindowsReport, ignore: Option<u16>) -> Result<ClassTable> {
    let colors = labels.color_table(1)?.unwrap_or_default();
    let mut names = labels.category_names(1)?;
    if names.is_empty() {
        names = class_names_item(labels)?;
    }
    let present = report.class_pixels.values().flat_map(|h| h.keys().copied()).filter(|v| Some(*v) != ignore);
    Ok(ClassTable::of_values(present, |v| names.get(usize::from(v)).cloned(), |v| colors.get(usize::from(v)).copied()))
}

/// Class names from band 1's `CLASS_NAMES` item (`0=no label;1=water;…`, as eoforge's class maps and derived
/// labels carry them), indexed by value; empty when absent.
fn class_names_item(labels: &Raster) -> Result<Vec<String>> {
    let metadata = labels.metadata()?;
    let Some((_, list)) = metadata.bands.first().and_then(|b| b.items.iter().find(|(k, _)| k == "CLASS_NAMES")) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for (value, name) in list.split(';').filter_map(|e| e.split_once('=')) {
        if let Ok(v) = value.trim().parse::<usize>()
            && v < 65_536
        {
            if names.len() <= v {
                names.resize(v + 1, String::new());
            }
            name.trim().clone_into(&mut names[v]);
        }
    }
    Ok(names)
}

/// Buffers samples per split and writes a shard each time one fills.
struct SplitWriters<'a> {
    out: &'a Store,
    formats: Formats,
    per_shard: usize,
    pending: BTreeMap<&'static str, Vec<Sample>>,
    shards: BTreeMap<&'static str, Vec<serde_json::Value>>,
}

impl<'a> SplitWriters<'a> {
    fn new(out: &'a Store, formats: Formats, per_shard: usize) -> Self {
        Self { out, formats, per_shard, pending: BTreeMap::new(), shards: BTreeMap::new() }
    }

    async fn push(&mut self, split: Split, sample: Sample) -> Result<()> {
        let pending = self.pending.entry(split.name()).or_default();
        pending.push(sample);
        if pending.len() >= self.per_shard {
            let samples = std::mem::take(pending);
            self.write(split.name(), &samples).await?;
        }
        Ok(())
    }

    async fn write(&mut self, split: &'static str, samples: &[Sample]) -> Result<()> {
        let list = self.shards.entry(split).or_default();
        let name = format!("{split}-{:06}", list.len());
        let encode = |source| Error::Encode { shard: name.clone(), source };
        let mut files = serde_json::Map::new();
        if self.formats.webdataset {
            let bytes = webdataset_tar(samples).map_err(encode)?;
            let key = format!("{split}/{name}.tar");
            files.insert(key.clone(), serde_json::json!({ "bytes": bytes.len() }));
            self.out.put(&key, bytes.into()).await?;
        }
        if self.formats.parquet {
            let bytes = parquet_shard(samples).map_err(encode)?;
            let key = format!("{split}/{name}.parquet");
            files.insert(key.clone(), serde_json::json!({ "bytes": bytes.len() }));
            self.out.put(&key, bytes.into()).await?;
        }
        list.push(serde_json::json!({ "shard": name, "samples": samples.len(), "files": files }));
        Ok(())
    }

    /// Writes the partly filled shards; returns `index.json`'s `splits` member.
    async fn finish(mut self) -> Result<serde_json::Value> {
        for split in [Split::Train, Split::Validation, Split::Test] {
            let samples = self.pending.remove(split.name()).unwrap_or_default();
            if !samples.is_empty() {
                self.write(split.name(), &samples).await?;
            }
        }
        let splits: serde_json::Map<String, serde_json::Value> = self
            .shards
            .into_iter()
            .map(|(split, list)| {
                let samples: u64 = list.iter().filter_map(|s| s["samples"].as_u64()).sum();
                (split.to_owned(), serde_json::json!({ "samples": samples, "skipped": 0, "shards": list }))
            })
            .collect();
        Ok(serde_json::Value::Object(splits))
    }
}

/// Nodata is an exact value.
#[allow(clippy::float_cmp)]
fn is_nodata(value: f64, nodata: f64) -> bool {
    value == nodata
}
