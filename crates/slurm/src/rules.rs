//! [`PartitionRule`]: what a site's partition accepts — whether it takes `--mem`, needs or refuses GPUs, its
//! longest time limit and its smallest node count — checked before anything is emitted.

use crate::error::{Error, Result};
use crate::job::JobSpec;
use crate::time::parse_time;

/// One partition's rules (a pipeline's `[partitions.NAME]` table, or a site file of such tables).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionRule {
    /// Whether the partition accepts `--mem` (some allocate memory by cores and reject jobs that ask).
    #[serde(default = "yes")]
    pub mem: bool,
    /// GPUs: `optional` (default), `required` or `forbidden`.
    #[serde(default)]
    pub gpus: GpuRule,
    /// The longest `--time` it accepts.
    pub max_time: Option<String>,
    /// The fewest nodes a job must ask for (the stage's `nodes` defaults to it).
    pub min_nodes: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Whether a partition's jobs must, may or must not ask for GPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuRule {
    /// GPUs may be asked for.
    #[default]
    Optional,
    /// Jobs must ask for at least one GPU.
    Required,
    /// Jobs must not ask for GPUs.
    Forbidden,
}

impl PartitionRule {
    /// Checks `job` (already merged over the defaults) against this rule and returns it as it will be emitted:
    /// `nodes` raised to `min_nodes` when unset, `mem` dropped when the partition rejects it and the stage did not
    /// ask for it itself (`own_mem`); an explicit conflict is an error naming the stage and partition.
    pub fn apply(&self, stage: &str, partition: &str, job: &JobSpec, own_mem: bool) -> Result<(JobSpec, Vec<String>)> {
        let rule = |message: String| Error::Rule { stage: stage.to_owned(), partition: partition.to_owned(), message };
        let mut job = job.clone();
        let mut notes = Vec::new();
        if !self.mem && job.mem.is_some() {
            if own_mem {
                return Err(rule("rejects --mem; remove `mem` from the stage (memory comes with the CPUs)".into()));
            }
            job.mem = None;
            notes.push(format!("--mem omitted: partition {partition} rejects it"));
        }
        let gpus = job.gpus.unwrap_or(0);
        match self.gpus {
            GpuRule::Required if gpus == 0 => return Err(rule("requires GPUs; set `gpus`".into())),
            GpuRule::Forbidden if gpus > 0 => return Err(rule(format!("has no GPUs, and the stage asks for {gpus}"))),
            _ => {}
        }
        if let Some(max) = &self.max_time {
            let max_s = parse_time(max).map_err(|e| rule(format!("max_time: {e}")))?;
            if let Some(time) = &job.time {
                let time_s = parse_time(time).map_err(|e| rule(format!("time: {e}")))?;
                if time_s > max_s {
                    return Err(rule(format!("time {time} is longer than the partition's limit {max}")));
                }
            }
        }
        if let Some(min) = self.min_nodes {
            match job.nodes {
                None => {
                    job.nodes = Some(min);
                    notes.push(format!("--nodes={min}: partition {partition} needs at least {min}"));
                }
                Some(n) if n < min => return Err(rule(format!("needs at least {min} nodes, the stage asks for {n}"))),
                Some(_) => {}
            }
        }
        Ok((job, notes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal() -> PartitionRule {
        PartitionRule { mem: false, gpus: GpuRule::Forbidden, max_time: Some("4-00:00:00".into()), min_nodes: Some(4) }
    }

    #[test]
    fn a_partition_that_rejects_mem_drops_the_default_and_refuses_the_stage_s_own() {
        let job = JobSpec { mem: Some("8G".into()), time: Some("1-00:00:00".into()), ..JobSpec::default() };
        let (emitted, notes) = normal().apply("finalize", "normal", &job, false).expect("default mem dropped");
        assert_eq!((emitted.mem, emitted.nodes), (None, Some(4)));
        assert_eq!(notes.len(), 2);
        let err = normal().apply("finalize", "normal", &job, true).expect_err("own mem");
        assert!(err.to_string().contains("stage `finalize`: partition `normal`: rejects --mem"), "{err}");
    }

    #[test]
    fn gpus_time_and_nodes_are_checked() {
        let gpu = JobSpec { gpus: Some(1), ..JobSpec::default() };
        assert!(normal().apply("s", "normal", &gpu, false).is_err());
        let accel = PartitionRule { gpus: GpuRule::Required, ..normal() };
        assert!(accel.apply("s", "accel", &JobSpec::default(), false).is_err());
        let long = JobSpec { time: Some("5-00:00:00".into()), ..JobSpec::default() };
        let err = normal().apply("s", "normal", &long, false).expect_err("too long");
        assert!(err.to_string().contains("longer than the partition's limit 4-00:00:00"), "{err}");
        let few = JobSpec { nodes: Some(2), ..JobSpec::default() };
        assert!(normal().apply("s", "normal", &few, false).is_err());
    }
}
