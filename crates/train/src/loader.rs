//! The streaming loader: one rank's batches of one epoch, produced on a worker thread.

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use eoforge_sampling::id_hash;
use eoforge_shards::{Sample, Tensor, read_parquet_shard, read_webdataset_tar};
use ndarray::{Array2, Array3, Array4};
use rayon::prelude::*;

use crate::augment::Dihedral;
use crate::decode::{decode_planes, element_size};
use crate::error::{Error, Result};
use crate::labels::LabelMapping;
use crate::run_dir::DataRecord;
use crate::shard_set::{ShardEntry, ShardSet};

/// What a [`Loader`] reads and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Split to read (`train`, `validation`, `test`).
    pub split: String,
    /// Samples per batch (the epoch's last batch may be smaller).
    pub batch_size: usize,
    /// Seed of the shard order, the shuffle buffer and the augmentation.
    pub seed: u64,
    /// Samples held in the shuffle buffer (0 or 1: no shuffling within a rank's stream).
    pub shuffle_buffer: usize,
    /// This rank, `0..world_size`.
    pub rank: usize,
    /// Data-parallel ranks; each gets the same number of samples per epoch.
    pub world_size: usize,
    /// Random flips and 90° rotations of inputs and masks.
    pub augment: bool,
    /// The input tensor (`s2`), normalised with the run's channel statistics ([`Loader::for_run`]; the shard
    /// set's with [`Loader::new`]).
    pub input: String,
    /// Batches prepared ahead of the consumer.
    pub prefetch: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            split: "train".into(),
            batch_size: 16,
            seed: 0,
            shuffle_buffer: 512,
            rank: 0,
            world_size: 1,
            augment: false,
            input: "s2".into(),
            prefetch: 4,
        }
    }
}

/// One batch: normalised inputs and whichever targets the samples hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Position of the batch in this rank's epoch, from 0.
    pub index: usize,
    /// Sample keys (patch ids), in batch order.
    pub keys: Vec<String>,
    /// Inputs `(n, channels, h, w)`, `(value − mean) / std` per channel.
    pub inputs: Array4<f32>,
    /// Multi-hot labels `(n, classes)` when the samples hold a `labels` tensor.
    pub labels: Option<Array2<f32>>,
    /// Per-pixel class indices `(n, h, w)` when the samples hold a `mask` tensor (augmented with the inputs):
    /// label values mapped through the run's class table, "no label" as [`crate::IGNORED`].
    pub masks: Option<Array3<i64>>,
    /// Per-pixel regression targets `(n, h, w)` in their own units when the samples hold a `target` tensor
    /// (augmented with the inputs); NaN where there is no value.
    pub targets: Option<Array3<f32>>,
    /// Frames per sample: `inputs` holds `channels × frames` planes, channel-major (1 for single dates).
    pub frames: usize,
    /// (year, day of year) per sample and frame (`n × frames` pairs) when the samples hold `dates`.
    pub dates: Option<Vec<[f32; 2]>>,
    /// (latitude, longitude) per sample when the samples hold `location`.
    pub location: Option<Vec<[f32; 2]>>,
}

impl Batch {
    /// The batch's dates and locations for a foundation model's coordinate encodings.
    pub fn coords(&self) -> eoforge_models::Coords {
        eoforge_models::Coords { temporal: self.dates.clone(), location: self.location.clone() }
    }
}

/// Batches of one split for one rank ([`LoaderConfig`]).
#[derive(Clone, Debug)]
pub struct Loader {
    set: Arc<ShardSet>,
    shards: Vec<ShardEntry>,
    config: LoaderConfig,
    scale: Arc<InputScale>,
    labels: Arc<LabelMapping>,
}

/// Per-channel mean and standard deviation inputs are normalised with.
#[derive(Debug)]
struct InputScale {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Loader {
    /// A loader over `set` normalising with the set's own statistics and mapping masks through its class table;
    /// settings that cannot work are refused naming the setting.
    pub fn new(set: ShardSet, config: LoaderConfig) -> Result<Self> {
        let record = DataRecord::of_set(&set, &set.store().url_of(""), None)?;
        Self::for_run(set, config, &record)
    }

    /// A loader over `set` that feeds a run: inputs normalised with the run's statistics and masks mapped through
    /// its class table, whatever the set's own say — so any set with the run's channels can be scored.
    pub fn for_run(set: ShardSet, config: LoaderConfig, run: &DataRecord) -> Result<Self> {
        let bad = |field, reason: String| Err(Error::Config { field, reason });
        if config.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if config.world_size == 0 || config.rank >= config.world_size {
            return bad("rank", format!("rank {} is not in a world of {}", config.rank, config.world_size));
        }
        let shards = set.shards(&config.split)?;
        let scale = InputScale {
            mean: run.mean.iter().map(|m| *m as f32).collect(),
            std: run.std.iter().map(|s| if *s as f32 > 0.0 { *s as f32 } else { 1.0 }).collect(),
        };
        let labels = Arc::new(run.label_mapping());
        let loader = Self { set: Arc::new(set), shards, config, scale: Arc::new(scale), labels };
        if loader.samples_per_rank() == 0 {
            let total: usize = loader.shards.iter().map(|s| s.samples).sum();
            return bad(
                "split",
                format!("`{}` has {total} samples, fewer than {} ranks", loader.config.split, loader.config.world_size),
            );
        }
        Ok(loader)
    }

    /// Samples every rank gets per epoch: the split's total divided by the ranks, rounded down (the epoch's last
    /// `total mod world_size` samples are dropped).
    pub fn samples_per_rank(&self) -> usize {
        self.shards.iter().map(|s| s.samples).sum::<usize>() / self.config.world_size
    }

    /// Batches per epoch for every rank.
    pub fn batches_per_epoch(&self) -> usize {
        self.samples_per_rank().div_ceil(self.config.batch_size)
    }

    /// This rank's part of `epoch`: the split's shards in the epoch's order, each with the range of its samples
    /// that falls in this rank's contiguous share.
    pub fn plan(&self, epoch: u64) -> Vec<(ShardEntry, Range<usize>)> {
        let mut order: Vec<&ShardEntry> = self.shards.iter().collect();
        order.sort_by_key(|s| (id_hash(&format!("shard-order/{epoch}/{}", s.name), self.config.seed), s.name.clone()));
        let share = self.samples_per_rank();
        let (lo, hi) = (self.config.rank * share, (self.config.rank + 1) * share);
        let mut start = 0;
        let mut plan = Vec::new();
        for shard in order {
            let (a, b) = (start.max(lo), (start + shard.samples).min(hi));
            if a < b {
                plan.push((shard.clone(), a - start..b - start));
            }
            start += shard.samples;
        }
        plan
    }

    /// This rank's batches of `epoch`.
    pub fn epoch(&self, epoch: u64) -> EpochBatches {
        self.epoch_from(epoch, 0)
    }

    /// This rank's batches of `epoch` from batch `first` on (resuming mid-epoch): the same batches an
    /// uninterrupted epoch gives from that point.
    ///
    /// Two threads work ahead of the consumer: a reader fetches the planned shards, shuffles and groups the samples
    /// of each batch; an assembler decodes each group into a batch on the rayon pool while the reader fetches on.
    pub fn epoch_from(&self, epoch: u64, first: usize) -> EpochBatches {
        let depth = self.config.prefetch.max(1);
        let (group_tx, group_rx) = sync_channel::<Result<Group>>(depth);
        let (tx, rx) = sync_channel(depth);
        let reader = self.clone();
        std::thread::spawn(move || {
            if let Err(e) = reader.read(epoch, first, &group_tx) {
                let _ = group_tx.send(Err(e));
            }
        });
        let assembler = self.clone();
        std::thread::spawn(move || {
            // Ends when the reader has sent its last group, after the first error, or once the consumer has gone
            // (dropping the receiver then stops the reader too).
            for group in group_rx {
                let batch = group.and_then(|(index, items)| assembler.batch(epoch, index, &items));
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        EpochBatches { rx }
    }

    /// The reader thread: fetches the planned shards, shuffles, and sends the samples of each batch from `first`
    /// on.
    fn read(&self, epoch: u64, first: usize, tx: &SyncSender<Result<Group>>) -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let seed = self.config.seed;
        let mut rng = SplitMix(id_hash(&format!("shuffle/{epoch}/{}", self.config.rank), seed));
        let cap = self.config.shuffle_buffer.max(1);
        let mut buffer: Vec<Item> = Vec::with_capacity(cap);
        let mut pending: Vec<Item> = Vec::with_capacity(self.config.batch_size);
        let mut index = 0;
        let mut bytes = Vec::new();
        // Adds a sample to the batch being filled; sends full batches (none before `first`). False once the
        // consumer has gone.
        let emit = |item: Item, pending: &mut Vec<Item>, index: &mut usize| -> bool {
            pending.push(item);
            if pending.len() < self.config.batch_size {
                return true;
            }
            let group = std::mem::replace(pending, Vec::with_capacity(self.config.batch_size));
            let sent = *index < first || tx.send(Ok((*index, group))).is_ok();
            *index += 1;
            sent
        };
        for (shard, range) in self.plan(epoch) {
            let url = self.set.store().url_of(&shard.file);
            rt.block_on(self.set.store().get_into(&shard.file, &mut bytes))?;
            let samples =
                if shard.is_parquet() { read_parquet_shard(&bytes, &url)? } else { read_webdataset_tar(&bytes, &url)? };
            if samples.len() != shard.samples {
                return Err(eoforge_shards::ReadError {
                    shard: url,
                    reason: format!("holds {} samples, index.json says {}", samples.len(), shard.samples),
                }
                .into());
            }
            let name: Arc<str> = url.into();
            for sample in samples.into_iter().skip(range.start).take(range.len()) {
                let item = (Arc::clone(&name), sample);
                let out = if cap == 1 {
                    item
                } else if buffer.len() < cap {
                    buffer.push(item);
                    continue;
                } else {
                    let j = (rng.next() % cap as u64) as usize;
                    std::mem::replace(&mut buffer[j], item)
                };
                if !emit(out, &mut pending, &mut index) {
                    return Ok(()); // the consumer stopped listening
                }
            }
        }
        while !buffer.is_empty() {
            let j = (rng.next() % buffer.len() as u64) as usize;
            let out = buffer.swap_remove(j);
            if !emit(out, &mut pending, &mut index) {
                return Ok(());
            }
        }
        if !pending.is_empty() && index >= first {
            let _ = tx.send(Ok((index, pending)));
        }
        Ok(())
    }

    /// Decodes, normalises and augments samples into a batch: every sample is checked first, then each is written
    /// straight into its place in the batch in one pass, samples in parallel.
    fn batch(&self, epoch: u64, index: usize, samples: &[Item]) -> Result<Batch> {
        let layouts: Vec<Layout<'_>> =
            samples.iter().map(|(shard, s)| self.layout(epoch, shard, s)).collect::<Result<_>>()?;
        let first = &layouts[0];
        for (l, (shard, s)) in layouts.iter().zip(samples) {
            if !l.matches(first) {
                return Err(shard_error(
                    shard,
                    &format!("sample `{}` differs in shape or tensors from `{}`", s.key, samples[0].1.key),
                ));
            }
        }
        let n = samples.len();
        let (planes, frames, height, width) = match first.input.shape[..] {
            [channels, rows, cols] => (channels, 1, rows, cols),
            [channels, count, rows, cols] => (channels * count, count, rows, cols),
            _ => unreachable!("checked by layout"),
        };
        let (c, h, w) = (planes, height, width);
        let (mean, std) = (&self.scale.mean, &self.scale.std);
        let mut inputs = vec![0f32; n * c * h * w];
        inputs.par_chunks_mut(c * h * w).zip(&layouts).for_each(|(out, l)| {
            decode_planes(l.input.dtype, &l.input.data, (h, w), l.transform, out, |k, v| {
                (v - mean[k / frames]) / std[k / frames]
            });
        });
        // Transposes keep the shape: they apply to square samples only.
        let inputs = Array4::from_shape_vec((n, c, h, w), inputs).map_err(|e| shard_error("batch", &e.to_string()))?;
        let labels = match first.labels {
            Some(first_labels) => {
                let width = first_labels.shape.iter().product::<usize>();
                let mut all = vec![0f32; n * width];
                for (out, layout) in all.chunks_exact_mut(width.max(1)).zip(&layouts) {
                    if let Some(l) = layout.labels {
                        decode_planes(l.dtype, &l.data, (1, width), Dihedral::IDENTITY, out, |_, v| v);
                    }
                }
                Some(Array2::from_shape_vec((n, width), all).map_err(|e| shard_error("batch", &e.to_string()))?)
            }
            None => None,
        };
        let masks = match first.mask {
            Some(_) => {
                let mut all = vec![0i64; n * h * w];
                all.par_chunks_mut(h * w).zip(&layouts).for_each(|(out, l)| {
                    if let Some(m) = l.mask {
                        decode_planes(m.dtype, &m.data, (h, w), l.transform, out, |_, v| v as i64);
                    }
                });
                for ((shard, sample), out) in samples.iter().zip(all.chunks_mut(h * w)) {
                    self.labels.apply(out).map_err(|value| {
                        shard_error(
                            shard,
                            &format!(
                                "sample `{}`: label value {value} is not one of the run's classes ({})",
                                sample.key,
                                self.labels.describe()
                            ),
                        )
                    })?;
                }
                Some(Array3::from_shape_vec((n, h, w), all).map_err(|e| shard_error("batch", &e.to_string()))?)
            }
            None => None,
        };
        let targets = match first.target {
            Some(_) => {
                let mut all = vec![0f32; n * h * w];
                all.par_chunks_mut(h * w).zip(&layouts).for_each(|(out, l)| {
                    if let Some(t) = l.target {
                        decode_planes(t.dtype, &t.data, (h, w), l.transform, out, |_, v| v);
                    }
                });
                Some(Array3::from_shape_vec((n, h, w), all).map_err(|e| shard_error("batch", &e.to_string()))?)
            }
            None => None,
        };
        let pairs = |pick: &dyn Fn(&Layout<'_>) -> Option<Tensor>| -> Option<Vec<[f32; 2]>> {
            pick(first)?;
            let mut out = Vec::new();
            for l in &layouts {
                let tensor = pick(l)?;
                let mut values = vec![0f32; tensor.shape.iter().product()];
                decode_planes(tensor.dtype, &tensor.data, (1, values.len()), Dihedral::IDENTITY, &mut values, |_, v| v);
                out.extend(values.chunks_exact(2).map(|p| [p[0], p[1]]));
            }
            Some(out)
        };
        let (dates, location) = (pairs(&|l| l.dates.cloned()), pairs(&|l| l.location.cloned()));
        Ok(Batch {
            index,
            keys: samples.iter().map(|(_, s)| s.key.clone()).collect(),
            inputs,
            labels,
            masks,
            targets,
            frames,
            dates,
            location,
        })
    }

    /// Checks a sample's tensors against the configuration and the channel statistics, and picks its augmentation.
    fn layout<'s>(&self, epoch: u64, shard: &str, sample: &'s Sample) -> Result<Layout<'s>> {
        let err = |reason: String| shard_error(shard, &format!("sample `{}`: {reason}", sample.key));
        let find = |name: &str| sample.tensors.iter().find(|t| t.name == name);
        let sized = |t: &Tensor, what: &str| -> Result<()> {
            let size = element_size(t.dtype).ok_or_else(|| err(format!("`{what}` has dtype {}", t.dtype)))?;
            if t.data.len() == t.shape.iter().product::<usize>() * size {
                Ok(())
            } else {
                Err(err(format!("`{what}` holds {} bytes, its shape {:?} needs {size} each", t.data.len(), t.shape)))
            }
        };
        let input = find(&self.config.input).ok_or_else(|| err(format!("no `{}` tensor", self.config.input)))?;
        let ([c, h, w] | [c, _, h, w]) = input.shape[..] else {
            return Err(err(format!(
                "`{}` has shape {:?}, expected (channels, h, w) or (channels, frames, h, w)",
                input.name, input.shape
            )));
        };
        if c != self.scale.mean.len() {
            return Err(err(format!(
                "`{}` has {c} channels, the statistics it is normalised with {}",
                input.name,
                self.scale.mean.len()
            )));
        }
        sized(input, &input.name)?;
        let labels = find("labels");
        if let Some(l) = labels {
            sized(l, "labels")?;
        }
        let mask = find("mask");
        if let Some(m) = mask {
            if m.shape != [h, w] {
                return Err(err(format!("`mask` has shape {:?}, the input {h}x{w}", m.shape)));
            }
            sized(m, "mask")?;
        }
        let target = find("target");
        if let Some(t) = target {
            if t.shape != [h, w] {
                return Err(err(format!("`target` has shape {:?}, the input {h}x{w}", t.shape)));
            }
            sized(t, "target")?;
        }
        let frames = if input.shape.len() == 4 { input.shape[1] } else { 1 };
        let dates = find("dates");
        if let Some(d) = dates {
            if d.shape != [frames, 2] {
                return Err(err(format!("`dates` has shape {:?}, expected ({frames}, 2)", d.shape)));
            }
            sized(d, "dates")?;
        }
        let location = find("location");
        if let Some(l) = location {
            if l.shape != [2] {
                return Err(err(format!("`location` has shape {:?}, expected (2)", l.shape)));
            }
            sized(l, "location")?;
        }
        let transform = if self.config.augment {
            Dihedral::from_index(id_hash(&format!("augment/{epoch}/{}", sample.key), self.config.seed))
        } else {
            Dihedral::IDENTITY
        };
        Ok(Layout { input, labels, mask, target, dates, location, transform })
    }
}

/// A shard's URL and one of its samples.
type Item = (Arc<str>, Sample);

/// The samples of one batch and the batch's position in the epoch.
type Group = (usize, Vec<Item>);

/// A sample's checked tensors and its augmentation.
struct Layout<'s> {
    input: &'s Tensor,
    labels: Option<&'s Tensor>,
    mask: Option<&'s Tensor>,
    target: Option<&'s Tensor>,
    dates: Option<&'s Tensor>,
    location: Option<&'s Tensor>,
    transform: Dihedral,
}

impl Layout<'_> {
    /// Whether two samples can share a batch: the same input shape and the same target tensors.
    fn matches(&self, other: &Self) -> bool {
        self.input.shape == other.input.shape
            && self.labels.map(|l| &l.shape) == other.labels.map(|l| &l.shape)
            && self.mask.is_some() == other.mask.is_some()
            && self.target.is_some() == other.target.is_some()
            && self.dates.is_some() == other.dates.is_some()
            && self.location.is_some() == other.location.is_some()
    }
}

fn shard_error(shard: &str, reason: &str) -> Error {
    Error::Shard(eoforge_shards::ReadError { shard: shard.to_owned(), reason: reason.to_owned() })
}

/// A seeded pseudo-random stream (SplitMix64) for the shuffle buffer.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The batches of one epoch, in order, as the worker thread produces them; dropping it stops the worker.
pub struct EpochBatches {
    rx: Receiver<Result<Batch>>,
}

impl Iterator for EpochBatches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv().ok()
    }
}
