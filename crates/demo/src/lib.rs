/*!
The main job of eoforge (`make demo`): one scene through every stage — ingest into a store (local or S3),
catalog, preflight, windows to shards, U-Net training and evaluation, tiled inference into a class-map COG,
derived maps, QC and publish — each stage a child process of the eoforge binaries, so the report shows the real
commands with their wall time, CPU time and peak memory. [`run_demo`] ends with an HTML report
(`report/index.html`): PNG previews, the metrics beside the trivial baseline, every QC check, every stage and
where every output lies.
*/
#![deny(missing_docs)]

mod error;
mod job;
mod metrics;
mod report;
mod stage;

pub use crate::error::{Error, Result};
pub use crate::job::{BandRoles, DemoOptions, DemoOutcome, run_demo};
pub use crate::metrics::{ClassScore, ConfusionSummary, baseline_confusion};
pub use crate::report::{Figure, MetricRow, QcVerdict, Report, escape, render_html};
pub use crate::stage::{Stage, StageRecord, Throughput, command_line, run_stage};
pub use eoforge_raster::preview::{MAX_SIDE, Preview, class_preview, ramp, ramp_preview, rgb_preview};
