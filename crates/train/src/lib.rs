/*!
Training for eoforge: the data side, metrics, optimisation helpers and the training loop.

# Brief overview
- [`ShardSet`]: a shard set written by `eoforge-prep shard` (local or `s3://`): its `index.json` (shards and
  sample counts per split) and `stats.json` (channel means and standard deviations).
- [`Loader`] ([`LoaderConfig`]): batches for one rank of one epoch. The split's shards are put in an order drawn
  from (seed, epoch); their samples, concatenated, are cut into `world_size` equal contiguous parts (the last
  `total mod world_size` samples of the epoch are dropped, so every rank gets the same count and no rank waits
  on a collective); each rank reads only the shards its part overlaps, passes its samples through a seeded
  shuffle buffer, normalises inputs with the run's statistics ([`DataRecord`]), maps mask values to class
  indices through the run's class table ([`LabelMapping`]) and applies a dihedral augmentation drawn
  from (seed, epoch, key). Shards are fetched, decoded and batched on a worker thread while the caller trains.
- [`MultiLabelMetrics`]: micro/macro F1 and micro/macro mAP (average precision as scikit-learn computes it);
  [`ConfusionMatrix`]: pixel accuracy, per-class IoU and F1, mean IoU, with an ignore value.
- [`cross_entropy`] with class weights and a true ignore index, and [`dice`]: segmentation losses on
  `(pixels, classes)` logits.
- [`degrade_area`], [`psnr`], [`ssim`], [`SrScores`]: super-resolution training pairs (area averaging) and
  per-band scores as scikit-image computes them, beside bicubic's.
- [`WarmupCosine`]: the learning rate as a pure function of the step; [`clip_grad_norm`]: clipping by the
  global norm over every parameter (burn clips each tensor alone).
- [`fit`] ([`FitConfig`], [`ModelConfig`]): the loop for both families — the multi-label classifier (BCE on
  logits; micro/macro F1 and mAP) and the U-Net (cross-entropy with class weights and an ignore value, optional
  Dice; pixel accuracy, IoU, F1, confusion matrix): AdamW, the schedule, clipping, validation per epoch in
  `metrics.jsonl`, the best checkpoint by a chosen metric, full-precision checkpoints every N steps and at epoch
  ends (model, optimiser, loader position) from which a stopped run resumes to the same weights.
- [`fit_on`], [`replica_gradients`]: data-parallel training over several devices (or logical replicas on one):
  every global batch cut into equal [`shares`], gradients summed, one optimiser step; [`LrScaling`].
- [`RunDir`]: a run directory being trained — its configuration (defaults, a file over them, flags over both),
  `run.json`, `profile.json` ([`FitProfile`]), `errors.log` and pictures around [`fit_on`].
- [`TrainedRun`] ([`DataRecord`]): a finished run directory read back — configuration, channels and
  normalisation, classes, weights — to score or apply the network elsewhere.
- [`export_safetensors`], [`import_safetensors`]: a run's weights to and from safetensors shared with PyTorch
  (stable names, the run's configuration in the header, a report of applied, missing and unused tensors).
- [`draw_run`]: `curves.png` (loss per step, validation metric per epoch) and `samples.png` (validation
  windows: input RGB, label, prediction) in a finished run directory.
- [`Trainable`]: how a network family turns a batch into a loss and scores; [`evaluate`] scores a split.
- Every random choice is a function of (seed, epoch, rank, key), never of thread timing: the same
  configuration gives the same batches, and [`Loader::epoch_from`] replays an epoch from any batch.
*/
#![deny(missing_docs)]

mod augment;
mod baseline;
mod config;
mod decode;
mod error;
mod fit;
mod interop;
mod labels;
mod loader;
mod losses;
mod lr_groups;
mod metrics;
mod objective;
mod optimize;
mod parallel;
mod pictures;
mod regression;
mod run_dir;
mod run_files;
mod shard_set;
mod sr_metrics;
mod suite;

pub use crate::augment::Dihedral;
pub use crate::baseline::trivial_baseline;
pub use crate::config::{FitConfig, LossConfig, ModelConfig, RegressionLoss};
pub use crate::error::{Error, Result};
pub use crate::fit::{FitOutcome, StepProgress, StopWhen, fit, fit_on, task_of};
pub use crate::interop::{FeatureFiles, export_safetensors, import_safetensors, write_vit_features};
pub use crate::labels::{IGNORED, LabelMapping};
pub use crate::loader::{Batch, EpochBatches, Loader, LoaderConfig};
pub use crate::losses::{cross_entropy, dice};
pub use crate::lr_groups::LrGroups;
pub use crate::metrics::{ConfusionMatrix, MultiLabelMetrics, MultiLabelReport, SegmentationReport};
pub use crate::objective::{
    ChannelScale, PatchLogits, PixelLogits, Report, Scores, SrReport, SrTotals, Task, Trainable, VitRegressor,
    evaluate, predict_classes,
};
pub use crate::optimize::{WarmupCosine, clip_grad_norm};
pub use crate::parallel::{LrScaling, replica_gradients, share_of, shares};
pub use crate::pictures::draw_run;
pub use crate::regression::{RegressionReport, RegressionTotals};
pub use crate::run_dir::{DataRecord, RunState, TrainedRun};
pub use crate::run_files::{CallRecord, FitOverrides, FitProfile, RunDir, default_model};
pub use crate::shard_set::{ShardEntry, ShardSet, TargetRecord};
pub use crate::sr_metrics::{SrScores, degrade_area, psnr, ssim};
pub use crate::suite::{
    Backbone, SuiteConfig, SuiteReport, SuiteRow, SuiteRun, SuiteTask, TaskKind, compare_suites, run_suite,
    suite_report,
};
