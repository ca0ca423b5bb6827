//! The train stage for a segmentation network (`[model] network = "unet"`): each tile's sampled N×N blocks are cut
//! from its features and reference into a segmentation shard set (`<store>/training/patches`: WebDataset tars with
//! `image` and `mask`, `index.json` and `stats.json`, as `eoforge-prep windows` writes them), and a U-Net is trained
//! on it by `eoforge-train`'s loop into `<store>/model/run`, which the predict stage applies through the tiled
//! engine ([`crate::PatchModel`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use eoforge_sampling::Split;
use eoforge_shards::{ChannelStats, ClassTable, Sample as ShardSample, StatsReport, Tensor, merge_all, webdataset_tar};
use ndarray::{Array2, Array3, s};
use sha2::Digest as _;

use crate::error::{Error, Result};
use crate::grid::Tile;
use crate::samples::read_table;
use crate::store::{TileStore, hex, io, write_file};

/// Windows per shard of the patch set.
const PER_SHARD: usize = 64;

/// What [`write_patch_set`] wrote.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PatchSet {
    /// Windows per split.
    pub written: BTreeMap<String, usize>,
    /// Sampled blocks left out because a feature has no value in them.
    pub skipped_nodata: usize,
    /// The number of classes a network needs: the label values present, the ignore value left out.
    pub classes: usize,
    /// SHA-256 over every shard, `index.json` and `stats.json`: what a trained model was trained on.
    pub sha256: String,
}

/// Cuts the `block`×`block` samples of `tiles` (their `samples.parquet`) from the features `channels` (one band
/// each) and the reference into a segmentation shard set in the local folder `out` (replaced).
pub fn write_patch_set(
    store: &TileStore,
    tiles: &[&Tile],
    channels: &[String],
    block: usize,
    out: &Path,
) -> Result<PatchSet> {
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(io("replace", out))?;
    }
    let mut writer =
        ShardWriter { out, pending: BTreeMap::new(), shards: BTreeMap::new(), digest: sha2::Sha256::new() };
    let mut written: BTreeMap<String, usize> = BTreeMap::new();
    let mut class_pixels: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    let mut train_stats: Vec<Vec<ChannelStats>> = Vec::new();
    let mut skipped_nodata = 0;
    let mut ignore: Option<u16> = None;
    for tile in tiles {
        let samples_path = store.tile_dir(&tile.name).join("samples.parquet");
        if !store.fetch(&samples_path)? {
            return Err(Error::Usage(format!("tile {} has no samples: run the sample stage first", tile.name)));
        }
        let (_, samples) = read_table(&samples_path)?;
        if samples.is_empty() {
            continue;
        }
        let stack = crate::patch_model::stack_channels(store, &tile.name, channels)?;
        let reference = store.read::<u16>(&tile.name, "reference")?;
        let nodata =
            eoforge_raster::Raster::open(&store.local_feature(&tile.name, "reference")?.display().to_string())?
                .nodata(1)?
                .map(|v| v as u16);
        ignore = ignore.or(nodata);
        let side = stack.dim().1;
        for sample in samples {
            let (r, c) = (sample.row as usize, sample.col as usize);
            if r + block > side || c + block > side {
                return Err(Error::Input {
                    path: store.location_of(&samples_path),
                    reason: format!("a {block} px block at row {r}, col {c} leaves the {side} px tile: resample it"),
                });
            }
            let image: Array3<f32> = stack.slice(s![.., r..r + block, c..c + block]).to_owned();
            if image.iter().any(|v| !v.is_finite()) {
                skipped_nodata += 1;
                continue;
            }
            let mask: Array2<u16> = reference.slice(s![0, r..r + block, c..c + block]).to_owned();
            let split = sample.split.name();
            let histogram = class_pixels.entry(split.to_owned()).or_default();
            for v in mask.iter().filter(|v| Some(**v) != nodata) {
                *histogram.entry(*v).or_default() += 1;
            }
            if sample.split == Split::Train {
                train_stats.push(
                    image
                        .outer_iter()
                        .map(|plane| ChannelStats::of(plane.iter().map(|v| f64::from(*v)), None))
                        .collect(),
                );
            }
            *written.entry(split.to_owned()).or_default() += 1;
            let key = format!("{}_r{r:04}_c{c:04}", tile.name);
            writer.push(
                sample.split,
                ShardSample {
                    key,
                    tensors: vec![
                        Tensor::new("image", &image.view().into_dyn()),
                        Tensor::new("mask", &mask.view().into_dyn()),
                    ],
                    meta: serde_json::json!({ "tile": tile.name, "row": r, "col": c }),
                },
            )?;
        }
    }
    if written.get(Split::Train.name()).copied().unwrap_or(0) == 0 {
        return Err(Error::Usage(format!(
            "no training window: {skipped_nodata} sampled blocks hold nodata and no other block is in the train split"
        )));
    }
    let splits = writer.finish()?;
    // The classes present, the ignore value never one: the network's outputs map to them in order.
    let classes = ClassTable::of_values(
        class_pixels.values().flat_map(|h| h.keys().copied()).filter(|v| Some(*v) != ignore),
        |_| None,
        |_| None,
    );
    let index = serde_json::json!({
        "task": "segmentation",
        "source": { "store": store.location(), "tiles": tiles.len(), "block": block },
        "input": "image",
        "channels": channels,
        "tensors": {
            "image": format!("float32 ({}, {block}, {block})", channels.len()),
            "mask": format!("uint16 ({block}, {block}) class values; {} = no label",
                ignore.map_or("none".into(), |v| v.to_string())),
        },
        "window": { "size": block, "stride": block, "block": 1, "seed": 0 },
        "ignore": ignore,
        "classes": classes,
        "class_pixels": class_pixels,
        "splits": splits,
    });
    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    let stats = StatsReport::new(&names, &merge_all(train_stats.iter().map(Vec::as_slice)));
    let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).map_err(|e| Error::Grid(e.to_string()));
    let stats = json(&serde_json::to_value(&stats).map_err(|e| Error::Grid(e.to_string()))?)?;
    let index = json(&index)?;
    writer.digest.update(&stats);
    writer.digest.update(&index);
    write_file(&out.join("stats.json"), &stats)?;
    write_file(&out.join("index.json"), &index)?;
    Ok(PatchSet { written, skipped_nodata, classes: classes.len(), sha256: hex(&writer.digest.finalize()) })
}

/// Buffers windows per split and writes a WebDataset tar each time one fills.
struct ShardWriter<'a> {
    out: &'a Path,
    pending: BTreeMap<&'static str, Vec<ShardSample>>,
    shards: BTreeMap<&'static str, Vec<serde_json::Value>>,
    digest: sha2::Sha256,
}

impl ShardWriter<'_> {
    fn push(&mut self, split: Split, sample: ShardSample) -> Result<()> {
        let pending = self.pending.entry(split.name()).or_default();
        pending.push(sample);
        if pending.len() >= PER_SHARD {
            let samples = std::mem::take(pending);
            self.write(split.name(), &samples)?;
        }
        Ok(())
    }

    fn write(&mut self, split: &'static str, samples: &[ShardSample]) -> Result<()> {
        let list = self.shards.entry(split).or_default();
        let name = format!("{split}-{:06}", list.len());
        let bytes = webdataset_tar(samples).map_err(|e| Error::Grid(format!("shard {name}: {e}")))?;
        let key = format!("{split}/{name}.tar");
        let dir = self.out.join(split);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        write_file(&self.out.join(&key), &bytes)?;
        self.digest.update(&bytes);
        list.push(serde_json::json!({
            "shard": name,
            "samples": samples.len(),
            "files": { key: { "bytes": bytes.len() } },
        }));
        Ok(())
    }

    /// Writes the partly filled shards; returns `index.json`'s `splits` member.
    fn finish(&mut self) -> Result<serde_json::Value> {
        for split in [Split::Train, Split::Validation, Split::Test] {
            let samples = self.pending.remove(split.name()).unwrap_or_default();
            if !samples.is_empty() {
                self.write(split.name(), &samples)?;
            }
        }
        Ok(serde_json::Value::Object(
            std::mem::take(&mut self.shards)
                .into_iter()
                .map(|(split, list)| {
                    let samples: u64 = list.iter().filter_map(|s| s["samples"].as_u64()).sum();
                    (split.to_owned(), serde_json::json!({ "samples": samples, "skipped": 0, "shards": list }))
                })
                .collect(),
        ))
    }
}

/// Trains `fit`'s network on the patch set `set` (opened as `shards`) into the local folder `run` through
/// [`eoforge_train::RunDir`] (so the run has its `run.json` with `call`, `profile.json`, `errors.log` and pictures
/// like any `eoforge-train fit` run), recording what it was trained on in `run/area.json`; with `skip_existing`, a run that finished on the same windows with the
/// same settings is kept (returns `true`). A run trained on others is replaced, an unfinished one resumed.
#[allow(clippy::too_many_arguments)] // the stage's inputs, each used once
pub(crate) fn train_network(
    store: &TileStore,
    shards: &eoforge_train::ShardSet,
    set: &PatchSet,
    fit: &eoforge_train::FitConfig,
    run: &Path,
    call: &eoforge_train::CallRecord,
    skip_existing: bool,
    stop: Option<&AtomicBool>,
) -> Result<(serde_json::Value, bool)> {
    let record_path = run.join("area.json");
    let wanted = serde_json::json!({ "patches_sha256": set.sha256, "fit": fit });
    if let Ok(bytes) = std::fs::read(&record_path) {
        let recorded: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if skip_existing && recorded["trained_on"] == wanted {
            return Ok((recorded, true));
        }
        // Trained on other patches or settings: start afresh rather than resume it, in the store too.
        store.remove_dir(run)?;
    }
    let device = burn::backend::flex::FlexDevice;
    let when = eoforge_train::StopWhen { max_steps: None, flag: stop, on_step: None };
    let (outcome, _) = eoforge_train::RunDir::new(run)
        .train::<burn::backend::Autodiff<burn::backend::Flex>, burn::backend::Flex>(
            shards,
            fit,
            &[device],
            &device,
            call,
            &when,
        )
        .map_err(|e| Error::Input { path: run.display().to_string(), reason: e.to_string() })?;
    if !outcome.finished {
        return Err(Error::Stopped(format!(
            "training stopped after step {} with a checkpoint in `{}`; rerun the same command to continue",
            outcome.steps,
            run.display()
        )));
    }
    let record = serde_json::json!({
        "trained_on": wanted,
        "windows": set.written,
        "skipped_nodata": set.skipped_nodata,
        "steps": outcome.steps,
        "resumed_from": outcome.resumed_from,
        "best": outcome.best.map(|(score, epoch)| serde_json::json!({ "score": score, "epoch": epoch })),
        "metric": fit.metric(),
        "validation": outcome.validation,
    });
    let bytes = serde_json::to_vec_pretty(&record).map_err(|e| Error::Grid(e.to_string()))?;
    write_file(&record_path, &bytes)?;
    Ok((record, false))
}
