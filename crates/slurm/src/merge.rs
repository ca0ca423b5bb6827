//! [`merged_profile`]: the profiles of every task of a pipeline merged into one — per task wall and CPU time,
//! peak memory, work and throughput; per stage the slowest task and the core-hours spent (every attempt counts).

use std::path::Path;

use crate::error::Result;
use crate::pipeline::Resolved;
use crate::status::{read_attempts, read_record};

/// One task's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TaskProfile {
    /// The task id.
    pub task: u32,
    /// Its final state.
    pub state: String,
    /// Wall seconds of its last attempt.
    pub wall_s: f64,
    /// Wall seconds over every attempt.
    pub wall_s_all_attempts: f64,
    /// Attempts (1 + requeues).
    pub attempts: usize,
    /// CPUs allocated.
    pub cpus: u32,
    /// CPU seconds the stage used in its last attempt, when it reported them.
    pub cpu_s: Option<f64>,
    /// Peak resident memory in MiB of its last attempt, when reported.
    pub peak_rss_mib: Option<f64>,
    /// Work done in the last attempt (`count`, `unit`), when reported.
    pub work: Option<eoforge_profile::Work>,
    /// Work per wall second of the last attempt, in the work's unit.
    pub throughput: Option<f64>,
    /// The node.
    pub host: String,
}

/// One stage's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StageProfile {
    /// The stage.
    pub stage: String,
    /// Every task that wrote a record.
    pub tasks: Vec<TaskProfile>,
    /// The slowest task by wall time, and its seconds.
    pub slowest_task: Option<(u32, f64)>,
    /// Allocated core-hours over every attempt of every task.
    pub core_hours: f64,
    /// Work done by all tasks, in their unit.
    pub work: Option<f64>,
    /// The work's unit.
    pub work_unit: Option<String>,
    /// First start to last end, seconds.
    pub span_s: f64,
}

/// The merged profile of a pipeline.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PipelineProfile {
    /// The pipeline.
    pub pipeline: String,
    /// Every stage.
    pub stages: Vec<StageProfile>,
    /// Core-hours over all stages.
    pub core_hours: f64,
}

/// Merges the task records of the pipeline in `dir` and writes them to `DIR/profile.json` (atomically).
pub fn write_merged_profile(dir: &Path) -> Result<(PipelineProfile, std::path::PathBuf)> {
    let profile = merged_profile(dir)?;
    let path = dir.join("profile.json");
    let json = serde_json::to_vec_pretty(&profile).map_err(|e| crate::Error::config("profile", e.to_string()))?;
    crate::pipeline::write_atomic(&path, &json)?;
    Ok((profile, path))
}

/// Merges the task records of the pipeline in `dir`.
pub fn merged_profile(dir: &Path) -> Result<PipelineProfile> {
    let pipeline = Resolved::load(dir)?;
    let mut stages = Vec::new();
    for stage in &pipeline.stages {
        let records = stage.records(dir);
        let mut tasks = Vec::new();
        let (mut core_s, mut first, mut last) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
        let (mut work, mut unit): (Option<f64>, Option<String>) = (None, None);
        for task in stage.task_ids() {
            let Some(record) = read_record(&records, task)? else { continue };
            let attempts = read_attempts(&records, task)?;
            let all: Vec<_> = if attempts.is_empty() { vec![record.clone()] } else { attempts };
            for a in &all {
                core_s += (a.ended - a.started).max(0.0) * f64::from(a.cpus);
                first = first.min(a.started);
                last = last.max(a.ended);
            }
            let wall_s = (record.ended - record.started).max(0.0);
            let run = record.run.as_ref();
            let task_work = run.and_then(|r| r.work.clone());
            let count = task_work.as_ref().map(|w| w.count);
            if let Some(w) = &task_work {
                *work.get_or_insert(0.0) += w.count;
                unit = unit.or_else(|| Some(w.unit.clone()));
            }
            let run_wall = run.map_or(wall_s, |r| r.wall_s);
            tasks.push(TaskProfile {
                task,
                state: record.state.clone(),
                wall_s,
                wall_s_all_attempts: all.iter().map(|a| (a.ended - a.started).max(0.0)).sum(),
                attempts: all.len(),
                cpus: record.cpus,
                cpu_s: run.and_then(|r| r.cpu_s),
                peak_rss_mib: run.and_then(|r| r.peak_rss_mib),
                throughput: count.map(|c| c / run_wall.max(1e-3)),
                work: task_work,
                host: record.host.clone(),
            });
        }
        let slowest_task = tasks.iter().max_by(|a, b| a.wall_s.total_cmp(&b.wall_s)).map(|t| (t.task, t.wall_s));
        stages.push(StageProfile {
            stage: stage.name.clone(),
            slowest_task,
            core_hours: core_s / 3600.0,
            work,
            work_unit: unit,
            span_s: if tasks.is_empty() { 0.0 } else { last - first },
            tasks,
        });
    }
    let core_hours = stages.iter().map(|s| s.core_hours).sum();
    Ok(PipelineProfile { pipeline: pipeline.name, stages, core_hours })
}
