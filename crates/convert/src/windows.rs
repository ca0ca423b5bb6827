//! Windows of a scene plus an aligned label raster, cut into segmentation shards: an `image` tensor
//! `(bands, size, size)` and a `mask` tensor `(size, size)` of classes per window. With a regression target
//! raster instead of labels, a float32 `target` tensor `(size, size)` (the target's nodata as NaN) per window.
//! With frames (several co-registered dates of one area: several scenes, or bands of one time stack), the
//! `image` tensor is `(bands, frames, size, size)`, and each window carries `dates` `(frames, 2)` (year, day of
//! year) and `location` `(2)` (latitude, longitude of its centre) for a foundation model's coordinate encodings; a
//! window where any frame holds nodata is skipped and counted against that frame.
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
use eoforge_shards::{
    ChannelStats, ClassInfo, ClassTable, Dequantize, Sample, StatsReport, Tensor, merge_all, parquet_shard,
    webdataset_tar,
};
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
    /// A regression target raster (one band, the scene's CRS) instead of labels: its values under each window
    /// become the `target` tensor; windows whose share of target nodata exceeds `max_ignored` are skipped.
    pub target: Option<String>,
    /// Frames of a multi-temporal set, oldest first (empty: one frame, the scene with `bands`).
    pub frames: Vec<Frame>,
    /// A de-quantisation of the scene's stored values into the embedding's own (nodata left as it is).
    pub dequantize: Option<Dequantize>,
    /// The `image` tensor's element type (`None`: UInt16 for 8- and 16-bit unsigned scenes, else float32).
    pub store_dtype: Option<StoreDtype>,
}

/// An element type windows may be stored in, smaller than float32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreDtype {
    /// IEEE half precision (2 bytes: half of float32; about 3 significant digits), any scene.
    Float16,
    /// The scene's own signed bytes (1 byte: a quarter of float32), for signed-byte scenes without a
    /// de-quantisation (AlphaEarth's stored values).
    Int8,
}

impl std::str::FromStr for StoreDtype {
    type Err = String;

    /// `float16` or `int8`.
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "float16" => Ok(Self::Float16),
            "int8" => Ok(Self::Int8),
            other => Err(format!("`{other}` is no storage type here (float16, int8)")),
        }
    }
}

/// One date of a multi-temporal window set: a scene (or a time stack) and its bands for that date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The scene holding the frame (path or URL), co-registered with the reference scene.
    pub scene: String,
    /// Its bands (1-based) for this date, one per channel, in channel order (empty: every band).
    pub bands: Vec<usize>,
    /// The acquisition date.
    pub date: Date,
}

/// A calendar date, as foundation models' temporal encodings take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Day of the year, 1-based.
    pub day_of_year: u32,
}

impl std::str::FromStr for Date {
    type Err = String;

    /// `YYYY-MM-DD`, optionally followed by a time (`T10:00:08`), or `YYYYMMDD`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a date (YYYY-MM-DD or YYYYMMDD)");
        let day = text.split(['T', ' ']).next().unwrap_or_default().replace('-', "");
        if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let (year, month, dom): (i32, u32, u32) = (
            day[..4].parse().map_err(|_| bad())?,
            day[4..6].parse().map_err(|_| bad())?,
            day[6..].parse().map_err(|_| bad())?,
        );
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let lengths = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if !(1..=12).contains(&month) || dom == 0 || dom > lengths[month as usize - 1] {
            return Err(bad());
        }
        let day_of_year = lengths[..month as usize - 1].iter().sum::<u32>() + dom;
        Ok(Self { year, day_of_year })
    }
}

impl Frame {
    /// A frame from `PATH@DATE`, or a path whose name holds a `YYYYMMDD` date, with `bands`.
    pub fn from_spec(spec: &str, bands: Vec<usize>) -> Result<Self, String> {
        let (scene, date) = if let Some((scene, date)) = spec.rsplit_once('@') {
            (scene, date.parse::<Date>()?)
        } else {
            let name = spec.rsplit('/').next().unwrap_or(spec);
            let date = Date::in_name(name)
                .ok_or_else(|| format!("`{spec}`: no YYYYMMDD date in its name; write PATH@YYYY-MM-DD"))?;
            (spec, date)
        };
        Ok(Self { scene: scene.to_owned(), bands, date })
    }

    /// Frames of a time stack: the scene's bands hold `dates.len()` dates of `per_date` channels each, date-major;
    /// `picks` (1-based date numbers) choose the frames, all dates when empty.
    pub fn of_stack(scene: &str, dates: &[Date], picks: &[usize], per_date: usize) -> Result<Vec<Self>, String> {
        if per_date == 0 {
            return Err("channels per date must be at least 1".into());
        }
        let picks: Vec<usize> = if picks.is_empty() { (1..=dates.len()).collect() } else { picks.to_vec() };
        picks
            .iter()
            .map(|&k| {
                let date = *dates
                    .get(k.wrapping_sub(1))
                    .ok_or_else(|| format!("date {k} picked, the stack lists {} dates", dates.len()))?;
                let bands = ((k - 1) * per_date + 1..=k * per_date).collect();
                Ok(Self { scene: scene.to_owned(), bands, date })
            })
            .collect()
    }
}

impl Date {
    /// Dates listed in a JSON array of strings (`["2015-07-11T10:00:08", …]`) or one per line.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let items: Vec<String> = match serde_json::from_str::<Vec<String>>(text) {
            Ok(list) => list,
            Err(_) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect(),
        };
        items.iter().map(|d| d.parse()).collect()
    }

    /// The first 8-digit run in `name` read as `YYYYMMDD` (Sentinel-2 product and file names carry one).
    pub fn in_name(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        (0..bytes.len().saturating_sub(7))
            .filter(|&i| bytes[i..i + 8].iter().all(u8::is_ascii_digit))
            .filter(|&i| {
                (i == 0 || !bytes[i - 1].is_ascii_digit()) && bytes.get(i + 8).is_none_or(|b| !b.is_ascii_digit())
            })
            .find_map(|i| name[i..i + 8].parse().ok())
    }

    /// `YYYY-DDD`.
    pub fn label(&self) -> String {
        format!("{}-{:03}", self.year, self.day_of_year)
    }
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
            target: None,
            frames: Vec::new(),
            dequantize: None,
            store_dtype: None,
        }
    }
}

/// What a window conversion did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowsReport {
    /// Windows planned over the scene.
    pub windows: usize,
    /// Windows written, per split.
    pub written: BTreeMap<String, usize>,
    /// Windows skipped because a scene band holds nodata in them.
    pub skipped_nodata: usize,
    /// Windows skipped because more than `max_ignored` of their labels are the ignore value (or their target
    /// nodata).
    pub skipped_unlabelled: usize,
    /// Per frame date (`YYYY-DDD`) of a multi-temporal set: windows skipped because that frame holds nodata there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped_frames: BTreeMap<String, usize>,
    /// Labelled pixels per class value, per split.
    pub class_pixels: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Wall seconds.
    pub seconds: f64,
}

/// Cuts `scene` and the aligned `labels` raster into segmentation shards under `options.out`; with
/// `options.target`, into regression shards; without either, into image-only shards (`task: images`, for
/// super-resolution). `options.frames` makes the windows multi-temporal, on `scene`'s grid.
pub fn convert_windows(
    scene: &str,
    labels: Option<&str>,
    options: &WindowOptions,
    on_window: &(dyn Fn() + Sync),
) -> Result<WindowsReport> {
    let start = Instant::now();
    options.check()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let out = Store::open_with(&options.out, &options.store)?;
    let job = SceneJob { scene: scene.to_owned(), labels: labels.map(str::to_owned), target: options.target.clone() };
    let context = CutContext {
        out: &out,
        rt: &rt,
        shard_prefix: String::new(),
        key_stem: None,
        ground: None,
        on_window,
        stop: None,
    };
    let cut = cut_scene(&job, options, &context)?.ok_or_else(|| Error::Options("stopped".into()))?;
    let mut report = cut.report.clone();
    if report.written.values().sum::<usize>() == 0 {
        return Err(Error::Options(format!(
            "no window kept: {} hold nodata, {} are mostly unlabelled",
            report.skipped_nodata, report.skipped_unlabelled
        )));
    }
    let mut index = cut.describe(&options.settings());
    index["source"] = serde_json::json!({ "scene": scene, "labels": labels, "bands": cut.bands });
    if let Some(target) = &options.target {
        index["source"]["target"] = target.as_str().into();
    }
    index["splits"] = cut.splits.clone();
    if let Some(classes) = &cut.classes {
        let table = ClassTable::new(classes.clone()).map_err(Error::Options)?;
        if table.is_empty() {
            return Err(Error::Options("no labelled pixel in the kept windows".into()));
        }
        index["classes"] = serde_json::to_value(&table).map_err(|e| Error::Options(e.to_string()))?;
        index["class_pixels"] =
            serde_json::to_value(&report.class_pixels).map_err(|e| Error::Options(e.to_string()))?;
    }
    if let Some(stats) = &cut.target_stats {
        index["target"] = target_summary(cut.target_name.as_deref().unwrap_or("target"), stats);
    }
    let names: Vec<&str> = cut.channels.iter().map(String::as_str).collect();
    let stats = StatsReport::new(&names, &cut.train_stats);
    rt.block_on(out.put("stats.json", json_bytes(&stats)?.into()))?;
    rt.block_on(out.put("index.json", json_bytes(&index)?.into()))?;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// One scene of a window set: the scene, and its labels or regression target.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SceneJob {
    /// The scene (path or URL).
    pub scene: String,
    /// Its label raster: any CRS and resolution covering the scene (read onto the scene's grid).
    pub labels: Option<String>,
    /// Its regression target raster (the scene's CRS).
    pub target: Option<String>,
}

/// What cutting one scene needs beside the options.
pub(crate) struct CutContext<'a> {
    pub(crate) out: &'a Store,
    pub(crate) rt: &'a tokio::runtime::Runtime,
    /// Put between a shard's split and number (`s00003-`): shard names unique across the scenes of a set.
    pub(crate) shard_prefix: String,
    /// The start of every window's key (default: the scene's file stem).
    pub(crate) key_stem: Option<String>,
    /// The CRS split blocks are laid out in (default: the scene's own), so scenes in different CRSs share blocks.
    pub(crate) ground: Option<eoforge_raster::Crs>,
    pub(crate) on_window: &'a (dyn Fn() + Sync),
    /// Raised to stop: the scene is abandoned between two rows of windows.
    pub(crate) stop: Option<&'a std::sync::atomic::AtomicBool>,
}

/// One scene's windows, written: what the set's index and statistics are made of.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SceneCut {
    pub(crate) report: WindowsReport,
    /// `index.json`'s `splits` member for this scene's shards.
    pub(crate) splits: serde_json::Value,
    /// Channel statistics of its training windows.
    pub(crate) train_stats: Vec<ChannelStats>,
    /// Statistics of its training windows' target values.
    pub(crate) target_stats: Option<ChannelStats>,
    pub(crate) target_name: Option<String>,
    pub(crate) channels: Vec<String>,
    pub(crate) dtype: String,
    pub(crate) bands: Vec<usize>,
    pub(crate) size: usize,
    /// `index.json`'s `frames` member (multi-temporal sets).
    pub(crate) frames: Option<serde_json::Value>,
    /// The label values present, named and coloured from the label raster (segmentation).
    pub(crate) classes: Option<Vec<ClassInfo>>,
    pub(crate) ignore: Option<u16>,
}

impl SceneCut {
    /// The index members every set of such windows shares: task, input, channels, window, tensors, frames,
    /// de-quantisation; `settings` are the options' [`WindowOptions::settings`].
    pub(crate) fn describe(&self, settings: &serde_json::Value) -> serde_json::Value {
        let size = self.size;
        let frame_count = self.frames.as_ref().and_then(serde_json::Value::as_array).map_or(1, Vec::len);
        let image_shape = if self.frames.is_some() {
            format!("{} ({}, {frame_count}, {size}, {size})", self.dtype, self.channels.len())
        } else {
            format!("{} ({}, {size}, {size})", self.dtype, self.channels.len())
        };
        let mut tensors = serde_json::json!({ "image": image_shape });
        let mut index = serde_json::json!({
            "task": "images",
            "input": "image",
            "channels": self.channels,
            "window": {
                "size": size, "stride": settings["stride"], "block": settings["block"], "seed": settings["seed"],
            },
        });
        if let Some(frames) = &self.frames {
            index["frames"] = frames.clone();
            tensors["dates"] = format!("float32 ({frame_count}, 2) year and day of year per frame").into();
            tensors["location"] = "float32 (2) latitude and longitude of the window's centre".into();
        }
        if self.classes.is_some() {
            tensors["mask"] = serde_json::json!(format!(
                "uint16 ({size}, {size}) label values (the class table maps them to model indices); {} = no label",
                self.ignore.map_or("none".into(), |v| v.to_string())
            ));
            index["task"] = "segmentation".into();
            index["ignore"] = serde_json::json!(self.ignore);
        }
        if self.target_stats.is_some() {
            tensors["target"] = format!("float32 ({size}, {size}) target values; NaN = no value").into();
            index["task"] = "regression".into();
        }
        if let Ok(Some(mapping)) = serde_json::from_value::<Option<Dequantize>>(settings["dequantize"].clone()) {
            index["dequantize"] = serde_json::json!(mapping);
            index["dequantize_rule"] = mapping.describe().into();
        }
        index["tensors"] = tensors;
        index
    }
}

/// `index.json`'s `target` member: the target's name and statistics over the training windows.
pub(crate) fn target_summary(name: &str, stats: &ChannelStats) -> serde_json::Value {
    serde_json::json!({
        "name": name, "count": stats.count, "mean": stats.mean, "std": stats.std(), "min": stats.min, "max": stats.max,
    })
}

/// Pretty JSON bytes.
pub(crate) fn json_bytes(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| Error::Options(e.to_string()))
}

impl WindowOptions {
    /// The settings a set's windows depend on, as a set's manifests record them (a rerun with others would mix
    /// two sets).
    pub(crate) fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "size": self.size, "stride": self.stride, "bands": self.bands, "block": self.block, "seed": self.seed,
            "ratios": [self.ratios.train, self.ratios.validation, self.ratios.test],
            "samples_per_shard": self.samples_per_shard,
            "formats": { "webdataset": self.formats.webdataset, "parquet": self.formats.parquet },
            "ignore": self.ignore, "max_ignored": self.max_ignored, "dequantize": self.dequantize,
            "store_dtype": self.store_dtype,
        })
    }

    /// Refuses settings that cannot cut windows.
    pub(crate) fn check(&self) -> Result<()> {
        let bad = |reason: &str| Err(Error::Options(reason.into()));
        if self.size == 0 || self.stride == 0 || self.samples_per_shard == 0 || self.block == 0 {
            return bad("window size, stride, block and samples per shard must be at least 1");
        }
        if !self.formats.webdataset && !self.formats.parquet {
            return bad("no shard format selected");
        }
        Ok(())
    }
}

/// Cuts one scene's windows into shards under `context.out`; `None` when a stop was requested before it ended.
pub(crate) fn cut_scene(job: &SceneJob, options: &WindowOptions, context: &CutContext<'_>) -> Result<Option<SceneCut>> {
    let (scene, labels) = (job.scene.as_str(), job.labels.as_deref());
    let bad = |reason: String| Err(Error::Options(reason));
    if labels.is_some() && job.target.is_some() {
        return bad("give labels (segmentation) or a target (regression), not both".into());
    }
    let on_window = context.on_window;
    let image = crate::tessera::open_scene(scene, &options.store)?;
    let refuse = |path: &str, reason: String| Err(Error::Input { path: path.to_owned(), reason });
    let Some(transform) = image.geo_transform() else {
        return refuse(scene, "the scene is not georeferenced".into());
    };
    let label_raster = match labels {
        Some(labels) => Some((labels, Raster::open_with(labels, &options.store)?)),
        None => None,
    };
    // Labels in another CRS are warped onto each strip of windows (nearest neighbour); the others are read.
    let warp_labels = match &label_raster {
        Some((labels, label_raster)) => check_labels(&image, scene, labels, label_raster)?,
        None => false,
    };
    let target_raster = match &job.target {
        Some(target) => {
            let raster = Raster::open_with(target, &options.store)?;
            check_aligned(&image, scene, target, &raster)?;
            if raster.band_count() != 1 {
                return refuse(target, format!("a target raster has one band, this one {}", raster.band_count()));
            }
            Some((target.as_str(), raster))
        }
        None => None,
    };
    let bands: Vec<usize> = options.bands.clone().unwrap_or_else(|| (1..=image.band_count()).collect());
    let multi = !options.frames.is_empty();
    // Every frame's raster (the scene itself when a frame names it) and bands.
    let mut frames: Vec<(Option<Raster>, Frame)> = Vec::new();
    for frame in &options.frames {
        let raster = if frame.scene == scene {
            None
        } else {
            let raster = Raster::open_with(&frame.scene, &options.store)?;
            check_aligned(&image, scene, &frame.scene, &raster)?;
            Some(raster)
        };
        let count = raster.as_ref().unwrap_or(&image).band_count();
        let mut frame = frame.clone();
        if frame.bands.is_empty() {
            frame.bands = (1..=count).collect();
        }
        if let Some(b) = frame.bands.iter().find(|&&b| b == 0 || b > count) {
            return refuse(
                &frame.scene,
                format!("band {b} requested for {}, the scene has {count}", frame.date.label()),
            );
        }
        frames.push((raster, frame));
    }
    for (_, frame) in &frames {
        if frame.bands.len() != frames[0].1.bands.len() {
            return bad(format!(
                "frame {} has {} bands, frame {} has {}: every frame needs the same channels",
                frame.date.label(),
                frame.bands.len(),
                frames[0].1.date.label(),
                frames[0].1.bands.len()
            ));
        }
    }
    if let Some(w) = options.frames.windows(2).find(|w| w[1].date < w[0].date) {
        return bad(format!("frames must be in date order: {} comes after {}", w[1].date.label(), w[0].date.label()));
    }
    if let Some(b) = bands.iter().find(|&&b| b == 0 || b > image.band_count()) {
        return refuse(scene, format!("band {b} requested, the scene has {}", image.band_count()));
    }
    // Channel names and types come from the first frame.
    let (first_raster, first_bands) = match frames.first() {
        Some((raster, frame)) => (raster.as_ref().unwrap_or(&image), frame.bands.clone()),
        None => (&image, bands.clone()),
    };
    let frame_count = frames.len().max(1);
    let ignore = match &label_raster {
        // Warped labels mark the ground they do not cover as "no label": their nodata, else 65535.
        Some((_, raster)) => options
            .ignore
            .or_else(|| raster.nodata(1).ok().flatten().map(|v| v as u16))
            .or(warp_labels.then_some(u16::MAX)),
        None => None,
    };
    let channels: Vec<String> = first_bands
        .iter()
        .map(|&b| first_raster.band_description(b).ok().filter(|d| !d.is_empty()).unwrap_or_else(|| format!("band{b}")))
        .collect();
    let dtype = match options.store_dtype {
        None => sample_dtype(first_raster, &first_bands)?,
        Some(StoreDtype::Float16) => "float16",
        Some(StoreDtype::Int8) => {
            let types: Vec<DataType> = first_bands.iter().map(|&b| first_raster.dtype(b)).collect::<Result<_, _>>()?;
            if options.dequantize.is_some() || types.iter().any(|t| *t != DataType::Int8) {
                return bad(format!(
                    "--store-dtype int8 keeps a scene's own signed bytes: this one's bands are {} and {}; store \
                     float16 instead",
                    types.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    if options.dequantize.is_some() { "they are de-quantised" } else { "not all Int8" }
                ));
            }
            "int8"
        }
    };
    let (width, height) = (image.width(), image.height());
    if width < options.size || height < options.size {
        return bad(format!("{}x{} windows do not fit the {width}x{height} scene", options.size, options.size));
    }
    let starts = |n: usize| (0..=n - options.size).step_by(options.stride).collect::<Vec<_>>();
    let (cols, rows) = (starts(width), starts(height));
    let stem = context.key_stem.clone().unwrap_or_else(|| {
        std::path::Path::new(scene).file_stem().map_or_else(|| "scene".to_owned(), |s| s.to_string_lossy().into_owned())
    });
    // A split block's side on the ground, in map units along each axis.
    let block_side = (
        (options.block * options.stride) as f64 * transform.0[1].abs(),
        (options.block * options.stride) as f64 * transform.0[5].abs(),
    );
    let rt = context.rt;
    let mut report = WindowsReport { windows: cols.len() * rows.len(), ..WindowsReport::default() };
    let mut writer =
        SplitWriters::new(context.out, options.formats, options.samples_per_shard, context.shard_prefix.clone());
    let label_fill = ignore.map_or(f64::from(u16::MAX), f64::from);

    let mut train_stats: Vec<Vec<ChannelStats>> = Vec::new();
    let mut target_stats: Vec<ChannelStats> = Vec::new();
    let size = options.size;
    let crs = image.crs();
    let ground = match &context.ground {
        Some(common) => {
            let Some(own) = &crs else { return refuse(scene, "the scene has no CRS".into()) };
            Some((own, common))
        }
        None => None,
    };
    let dates: Vec<f32> = frames.iter().flat_map(|(_, f)| [f.date.year as f32, f.date.day_of_year as f32]).collect();
    for &row in &rows {
        if context.stop.is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst)) {
            return Ok(None);
        }
        let strip = Window::new(0, row, width, size);
        let grid = Grid::of_window(&transform, strip);
        // (frames, channels, rows, cols) and each frame's nodata per channel.
        let mut stack: Vec<(Array3<f64>, Vec<Option<f64>>)> = Vec::with_capacity(frame_count);
        if frames.is_empty() {
            let nodata = bands.iter().map(|&b| image.nodata(b)).collect::<Result<_, _>>()?;
            stack.push((image.read_window::<f64>(strip, Some(&bands))?, nodata));
        }
        for (raster, frame) in &frames {
            let (pixels, source) = match raster {
                None => (image.read_window::<f64>(strip, Some(&frame.bands))?, &image),
                Some(r) => (
                    r.read_onto_grid::<f64>(&grid, Some(&frame.bands), Resampling::Nearest).map_err(|e| {
                        Error::Input { path: frame.scene.clone(), reason: format!("does not cover the scene: {e}") }
                    })?,
                    r,
                ),
            };
            let nodata = frame.bands.iter().map(|&b| source.nodata(b)).collect::<Result<_, _>>()?;
            stack.push((pixels, nodata));
        }
        if let Some(mapping) = options.dequantize {
            for (pixels, nodata) in &mut stack {
                for (mut plane, nd) in pixels.outer_iter_mut().zip(nodata.iter()) {
                    plane.mapv_inplace(|v| if nd.is_some_and(|nd| is_nodata(v, nd)) { v } else { mapping.apply(v) });
                }
            }
        }
        let classes = match &label_raster {
            Some((labels, raster)) => {
                let read = if warp_labels {
                    let crs = crs.as_ref().ok_or_else(|| Error::Input {
                        path: scene.to_owned(),
                        reason: "the scene has no CRS to warp its labels into".into(),
                    })?;
                    raster.warp_onto::<u16>(&grid, crs, Some(&[1]), Resampling::Nearest, label_fill)
                } else {
                    raster.read_onto_grid::<u16>(&grid, Some(&[1]), Resampling::Nearest)
                };
                Some(
                    read.map_err(|e| Error::Input {
                        path: (*labels).to_owned(),
                        reason: format!("does not cover the scene: {e}"),
                    })?
                    .index_axis_move(Axis(0), 0),
                )
            }
            None => None,
        };
        // Each window's split block, from its centre on the ground (in the set's common CRS when it has one).
        let blocks: Vec<String> = match ground {
            Some((own, common)) => {
                let mut centres: Vec<(f64, f64)> = cols
                    .iter()
                    .map(|&col| transform.pixel_to_map(col as f64 + size as f64 / 2.0, row as f64 + size as f64 / 2.0))
                    .collect();
                eoforge_raster::transform_points(&mut centres, own, common)?;
                let side = ground_side(&transform, own, options);
                centres
                    .iter()
                    .map(|(x, y)| format!("block/{}/{}", (x / side).floor() as i64, (y / side).floor() as i64))
                    .collect()
            }
            None => cols.iter().map(|&col| ground_block(&transform, (col, row), block_side)).collect(),
        };
        let targets = match &target_raster {
            Some((path, raster)) => {
                let nodata = raster.nodata(1)?;
                let values = raster
                    .read_onto_grid::<f64>(&grid, Some(&[1]), Resampling::Nearest)
                    .map_err(|e| Error::Input {
                        path: (*path).to_owned(),
                        reason: format!("does not cover the scene: {e}"),
                    })?
                    .index_axis_move(Axis(0), 0);
                Some(values.mapv(|v| if nodata.is_some_and(|nd| is_nodata(v, nd)) { f32::NAN } else { v as f32 }))
            }
            None => None,
        };
        for (&col, block) in cols.iter().zip(&blocks) {
            on_window();
            let missing: Vec<usize> =
                stack
                    .iter()
                    .enumerate()
                    .filter(|(_, (pixels, nodata))| {
                        pixels.slice(s![.., .., col..col + size]).outer_iter().zip(nodata).any(|(plane, nd)| {
                            plane.iter().any(|v| v.is_nan() || nd.is_some_and(|nd| is_nodata(*v, nd)))
                        })
                    })
                    .map(|(i, _)| i)
                    .collect();
            if !missing.is_empty() {
                report.skipped_nodata += 1;
                for i in missing.into_iter().filter(|_| multi) {
                    *report.skipped_frames.entry(frames[i].1.date.label()).or_default() += 1;
                }
                continue;
            }
            let mask: Option<Array2<u16>> = classes.as_ref().map(|c| c.slice(s![.., col..col + size]).to_owned());
            let target: Option<Array2<f32>> = targets.as_ref().map(|t| t.slice(s![.., col..col + size]).to_owned());
            let ignored = match (&mask, ignore, &target) {
                (Some(mask), Some(i), _) => mask.iter().filter(|v| **v == i).count(),
                (_, _, Some(target)) => target.iter().filter(|v| v.is_nan()).count(),
                _ => 0,
            };
            if ignored as f64 > options.max_ignored * (size * size) as f64 {
                report.skipped_unlabelled += 1;
                continue;
            }
            let split = options.ratios.split_of(block, options.seed);
            let histogram = report.class_pixels.entry(split.name().to_owned()).or_default();
            for v in mask.iter().flatten().filter(|v| Some(**v) != ignore) {
                *histogram.entry(*v).or_default() += 1;
            }
            let key = format!("{stem}_r{row:05}_c{col:05}");
            // (channels, frames, h, w), or (channels, h, w) for one frame.
            let mut windows: Vec<Array3<f64>> =
                stack.iter().map(|(pixels, _)| pixels.slice(s![.., .., col..col + size]).to_owned()).collect();
            if dtype == "float16" {
                // The statistics describe the values as stored.
                for w in &mut windows {
                    w.mapv_inplace(|v| half::f16::from_f64(v).to_f64());
                }
            }
            if split == Split::Train {
                let channel_count = windows[0].dim().0;
                train_stats.push(
                    (0..channel_count)
                        .map(|c| {
                            ChannelStats::of(
                                windows.iter().flat_map(|w| w.index_axis(Axis(0), c).into_iter().copied()),
                                None,
                            )
                        })
                        .collect(),
                );
                if let Some(t) = &target {
                    target_stats.push(ChannelStats::of(t.iter().map(|v| f64::from(*v)), None));
                }
            }
            let mut tensors = vec![image_tensor(&windows, multi, dtype)?];
            if let Some(mask) = &mask {
                tensors.push(Tensor::new("mask", &mask.view().into_dyn()));
            }
            if let Some(target) = &target {
                tensors.push(Tensor::new("target", &target.view().into_dyn()));
            }
            if multi {
                let dates = ndarray::Array2::from_shape_vec((frame_count, 2), dates.clone())
                    .map_err(|e| Error::Options(e.to_string()))?;
                tensors.push(Tensor::new("dates", &dates.view().into_dyn()));
                let (x, y) = transform.pixel_to_map(col as f64 + size as f64 / 2.0, row as f64 + size as f64 / 2.0);
                let mut point = [(x, y)];
                if let Some(crs) = &crs {
                    eoforge_raster::transform_points(&mut point, crs, &eoforge_raster::Crs::wgs84()?)?;
                }
                let location = ndarray::arr1(&[point[0].1 as f32, point[0].0 as f32]);
                tensors.push(Tensor::new("location", &location.view().into_dyn()));
            }
            let sample = Sample { key, tensors, meta: serde_json::json!({ "row": row, "col": col }) };
            *report.written.entry(split.name().to_owned()).or_default() += 1;
            rt.block_on(writer.push(split, sample))?;
        }
    }
    let splits = rt.block_on(writer.finish())?;
    let frames_json = multi.then(|| {
        frames
            .iter()
            .map(|(_, f)| {
                serde_json::json!({
                    "scene": f.scene, "bands": f.bands, "year": f.date.year, "day_of_year": f.date.day_of_year,
                })
            })
            .collect()
    });
    let classes = match &label_raster {
        Some((_, raster)) => Some(class_table(raster, &report, ignore)?.classes().to_vec()),
        None => None,
    };
    let target_name = target_raster.as_ref().map(|(_, raster)| {
        raster.band_description(1).ok().filter(|d| !d.is_empty()).unwrap_or_else(|| "target".into())
    });
    let target_stats = target_raster
        .as_ref()
        .map(|_| merge_all(target_stats.iter().map(std::slice::from_ref)).first().copied().unwrap_or_default());
    Ok(Some(SceneCut {
        report,
        splits,
        train_stats: merge_all(train_stats.iter().map(Vec::as_slice)),
        target_stats,
        target_name,
        channels,
        dtype: dtype.to_owned(),
        bands,
        size,
        frames: frames_json,
        classes,
        ignore,
    }))
}

/// A raster read onto the scene's grid must share its CRS.
fn check_aligned(image: &Raster, scene: &str, path: &str, raster: &Raster) -> Result<()> {
    match (image.crs(), raster.crs()) {
        (Some(a), Some(b)) if a.is_same(&b) => Ok(()),
        (Some(a), Some(b)) => Err(Error::Input {
            path: path.to_owned(),
            reason: format!("its CRS {} differs from the scene's {}; reproject it first", b.label(), a.label()),
        }),
        _ => Err(Error::Input {
            path: path.to_owned(),
            reason: format!("the scene ({scene}) and this raster must both have a CRS"),
        }),
    }
}

/// The `image` tensor of a window: `(channels, h, w)` for one frame, `(channels, frames, h, w)` for several, in the
/// set's element type.
fn image_tensor(frames: &[Array3<f64>], multi: bool, dtype: &str) -> Result<Tensor> {
    let views: Vec<_> = frames.iter().map(|f| f.view().insert_axis(Axis(1))).collect();
    let stacked = ndarray::concatenate(Axis(1), &views).map_err(|e| Error::Options(e.to_string()))?;
    let data = if multi { stacked.into_dyn() } else { stacked.index_axis_move(Axis(1), 0).into_dyn() };
    Ok(match dtype {
        "uint16" => Tensor::new("image", &data.mapv(|v| v as u16).view()),
        "float16" => Tensor::new("image", &data.mapv(half::f16::from_f64).view()),
        "int8" => Tensor::new("image", &data.mapv(|v| v as i8).view()),
        _ => Tensor::new("image", &data.mapv(|v| v as f32).view()),
    })
}

/// A label raster must have a CRS (as the scene), one band and UInt8 or UInt16 classes; returns whether its CRS
/// differs from the scene's (its classes are then warped onto the scene's grid).
fn check_labels(image: &Raster, scene: &str, labels: &str, label_raster: &Raster) -> Result<bool> {
    let refuse = |path: &str, reason: String| Err(Error::Input { path: path.to_owned(), reason });
    let warp = match (image.crs(), label_raster.crs()) {
        (Some(a), Some(b)) => !a.is_same(&b),
        _ => return refuse(labels, format!("the scene ({scene}) and its labels must both have a CRS")),
    };
    if label_raster.band_count() != 1 {
        return refuse(labels, format!("a label raster has one band, this one {}", label_raster.band_count()));
    }
    let label_type = label_raster.dtype(1)?;
    if !matches!(label_type, DataType::UInt8 | DataType::UInt16) {
        return refuse(labels, format!("labels must be UInt8 or UInt16 classes, not {label_type}"));
    }
    Ok(warp)
}

/// A split block's side in the set's common ground CRS (metres): `block × stride` pixels of the scene, its
/// degrees taken as 111 320 m when its CRS is geographic.
fn ground_side(transform: &eoforge_raster::GeoTransform, own: &eoforge_raster::Crs, options: &WindowOptions) -> f64 {
    let pixel = transform.0[1].abs();
    let metres = if own.is_geographic() { pixel * 111_320.0 } else { pixel };
    (options.block * options.stride) as f64 * metres
}

/// The element type windows are stored in: the scene's integer type when every kept band is UInt8 or UInt16,
/// else float32.
fn sample_dtype(image: &Raster, bands: &[usize]) -> Result<&'static str> {
    let types: Vec<DataType> = bands.iter().map(|&b| image.dtype(b)).collect::<Result<_, _>>()?;
    Ok(if types.iter().all(|t| matches!(t, DataType::UInt8 | DataType::UInt16)) { "uint16" } else { "float32" })
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
    prefix: String,
}

impl<'a> SplitWriters<'a> {
    fn new(out: &'a Store, formats: Formats, per_shard: usize, prefix: String) -> Self {
        Self { out, formats, per_shard, pending: BTreeMap::new(), shards: BTreeMap::new(), prefix }
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
        let name = format!("{split}-{}{:06}", self.prefix, list.len());
        let encode = |source| Error::Encode { shard: name.clone(), source };
        let mut files = serde_json::Map::new();
        if self.formats.webdataset {
            let bytes = webdataset_tar(samples).map_err(encode)?;
            let key = format!("{split}/{name}.tar");
            files.insert(key.clone(), serde_json::json!({ "bytes": bytes.len() }));
            // A killed earlier attempt at this shard may have left its staging file (local outputs).
            self.out.remove_stale_staging(&key)?;
            self.out.put(&key, bytes.into()).await?;
        }
        if self.formats.parquet {
            let bytes = parquet_shard(samples).map_err(encode)?;
            let key = format!("{split}/{name}.parquet");
            files.insert(key.clone(), serde_json::json!({ "bytes": bytes.len() }));
            self.out.remove_stale_staging(&key)?;
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
