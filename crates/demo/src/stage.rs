//! One stage of the main job: a child process of an eoforge binary, with its wall time, CPU time and peak memory
//! from the run record every binary writes at exit (`EOFORGE_RUN_RECORD`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{Error, Result};

/// A stage to run: a program and its arguments (never secrets: credentials stay in the inherited environment).
#[derive(Clone, Debug)]
pub struct Stage {
    /// Short name (`windows`, `train`, …), also the stem of its log files.
    pub name: String,
    /// What it does, in words, for the report.
    pub what: String,
    /// The binary.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Work done per second by a stage, with its unit (`Mpx/s`, `windows/s`, …).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Throughput {
    /// Amount per second.
    pub value: f64,
    /// Unit.
    pub unit: String,
}

/// What a stage did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StageRecord {
    /// Short name.
    pub name: String,
    /// What it does.
    pub what: String,
    /// The command line, shell-quoted.
    pub command: String,
    /// Exit status.
    pub exit_code: i32,
    /// Wall seconds, measured around the process.
    pub wall_s: f64,
    /// User + system CPU seconds of the process, when it reported them.
    pub cpu_s: Option<f64>,
    /// Peak resident memory of the process in MiB, when it reported it.
    pub peak_rss_mib: Option<f64>,
    /// Work per second, filled in by the job once it knows the amount.
    pub throughput: Option<Throughput>,
    /// Where its standard output was saved.
    pub stdout_file: PathBuf,
    /// The `error: …` line of a failed stage.
    pub error: Option<String>,
}

impl StageRecord {
    /// Sets the throughput from an amount of work done in the stage's wall time.
    pub fn set_work(&mut self, amount: f64, unit: &str) {
        self.throughput = Some(Throughput { value: amount / self.wall_s.max(1e-9), unit: unit.to_owned() });
    }

    /// The stage's standard output parsed as JSON.
    pub fn stdout_json(&self) -> Result<serde_json::Value> {
        let text = std::fs::read_to_string(&self.stdout_file).map_err(|e| Error::io(&self.stdout_file, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Output {
            path: self.stdout_file.display().to_string(),
            reason: format!("stage `{}` did not print JSON: {e}", self.name),
        })
    }
}

/// Runs `stage` with its standard output saved under `logs` and its standard error on ours (progress bars stay
/// visible). A stage that exits non-zero is returned with its error line; the caller decides what follows.
pub fn run_stage(stage: &Stage, logs: &Path) -> Result<StageRecord> {
    std::fs::create_dir_all(logs).map_err(|e| Error::io(logs, e))?;
    let stdout_file = logs.join(format!("{}.stdout", stage.name));
    let record_file = logs.join(format!("{}.record.json", stage.name));
    let _ = std::fs::remove_file(&record_file);
    let command = command_line(&stage.program, &stage.args);
    let stdout = std::fs::File::create(&stdout_file).map_err(|e| Error::io(&stdout_file, e))?;
    let start = Instant::now();
    let status = Command::new(&stage.program)
        .args(&stage.args)
        .env(eoforge_cli::RUN_RECORD_ENV, &record_file)
        .stdin(Stdio::null())
        .stdout(stdout)
        .status()
        .map_err(|e| Error::Stage {
            stage: stage.name.clone(),
            command: command.clone(),
            status: "did not start".into(),
            message: format!("{}: {e}", stage.program.display()),
        })?;
    let wall_s = start.elapsed().as_secs_f64();
    let record = eoforge_profile::RunRecord::read(&record_file);
    let exit_code = status.code().unwrap_or(-1);
    let error = record.as_ref().and_then(|r| r.error.clone()).or_else(|| {
        (!status.success()).then(|| format!("exited with {status} without an error line (killed by a signal?)"))
    });
    Ok(StageRecord {
        name: stage.name.clone(),
        what: stage.what.clone(),
        command,
        exit_code,
        wall_s,
        cpu_s: record.as_ref().and_then(|r| r.cpu_s),
        peak_rss_mib: record.as_ref().and_then(|r| r.peak_rss_mib),
        throughput: None,
        stdout_file,
        error,
    })
}

/// `program arg …` with arguments quoted for a POSIX shell where they need it.
pub fn command_line(program: &Path, args: &[String]) -> String {
    let name = program.file_name().map_or_else(|| program.display().to_string(), |n| n.to_string_lossy().into_owned());
    std::iter::once(name).chain(args.iter().map(|a| shell_quote(a))).collect::<Vec<_>>().join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain { arg.to_owned() } else { format!("'{}'", arg.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_for_a_shell() {
        let line = command_line(Path::new("/x/bin/eoforge-prep"), &["cp".into(), "a b".into(), "it's".into()]);
        assert_eq!(line, r"eoforge-prep cp 'a b' 'it'\''s'");
    }

    #[test]
    fn a_failing_process_is_recorded_with_its_status() {
        let dir = tempfile::tempdir().expect("test setup");
        let stage = Stage {
            name: "false".into(),
            what: "fails".into(),
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), "echo '{\"a\": 1}'; exit 3".into()],
        };
        let record = run_stage(&stage, dir.path()).expect("test setup");
        assert_eq!(record.exit_code, 3);
        assert!(record.error.as_deref().is_some_and(|e| e.contains("exit status: 3")), "{:?}", record.error);
        assert_eq!(record.stdout_json().expect("test setup")["a"], 1);
        assert!(record.peak_rss_mib.is_none());
        let missing = Stage { program: PathBuf::from("/nonexistent/eoforge-x"), ..stage };
        let err = run_stage(&missing, dir.path()).expect_err("must fail").to_string();
        assert!(err.contains("/nonexistent/eoforge-x") && err.contains("did not start"), "{err}");
    }
}
