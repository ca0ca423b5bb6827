//! [`status`]: where every task of an emitted pipeline stands, from the records its scripts wrote (done, failed,
//! stopped, requeued) and, when `sacct` answers, SLURM's own job states beside them; what to resubmit.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::pipeline::Resolved;
use crate::submit::submissions;

/// The record a task's script writes when its stage ends (`tasks/<stage>/<task>.json`, and every attempt in
/// `<task>.attempts.jsonl`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskRecord {
    /// The stage.
    pub stage: String,
    /// The task id (0 for a single job).
    pub task: u32,
    /// Its part, `i/n`.
    pub shard: String,
    /// SLURM's job id of the task.
    pub job_id: String,
    /// The array's job id.
    pub array_job_id: String,
    /// The node.
    pub host: String,
    /// Unix seconds at the stage's start.
    pub started: f64,
    /// Unix seconds at its end.
    pub ended: f64,
    /// The stage's exit status (75: stopped on request).
    pub exit_code: i32,
    /// `done`, `failed`, `stopped` (on request, no requeue left) or `requeued`.
    pub state: String,
    /// How many times SLURM had requeued the task before this attempt.
    pub restarts: u32,
    /// CPUs allocated to the task.
    pub cpus: u32,
    /// The stage's own run record (exit code, wall and CPU seconds, peak memory, work done), when it wrote one.
    pub run: Option<eoforge_profile::RunRecord>,
}

/// Reads one task's latest record, if it has one.
pub fn read_record(records: &Path, task: u32) -> Result<Option<TaskRecord>> {
    let path = records.join(format!("{task}.json"));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Record { path: path.display().to_string(), message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path)(e)),
    }
}

/// Every attempt of one task, oldest first.
pub fn read_attempts(records: &Path, task: u32) -> Result<Vec<TaskRecord>> {
    let path = records.join(format!("{task}.attempts.jsonl"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| Error::Record { path: path.display().to_string(), message: e.to_string() })
        })
        .collect()
}

/// One task's standing.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TaskStatus {
    /// The task id.
    pub task: u32,
    /// `done`, `failed`, `stopped` (on request, no requeue left), `requeued`, `running`, `pending` (no record
    /// yet), or SLURM's state in lower case when it ended the task before the stage wrote a record
    /// (`cancelled`, `timeout`, `out_of_memory`, …).
    pub state: String,
    /// SLURM's state of its latest job (`COMPLETED`, `FAILED`, `RUNNING`, `PENDING`, `CANCELLED`, `TIMEOUT`, …)
    /// when `sacct` answered.
    pub slurm: Option<String>,
    /// Its exit status, when it ended.
    pub exit_code: Option<i32>,
    /// Times requeued.
    pub restarts: u32,
}

/// One stage's standing.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StageStatus {
    /// The stage.
    pub stage: String,
    /// Every task.
    pub tasks: Vec<TaskStatus>,
    /// Task ids done.
    pub done: Vec<u32>,
    /// Task ids that ended without success (failed, stopped with no requeue left, cancelled, timed out, …).
    pub failed: Vec<u32>,
    /// Task ids still to come (pending, running, requeued).
    pub remaining: Vec<u32>,
    /// The `--array=` list to resubmit (failed and never-started tasks whose jobs are gone), if any.
    pub resubmit: Option<String>,
}

/// A pipeline's standing.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Status {
    /// The pipeline.
    pub pipeline: String,
    /// Whether `sacct` answered.
    pub sacct: bool,
    /// Every stage, in order.
    pub stages: Vec<StageStatus>,
}

impl Status {
    /// Whether every task of every stage is done.
    pub fn complete(&self) -> bool {
        self.stages.iter().all(|s| s.failed.is_empty() && s.remaining.is_empty())
    }
}

/// The standing of the pipeline in `dir`; with `sacct` (a program name, usually `sacct`) SLURM's job states of
/// its submissions are added, and tasks whose job SLURM ended without a record (cancelled, timed out, killed
/// for memory) count as failed.
pub fn status(dir: &Path, sacct: Option<&str>) -> Result<Status> {
    let pipeline = Resolved::load(dir)?;
    let subs = submissions(dir)?;
    let states = match sacct {
        Some(program) if !subs.is_empty() => {
            let ids: Vec<&str> = subs.iter().map(|s| s.job_id.as_str()).collect();
            slurm_states(program, &ids)
        }
        _ => None,
    };
    let mut stages = Vec::new();
    for stage in &pipeline.stages {
        let records = stage.records(dir);
        let jobs: Vec<&str> = subs.iter().filter(|s| s.stage == stage.name).map(|s| s.job_id.as_str()).collect();
        let mut tasks = Vec::new();
        for task in stage.task_ids() {
            let record = read_record(&records, task)?;
            // The latest submission that knows this task decides SLURM's state.
            let slurm = states.as_ref().and_then(|states| {
                jobs.iter().rev().find_map(|job| {
                    let key = if stage.array.is_some() { format!("{job}_{task}") } else { (*job).to_owned() };
                    states.get(&key).cloned()
                })
            });
            let running = slurm.as_deref().is_some_and(|s| {
                ["RUNNING", "PENDING", "REQUEUED", "RESIZING", "SUSPENDED"].iter().any(|f| s.starts_with(f))
            });
            let state = match &record {
                // A newer attempt is under way.
                _ if running => "running".to_owned(),
                // Requeued, but SLURM holds no job for it any more: it stopped for good.
                Some(r) if r.state == "requeued" && slurm.is_some() => "stopped".to_owned(),
                Some(r) => r.state.clone(),
                // SLURM ended it before the stage could write a record (cancelled, timed out, out of memory…).
                None => match slurm.as_deref() {
                    Some(s) if s != "COMPLETED" => s.to_ascii_lowercase(),
                    _ => "pending".to_owned(),
                },
            };
            tasks.push(TaskStatus {
                task,
                exit_code: record.as_ref().map(|r| r.exit_code),
                restarts: record.as_ref().map_or(0, |r| r.restarts),
                state,
                slurm,
            });
        }
        let pick = |f: &dyn Fn(&TaskStatus) -> bool| tasks.iter().filter(|t| f(t)).map(|t| t.task).collect::<Vec<_>>();
        let done = pick(&|t| t.state == "done");
        let open = |t: &TaskStatus| matches!(t.state.as_str(), "pending" | "running" | "requeued");
        let failed = pick(&|t| t.state != "done" && !open(t));
        let remaining = pick(&|t| open(t));
        // Resubmit what failed, and what never ran once SLURM no longer holds a job for it.
        let mut again = failed.clone();
        if states.is_some() {
            again.extend(
                tasks.iter().filter(|t| t.state == "pending" && !jobs.is_empty() && t.slurm.is_none()).map(|t| t.task),
            );
        }
        again.sort_unstable();
        stages.push(StageStatus {
            stage: stage.name.clone(),
            resubmit: (!again.is_empty()).then(|| task_list(&again)),
            tasks,
            done,
            failed,
            remaining,
        });
    }
    Ok(Status { pipeline: pipeline.name, sacct: states.is_some(), stages })
}

/// SLURM's states of the jobs (and array tasks: `123_4`) from `sacct`, or `None` when it does not answer.
fn slurm_states(program: &str, jobs: &[&str]) -> Option<BTreeMap<String, String>> {
    let out =
        Command::new(program).args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &jobs.join(",")]).output().ok()?;
    if !out.status.success() {
        tracing::warn!("sacct failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    let mut states = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((id, state)) = line.split_once('|') {
            // `CANCELLED by 0` → `CANCELLED`; the last line of a requeued job is its latest run.
            let state = state.split_whitespace().next().unwrap_or_default().to_owned();
            states.insert(id.trim().to_owned(), state);
        }
    }
    Some(states)
}

/// Task ids as an `--array=` list, runs joined: `[1, 2, 3, 7]` → `1-3,7`.
pub fn task_list(ids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}-{}", ids[i], ids[j]) } else { ids[i].to_string() });
        i = j + 1;
    }
    parts.join(",")
}

/// Parses an `--array=` list (`1-3,7`; no steps or throttles) into task ids.
pub fn parse_task_list(text: &str) -> std::result::Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    for part in text.split(',') {
        let num = |s: &str| s.trim().parse::<u32>().map_err(|_| format!("`{text}` is not a task list like 1-3,7"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("`{part}` runs backwards"));
                }
                ids.extend(a..=b);
            }
            None => ids.push(num(part)?),
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_lists_round_trip() {
        assert_eq!(task_list(&[1, 2, 3, 7, 9, 10]), "1-3,7,9-10");
        assert_eq!(task_list(&[4]), "4");
        assert_eq!(parse_task_list("1-3,7,9-10"), Ok(vec![1, 2, 3, 7, 9, 10]));
        assert!(parse_task_list("3-1").is_err() && parse_task_list("a").is_err() && parse_task_list("").is_err());
    }
}
