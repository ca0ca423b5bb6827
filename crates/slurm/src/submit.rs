//! Submitting an emitted pipeline: `sbatch --parsable` per stage in order with `afterok` dependencies on the job
//! ids it printed, the ids recorded in `jobs.json`; resubmitting some tasks of one stage; waiting for the jobs.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::pipeline::{Resolved, write_atomic};

/// The file holding every submission of a pipeline folder.
pub const JOBS_JSON: &str = "jobs.json";

/// One `sbatch` call: the stage, its job id, the tasks it covers (`--array=` override) and when.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Submission {
    /// The stage.
    pub stage: String,
    /// The job id SLURM gave (the array's job id for an array).
    pub job_id: String,
    /// `--array=` when only some tasks were submitted.
    pub array: Option<String>,
    /// The job ids it waits for.
    pub after: Vec<String>,
    /// UTC time of submission.
    pub submitted: String,
}

/// Every submission of a pipeline folder, oldest first (`jobs.json`; empty when never submitted).
pub fn submissions(dir: &Path) -> Result<Vec<Submission>> {
    let path = dir.join(JOBS_JSON);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::Record { path: path.display().to_string(), message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", &path)(e)),
    }
}

fn record(dir: &Path, new: &[Submission]) -> Result<()> {
    let mut all = submissions(dir)?;
    all.extend_from_slice(new);
    let json = serde_json::to_vec_pretty(&all).map_err(|e| Error::config(JOBS_JSON, e.to_string()))?;
    write_atomic(&dir.join(JOBS_JSON), &json)
}

/// What to submit: the whole chain, or some tasks of one stage again (no dependencies).
#[derive(Clone, Debug, Default)]
pub struct SubmitOptions {
    /// Only this stage.
    pub stage: Option<String>,
    /// Only these tasks of it (`--array=` syntax: `2,5-6`).
    pub array: Option<String>,
    /// The `sbatch` program (default `sbatch` on the PATH).
    pub sbatch: Option<String>,
}

/// Submits the pipeline of `dir` (emitted before) and returns the submissions, also appended to `jobs.json`.
/// Variables the stages pass by name must be set here unless an `env_file` provides them: a missing one is an
/// error before anything is submitted.
pub fn submit(dir: &Path, options: &SubmitOptions) -> Result<Vec<Submission>> {
    let pipeline = Resolved::load(dir)?;
    let stages: Vec<&crate::pipeline::ResolvedStage> = if let Some(name) = &options.stage {
        vec![pipeline.stage(name)?]
    } else {
        if options.array.is_some() {
            return Err(Error::config("--array", "resubmitting some tasks needs --stage"));
        }
        pipeline.stages.iter().collect()
    };
    for stage in &stages {
        if let Some(array) = &options.array {
            let ids = crate::status::parse_task_list(array).map_err(|m| Error::config("--array", m))?;
            let known = stage.task_ids();
            if let Some(bad) = ids.iter().find(|i| !known.contains(i)) {
                return Err(Error::config(
                    "--array",
                    format!(
                        "task {bad} is not a task of stage `{}` ({})",
                        stage.name,
                        crate::status::task_list(&known)
                    ),
                ));
            }
        }
        if stage.job.env_file.is_none() {
            for name in stage.job.pass_env.iter().flatten() {
                if std::env::var_os(name).is_none() {
                    return Err(Error::config(
                        format!("stage `{}`", stage.name),
                        format!("`{name}` (pass_env) is not set in this environment; the job would fail at its start"),
                    ));
                }
            }
        }
    }
    let sbatch = options.sbatch.as_deref().unwrap_or("sbatch");
    let mut done: Vec<Submission> = Vec::new();
    for stage in stages {
        let after: Vec<String> = if options.array.is_some() || options.stage.is_some() {
            Vec::new()
        } else {
            stage.after.iter().filter_map(|a| done.iter().find(|s| &s.stage == a).map(|s| s.job_id.clone())).collect()
        };
        let mut cmd = Command::new(sbatch);
        cmd.arg("--parsable");
        if !after.is_empty() {
            cmd.arg("--kill-on-invalid-dep=yes").arg(format!("--dependency=afterok:{}", after.join(":")));
        }
        if let Some(array) = &options.array {
            cmd.arg(format!("--array={array}"));
        }
        cmd.arg(&stage.script);
        let line = format!("{sbatch} --parsable … {}", stage.script.display());
        let out = cmd.output().map_err(|e| Error::Slurm { command: line.clone(), message: e.to_string() })?;
        if !out.status.success() {
            // What was submitted before stays recorded, so `status` and `scancel` can find it.
            record(dir, &done)?;
            return Err(Error::Slurm {
                command: line,
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let job_id = stdout.trim().split(';').next().unwrap_or_default().to_owned();
        if job_id.is_empty() || !job_id.chars().all(|c| c.is_ascii_digit()) {
            record(dir, &done)?;
            return Err(Error::Slurm { command: line, message: format!("unexpected output `{}`", stdout.trim()) });
        }
        tracing::info!(stage = %stage.name, job_id, "submitted");
        done.push(Submission {
            stage: stage.name.clone(),
            job_id,
            array: options.array.clone(),
            after,
            submitted: eoforge_profile::utc_now(),
        });
    }
    record(dir, &done)?;
    Ok(done)
}

/// Waits until none of `jobs` is pending or running (`squeue`, polled every second).
pub fn wait(jobs: &[String]) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let list = jobs.join(",");
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%i", "-j", &list])
            .output()
            .map_err(|e| Error::Slurm { command: format!("squeue -j {list}"), message: e.to_string() })?;
        // squeue fails for ids it no longer knows; then they are gone too.
        if String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
