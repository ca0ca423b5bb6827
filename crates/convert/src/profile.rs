//! The `profile.json` of a conversion run: stage timings, throughput and peak memory.

use std::collections::BTreeMap;

/// Per-split figures.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SplitProfile {
    /// Seconds spent converting this split's shards.
    pub seconds: f64,
    /// Shards written by this run.
    pub shards_written: usize,
    /// Shards already done by an earlier run (resumed).
    pub shards_resumed: usize,
    /// Patches converted by this run.
    pub patches: usize,
    /// Bytes written by this run.
    pub bytes_out: u64,
}

/// A patch left out under `--on-error skip`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedPatch {
    /// The patch.
    pub patch_id: String,
    /// Why.
    pub reason: String,
}

/// Everything a user asks of a conversion run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Profile {
    /// `i/n` of this run.
    pub shard: String,
    /// Output root.
    pub out: String,
    /// Stage timings in seconds (`catalog_load`, `plan`, `convert`, `finalize`).
    pub stages: eoforge_profile::Stages,
    /// Per-split figures.
    pub splits: BTreeMap<String, SplitProfile>,
    /// Patches in the catalog.
    pub patches_in_catalog: usize,
    /// Patches in the plan (all workers).
    pub patches_planned: usize,
    /// Shards in the plan (all workers).
    pub shards_planned: usize,
    /// Patches converted by this run.
    pub patches_converted: usize,
    /// Total wall time in seconds.
    pub total_s: f64,
    /// Patches per second (this run's converted patches over the convert stage).
    pub patches_per_s: f64,
    /// Output megabytes (10⁶ bytes) per second over the convert stage.
    pub mb_per_s: f64,
    /// Peak resident memory of the process in MiB.
    pub peak_rss_mib: f64,
    /// Threads used to read patches.
    pub threads: usize,
    /// Whether every planned shard is now done (then `index.json` and `stats.json` are written).
    pub complete: bool,
    /// Whether the run stopped on request before its part was done (rerun to continue).
    pub stopped: bool,
    /// Patches skipped under `--on-error skip`, with the reason.
    pub skipped: Vec<SkippedPatch>,
}
