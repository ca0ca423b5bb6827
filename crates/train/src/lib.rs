/*!
Training for eoforge: the data side, metrics, optimisation helpers and the training loop.

# Brief overview
- [`ShardSet`]: a shard set written by `eoforge-prep shard` (local or `s3://`): its `index.json` (shards and
  sample counts per split) and `stats.json` (channel means and standard deviations).
- [`Loader`] ([`LoaderConfig`]): batches for one rank of one epoch. The split's shards are put in an order drawn
  from (seed, epoch); their samples, concatenated, are cut into `world_size` equal contiguous parts (the last
  `total mod world_size` samples of the epoch are dropped, so every rank gets the same count and no rank waits
  on a collective); each rank reads only the shards its part overlaps, passes its samples through a seeded
  shuffle buffer, normalises inputs with the shard set's statistics and applies a dihedral augmentation drawn
  from (seed, epoch, key). Shards are fetched, decoded and batched on a worker thread while the caller trains.
- [`MultiLabelMetrics`]: micro/macro F1 and micro/macro mAP (average precision as scikit-learn computes it);
  [`ConfusionMatrix`]: pixel accuracy, per-class IoU and F1, mean IoU, with an ignore value.
- [`cross_entropy`] with class weights and a true ignore index, and [`dice`]: segmentation losses on
  `(pixels, classes)` logits.
- [`WarmupCosine`]: the learning rate as a pure function of the step; [`clip_grad_norm`]: clipping by the
  global norm over every parameter (burn clips each tensor alone).
- [`fit`] ([`FitConfig`]): the loop for the multi-label classifier: AdamW, the schedule, clipping, BCE on
  logits, validation micro/macro F1 and mAP per epoch in `metrics.jsonl`, full-precision checkpoints every N steps
  and at epoch ends (model, optimiser, loader position) from which a stopped run resumes to the same weights.
- Every random choice is a function of (seed, epoch, rank, key), never of thread timing: the same
  configuration gives the same batches, and [`Loader::epoch_from`] replays an epoch from any batch.
*/
#![deny(missing_docs)]

mod augment;
mod error;
mod fit;
mod loader;
mod losses;
mod metrics;
mod optimize;
mod shard_set;

pub use crate::augment::Dihedral;
pub use crate::error::{Error, Result};
pub use crate::fit::{FitConfig, FitOutcome, StopWhen, evaluate, fit};
pub use crate::loader::{Batch, EpochBatches, Loader, LoaderConfig};
pub use crate::losses::{cross_entropy, dice};
pub use crate::metrics::{ConfusionMatrix, MultiLabelMetrics, MultiLabelReport, SegmentationReport};
pub use crate::optimize::{WarmupCosine, clip_grad_norm};
pub use crate::shard_set::{ShardEntry, ShardSet};
