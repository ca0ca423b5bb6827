//! [`Pipeline`]: stages (a stage command each, an optional array, what it waits for) read from a TOML file or
//! built from flags, checked against the partitions' rules and resolved into a [`Resolved`] pipeline whose
//! scripts [`Resolved::emit`] writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::job::JobSpec;
use crate::rules::PartitionRule;

/// A job array: `count` tasks numbered from `base`, at most `throttle` running at once (`--array=B-E%T`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArraySpec {
    /// Number of tasks, and of parts the stage's work is split into.
    pub count: u32,
    /// The first task id (0 or 1 by habit).
    pub base: u32,
    /// Most tasks running at once.
    pub throttle: Option<u32>,
}

impl ArraySpec {
    /// The task ids, `base..base + count`.
    pub fn task_ids(&self) -> Vec<u32> {
        (self.base..self.base + self.count).collect()
    }
}

/// One stage as written: its command, array and dependencies, and its own job settings.
#[derive(Clone, Debug, PartialEq)]
pub struct StageDef {
    /// Name (letters, digits, `-`, `_`, `.`): the script is `<name>.sbatch`, the job `<pipeline>-<name>`.
    pub name: String,
    /// The stage's command line, exactly as it would be run by hand (program first).
    pub command: Vec<String>,
    /// Split over an array of tasks; each gets `EOFORGE_SHARD=i/n`.
    pub array: Option<ArraySpec>,
    /// Stages that must succeed first (`afterok`); `None` means the stage before it.
    pub after: Option<Vec<String>>,
    /// Its own settings, over the pipeline's defaults.
    pub job: JobSpec,
}

/// A pipeline as written (a file, or `emit` flags for one stage).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    /// Name, the prefix of every job name.
    pub name: String,
    /// Where SLURM writes the logs (relative to the pipeline folder; default `logs`).
    pub logs: Option<String>,
    /// Settings of every stage.
    pub defaults: JobSpec,
    /// The site's partition rules by partition name.
    pub partitions: BTreeMap<String, PartitionRule>,
    /// The stages, in submission order.
    pub stages: Vec<StageDef>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    name: String,
    logs: Option<String>,
    #[serde(default)]
    defaults: JobSpec,
    #[serde(default)]
    partitions: BTreeMap<String, PartitionRule>,
    #[serde(default, rename = "stage")]
    stages: Vec<toml::Table>,
}

/// A site's partition rules file: `[partitions.NAME]` tables only.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    partitions: BTreeMap<String, PartitionRule>,
}

/// Reads a partition rules file (`[partitions.normal] mem = false`, …).
pub fn load_rules(path: &Path) -> Result<BTreeMap<String, PartitionRule>> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
    let file: RulesFile =
        toml::from_str(&text).map_err(|e| Error::config(path.display().to_string(), e.to_string()))?;
    Ok(file.partitions)
}

impl Pipeline {
    /// Reads a pipeline file (TOML; unknown keys are errors naming the file, the stage and the key).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses a pipeline from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let file: PipelineFile = toml::from_str(text).map_err(|e| Error::config(origin, e.to_string()))?;
        let mut stages = Vec::new();
        for (i, mut table) in file.stages.into_iter().enumerate() {
            let Some(toml::Value::String(name)) = table.remove("name") else {
                return Err(Error::config(origin, format!("stage {}: `name` (a string) is required", i + 1)));
            };
            let at = format!("{origin}: stage `{name}`");
            let strings = |value: toml::Value, key: &str| -> Result<Vec<String>> {
                value
                    .try_into::<Vec<String>>()
                    .map_err(|_| Error::config(&at, format!("`{key}` must be a list of strings")))
            };
            let number = |value: Option<toml::Value>, key: &str| -> Result<Option<u32>> {
                value
                    .map(|v| {
                        v.as_integer()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| Error::config(&at, format!("`{key}` must be a non-negative integer")))
                    })
                    .transpose()
            };
            let command = match table.remove("command") {
                Some(v) => strings(v, "command")?,
                None => return Err(Error::config(&at, "`command` (the stage's command line as a list) is required")),
            };
            let after = table.remove("after").map(|v| strings(v, "after")).transpose()?;
            let count = number(table.remove("array"), "array")?;
            let base = number(table.remove("array_base"), "array_base")?;
            let throttle = number(table.remove("throttle"), "throttle")?;
            let array = match count {
                Some(count) => Some(ArraySpec { count, base: base.unwrap_or(0), throttle }),
                None if base.is_some() || throttle.is_some() => {
                    return Err(Error::config(&at, "`array_base` and `throttle` need `array`"));
                }
                None => None,
            };
            let job: JobSpec = toml::Value::Table(table).try_into().map_err(|e| Error::config(&at, e.to_string()))?;
            stages.push(StageDef { name, command, array, after, job });
        }
        Ok(Pipeline { name: file.name, logs: file.logs, defaults: file.defaults, partitions: file.partitions, stages })
    }

    /// Checks every stage and merges its settings: names, dependencies (only on earlier stages), arrays,
    /// directive values, partition rules, `--shard` in an array stage's command, and secrets written by value
    /// (a URL with a password, a secret-looking name in `env`). `dir` is where the scripts will be written.
    pub fn resolve(&self, dir: &Path) -> Result<Resolved> {
        let origin = "pipeline";
        check_name(&self.name).map_err(|m| Error::config(origin, format!("name: {m}")))?;
        if self.stages.is_empty() {
            return Err(Error::config(origin, "no stages"));
        }
        let dir = absolute(dir)?;
        let logs = match &self.logs {
            Some(l) if Path::new(l).is_absolute() => PathBuf::from(l),
            Some(l) => dir.join(l),
            None => dir.join("logs"),
        };
        let mut resolved: Vec<ResolvedStage> = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let at = format!("stage `{}`", stage.name);
            check_name(&stage.name).map_err(|m| Error::config(&at, format!("name: {m}")))?;
            if resolved.iter().any(|s| s.name == stage.name) {
                return Err(Error::config(&at, "two stages have this name"));
            }
            if stage.command.is_empty() || stage.command[0].is_empty() {
                return Err(Error::config(&at, "the command is empty"));
            }
            let after = match &stage.after {
                Some(after) => after.clone(),
                None => self.stages[..i].last().map(|s| vec![s.name.clone()]).unwrap_or_default(),
            };
            for a in &after {
                if !resolved.iter().any(|s| &s.name == a) {
                    return Err(Error::config(&at, format!("`after` names `{a}`, which is not an earlier stage")));
                }
            }
            if let Some(array) = &stage.array {
                if array.count == 0 || array.throttle == Some(0) {
                    return Err(Error::config(&at, "`array` and `throttle` must be at least 1"));
                }
                if let Some(reason) = unsplittable(&stage.command) {
                    return Err(Error::config(&at, reason));
                }
                if stage.command.iter().any(|a| a == "--shard" || a.starts_with("--shard=")) {
                    return Err(Error::config(
                        &at,
                        "an array stage's command must not set --shard: each task gets its part i/n from the \
                         script (EOFORGE_SHARD)",
                    ));
                }
            }
            for arg in &stage.command {
                if has_password(arg) {
                    return Err(Error::Secret { file: format!("{at}: command"), variable: "a URL password".into() });
                }
            }
            let job = stage.job.over(&self.defaults);
            check_job(&at, &job)?;
            let (job, notes) = match job.partition.as_ref().and_then(|p| self.partitions.get(p).map(|r| (p, r))) {
                Some((partition, rule)) => rule.apply(&stage.name, partition, &job, stage.job.mem.is_some())?,
                None => (job, Vec::new()),
            };
            resolved.push(ResolvedStage {
                name: stage.name.clone(),
                command: stage.command.clone(),
                array: stage.array,
                after,
                job,
                notes,
                script: dir.join(format!("{}.sbatch", stage.name)),
            });
        }
        Ok(Resolved { name: self.name.clone(), dir, logs, stages: resolved })
    }
}

/// A checked pipeline with every stage's settings merged: what `pipeline.json` holds and the scripts say.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resolved {
    /// The pipeline's name.
    pub name: String,
    /// Its folder: scripts, `pipeline.json`, `jobs.json`, `tasks/`.
    pub dir: PathBuf,
    /// SLURM's log folder.
    pub logs: PathBuf,
    /// The stages in submission order.
    pub stages: Vec<ResolvedStage>,
}

/// One stage as it will be submitted.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResolvedStage {
    /// Its name.
    pub name: String,
    /// Its command line.
    pub command: Vec<String>,
    /// Its array, if split.
    pub array: Option<ArraySpec>,
    /// Stages it waits for (`afterok`).
    pub after: Vec<String>,
    /// Its merged settings after the partition rules.
    pub job: JobSpec,
    /// What the rules changed, as comments in the script.
    pub notes: Vec<String>,
    /// Its sbatch script.
    pub script: PathBuf,
}

impl ResolvedStage {
    /// The task ids whose records the stage writes (`[0]` for a single job).
    pub fn task_ids(&self) -> Vec<u32> {
        self.array.map_or_else(|| vec![0], |a| a.task_ids())
    }

    /// Where its tasks write their records.
    pub fn records(&self, pipeline_dir: &Path) -> PathBuf {
        pipeline_dir.join("tasks").join(&self.name)
    }
}

/// The file `emit` writes the resolved pipeline to.
pub const PIPELINE_JSON: &str = "pipeline.json";

impl Resolved {
    /// Reads the `pipeline.json` of an emitted pipeline folder.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(PIPELINE_JSON);
        let bytes = std::fs::read(&path).map_err(Error::io("read (is this an emitted pipeline folder?)", &path))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Record { path: path.display().to_string(), message: e.to_string() })
    }

    /// A stage by name.
    pub fn stage(&self, name: &str) -> Result<&ResolvedStage> {
        self.stages.iter().find(|s| s.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
            Error::config(
                "--stage",
                format!("no stage `{name}` in pipeline `{}` (stages: {})", self.name, names.join(", ")),
            )
        })
    }

    /// Writes the pipeline folder: one `<stage>.sbatch` per stage, `submit.sh` (the chain by hand),
    /// `pipeline.json`, and the log and record folders. No file is written if any would hold the value of a
    /// secret-looking variable of this process's environment. Returns the files written.
    pub fn emit(&self) -> Result<Vec<PathBuf>> {
        let secrets = crate::script::secret_values(&self.pass_env_names());
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        for stage in &self.stages {
            files.push((stage.script.clone(), crate::script::render(self, stage)));
        }
        files.push((self.dir.join("submit.sh"), crate::script::submit_script(self)));
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::config("pipeline", e.to_string()))?;
        files.push((self.dir.join(PIPELINE_JSON), json));
        for (path, text) in &files {
            crate::script::check_secrets(&path.display().to_string(), text, &secrets)?;
        }
        for dir in std::iter::once(&self.logs).chain(std::iter::once(&self.dir)) {
            std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
        }
        for stage in &self.stages {
            let records = stage.records(&self.dir);
            std::fs::create_dir_all(&records).map_err(Error::io("create", &records))?;
        }
        for (path, text) in &files {
            write_atomic(path, text.as_bytes())?;
            if path.extension().is_some_and(|e| e == "sbatch" || e == "sh") {
                set_executable(path)?;
            }
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }

    /// Every variable a stage passes by name.
    pub fn pass_env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for stage in &self.stages {
            for n in stage.job.pass_env.iter().flatten() {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        names
    }
}

/// Writes `bytes` to `path` through a `.partial` file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, bytes).map_err(Error::io("write", &partial))?;
    std::fs::rename(&partial, path).map_err(Error::io("rename into place", path))
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(Error::io("make executable", path))
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    if dir.is_absolute() {
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(Error::io("find the working directory for", dir))?;
    Ok(cwd.join(dir))
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}`: use letters, digits, `-`, `_` and `.`, starting with a letter or digit"))
    }
}

/// Whether a variable name looks like it holds a secret.
/// Why a stage command cannot be split over an array (its tasks would all do the same whole work, or race on one
/// output): training one run, or the area stages that work on the whole area.
fn unsplittable(command: &[String]) -> Option<String> {
    let program = std::path::Path::new(command.first()?).file_name()?.to_str()?;
    let stages: Vec<&str> = command
        .windows(2)
        .filter(|w| w[0] == "--stage")
        .map(|w| w[1].as_str())
        .chain(command.iter().filter_map(|a| a.strip_prefix("--stage=")))
        .collect();
    match program {
        "eoforge-train" => Some(
            "`eoforge-train` trains one run, which cannot be split over array tasks (they would race on its run \
             directory); drop `array`, and use --device for data-parallel training"
                .into(),
        ),
        "eoforge-area" => stages.iter().find(|s| matches!(**s, "merge" | "train")).map(|s| {
            format!("`eoforge-area` stage `{s}` works on the whole area and cannot be split over array tasks")
        }),
        _ => None,
    }
}

pub(crate) fn secret_like(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "API_KEY", "PRIVATE_KEY", "DATABASE_URL"]
        .iter()
        .any(|w| upper.contains(w))
}

/// A URL with a password in it (`scheme://user:password@host`).
fn has_password(arg: &str) -> bool {
    arg.split("://").skip(1).any(|rest| {
        let authority = rest.split('/').next().unwrap_or_default();
        authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
    })
}

fn check_job(at: &str, job: &JobSpec) -> Result<()> {
    let directive = |key: &str, value: &Option<String>| -> Result<()> {
        match value {
            Some(v) if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '\'' || c == '"') => {
                Err(Error::config(at, format!("`{key}` = `{v}`: no spaces or quotes in an sbatch value")))
            }
            _ => Ok(()),
        }
    };
    directive("partition", &job.partition)?;
    directive("account", &job.account)?;
    directive("qos", &job.qos)?;
    directive("mem", &job.mem)?;
    directive("time", &job.time)?;
    if let Some(time) = &job.time {
        let seconds = crate::time::parse_time(time).map_err(|e| Error::config(at, format!("time: {e}")))?;
        let lead = u64::from(job.signal_lead_s.unwrap_or(120));
        if seconds <= lead {
            return Err(Error::config(
                at,
                format!("time {time} is not longer than the signal's lead of {lead} s (signal_lead_s)"),
            ));
        }
    }
    if job.cpus == Some(0) || job.nodes == Some(0) {
        return Err(Error::config(at, "`cpus` and `nodes` must be at least 1"));
    }
    for option in job.sbatch.iter().flatten() {
        if !option.starts_with("--") || option.contains('\n') {
            return Err(Error::config(at, format!("sbatch option `{option}` must be one `--name=value`")));
        }
        // `--export=ALL,AWS_SECRET_ACCESS_KEY=…` or a URL with a password would write the secret into the script.
        let value = option.split_once('=').map_or("", |(_, v)| v);
        let named = value.split(',').filter_map(|pair| pair.split_once('=')).find(|(name, _)| secret_like(name.trim()));
        if let Some((name, _)) = named {
            return Err(Error::Secret { file: format!("{at}: sbatch"), variable: name.trim().to_owned() });
        }
        if has_password(option) {
            return Err(Error::Secret { file: format!("{at}: sbatch"), variable: "a URL password".into() });
        }
    }
    let identifier = |n: &str| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    for name in job.pass_env.iter().flatten() {
        if !identifier(name) {
            return Err(Error::config(at, format!("pass_env: `{name}` is not a variable name")));
        }
    }
    for (name, value) in job.env.iter().flatten() {
        if !identifier(name) {
            return Err(Error::config(at, format!("env: `{name}` is not a variable name")));
        }
        if secret_like(name) || has_password(value) {
            return Err(Error::Secret { file: format!("{at}: env"), variable: name.clone() });
        }
    }
    if let Some(c) = &job.container
        && !matches!(c.runtime.as_str(), "apptainer" | "singularity")
    {
        return Err(Error::config(at, format!("container runtime `{}`: apptainer or singularity", c.runtime)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
name = "s2-seg"
[defaults]
partition = "normal"
time = "04:00:00"
mem = "8G"
pass_env = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]

[partitions.normal]
mem = false

[partitions.accel]
gpus = "required"
max_time = "7-00:00:00"

[[stage]]
name = "convert"
command = ["eoforge-prep", "shard", "--meta", "m.parquet", "--out", "s3://b/shards"]
array = 8
array_base = 1
throttle = 4

[[stage]]
name = "train"
command = ["eoforge-train", "fit", "--data", "s3://b/shards", "--out", "run"]
partition = "accel"
gpus = 1
requeue_on_stop = 3
"#;

    #[test]
    fn a_pipeline_file_resolves_with_rules_and_dependencies() {
        let p = Pipeline::from_toml(FILE, "p.toml").expect("parses");
        let r = p.resolve(Path::new("/work/pipe")).expect("resolves");
        let (convert, train) = (&r.stages[0], &r.stages[1]);
        assert_eq!(convert.task_ids(), (1..=8).collect::<Vec<_>>());
        assert_eq!(convert.job.mem, None, "the partition rejects --mem");
        assert_eq!(train.job.mem.as_deref(), Some("8G"));
        assert_eq!(train.after, vec!["convert".to_owned()]);
        assert_eq!(train.job.pass_env.as_ref().map(Vec::len), Some(2));
        assert_eq!(r.logs, Path::new("/work/pipe/logs"));
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (FILE.replace("throttle = 4", "throttel = 4"), "stage `convert`: unknown field `throttel`"),
            (FILE.replace("gpus = 1\n", ""), "partition `accel`: requires GPUs"),
            (FILE.replace("\"run\"]", "\"run\"]\nafter = [\"finalize\"]"), "`after` names `finalize`"),
            (FILE.replace("\"--meta\",", "\"--shard\", \"0/2\", \"--meta\","), "must not set --shard"),
            (FILE.replace("s3://b/shards\"]\narray", "s3://k:pw@host/b\"]\narray"), "a URL password"),
            (FILE.replace("requeue_on_stop = 3", "env = { AWS_SECRET_ACCESS_KEY = \"x\" }"), "never by value"),
            (FILE.replace("time = \"04:00:00\"", "time = \"00:01:00\""), "signal's lead of 120 s"),
            (FILE.replace("name = \"s2-seg\"", "name = \"s2 seg\""), "name: `s2 seg`"),
            (
                FILE.replace("requeue_on_stop = 3", "sbatch = [\"--export=ALL,AWS_SECRET_ACCESS_KEY=abc123456\"]"),
                "AWS_SECRET_ACCESS_KEY",
            ),
            (FILE.replace("requeue_on_stop = 3", "sbatch = [\"--comment=s3://k:pw@host/b\"]"), "a URL password"),
            (FILE.replace("requeue_on_stop = 3", "array = 2"), "`eoforge-train` trains one run"),
        ];
        for (text, expected) in cases {
            let err =
                Pipeline::from_toml(&text, "p.toml").and_then(|p| p.resolve(Path::new("/w"))).expect_err(expected);
            assert!(err.to_string().contains(expected), "{expected}: {err}");
        }
        let own_mem = FILE.replace("array_base = 1", "array_base = 1\nmem = \"4G\"");
        let err = Pipeline::from_toml(&own_mem, "p.toml").and_then(|p| p.resolve(Path::new("/w"))).expect_err("mem");
        assert!(err.to_string().contains("rejects --mem"), "{err}");
    }
}
