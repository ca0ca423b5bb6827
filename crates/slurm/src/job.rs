//! [`JobSpec`]: what one stage asks of SLURM (resources, signal and requeue, environment, container), as written
//! in a pipeline file's `[defaults]` or `[[stage]]` tables or given as `eoforge-slurm emit` flags.

use std::collections::BTreeMap;

/// Resources and run settings of a job; every field is optional, a stage's own values override the defaults.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time`, in SLURM's forms (`HH:MM:SS`, `D-HH:MM`, …).
    pub time: Option<String>,
    /// `--mem` (`16G`, `0` for all of a node's memory); omitted on partitions whose rules reject it.
    pub mem: Option<String>,
    /// `--cpus-per-task`.
    pub cpus: Option<u32>,
    /// `--gpus`.
    pub gpus: Option<u32>,
    /// `--nodes`.
    pub nodes: Option<u32>,
    /// The signal SLURM sends the batch shell before the time limit (`TERM`, `USR1`, `USR2`; default `TERM`);
    /// the script turns it into SIGTERM for the stage.
    pub signal: Option<StopSignal>,
    /// Seconds before the time limit that the signal comes (default 120).
    pub signal_lead_s: Option<u32>,
    /// Requeue a task that stopped on the signal (exit 75) up to this many times (default 0: no requeue).
    pub requeue_on_stop: Option<u32>,
    /// `TMPDIR` for the stage, created on the node (a work file system; `$USER` and other variables expand there).
    pub tmpdir: Option<String>,
    /// Variables the stage needs from the environment — credentials, database URLs — passed by name: the job
    /// fails at its start, naming the variable, when one is unset; values are never written.
    pub pass_env: Option<Vec<String>>,
    /// A file of `NAME=value` lines sourced on the node at the job's start (credentials that stay in that file).
    pub env_file: Option<String>,
    /// Plain settings exported to the stage (`NAME = "value"`; variables expand on the node). Not for secrets:
    /// names that look like secrets are refused.
    pub env: Option<BTreeMap<String, String>>,
    /// Run the stage in a container.
    pub container: Option<Container>,
    /// More `#SBATCH` options written as given (`--mail-type=FAIL`, `--constraint=a100`).
    pub sbatch: Option<Vec<String>>,
}

/// A container the stage runs in: `apptainer exec --cleanenv [--nv] --bind … IMAGE COMMAND…`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// The image (`eoforge.sif`, `docker://…`).
    pub image: String,
    /// The runtime: `apptainer` (default) or `singularity`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// Host paths bound into the container (`/cluster`, `/scratch:/scratch`); the pipeline folder always is.
    #[serde(default)]
    pub bind: Vec<String>,
    /// `--nv`: the host's NVIDIA driver inside the container.
    #[serde(default)]
    pub nv: bool,
}

fn default_runtime() -> String {
    "apptainer".to_owned()
}

/// The signals a site may configure for the time-limit warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StopSignal {
    /// SIGTERM (the default).
    #[serde(rename = "TERM")]
    Term,
    /// SIGUSR1 (note: NCCL installs its own handler for it).
    #[serde(rename = "USR1")]
    Usr1,
    /// SIGUSR2.
    #[serde(rename = "USR2")]
    Usr2,
}

impl StopSignal {
    /// The name without `SIG`, as `sbatch --signal` and `trap` spell it.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Term => "TERM",
            StopSignal::Usr1 => "USR1",
            StopSignal::Usr2 => "USR2",
        }
    }
}

impl std::str::FromStr for StopSignal {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim_start_matches("SIG").to_ascii_uppercase().as_str() {
            "TERM" => Ok(StopSignal::Term),
            "USR1" => Ok(StopSignal::Usr1),
            "USR2" => Ok(StopSignal::Usr2),
            _ => Err(format!("`{s}` is not a stop signal (TERM, USR1 or USR2)")),
        }
    }
}

impl JobSpec {
    /// `self` (a stage's own settings) over `defaults`: single values override, `pass_env`, `env` and `sbatch`
    /// add up.
    pub fn over(&self, defaults: &JobSpec) -> JobSpec {
        fn pick<T: Clone>(own: Option<&T>, default: Option<&T>) -> Option<T> {
            own.or(default).cloned()
        }
        let union = |own: &Option<Vec<String>>, default: &Option<Vec<String>>| {
            let mut all: Vec<String> = default.clone().unwrap_or_default();
            for v in own.iter().flatten() {
                if !all.contains(v) {
                    all.push(v.clone());
                }
            }
            (!all.is_empty()).then_some(all)
        };
        let mut env = defaults.env.clone().unwrap_or_default();
        env.extend(self.env.clone().unwrap_or_default());
        JobSpec {
            partition: pick(self.partition.as_ref(), defaults.partition.as_ref()),
            account: pick(self.account.as_ref(), defaults.account.as_ref()),
            qos: pick(self.qos.as_ref(), defaults.qos.as_ref()),
            time: pick(self.time.as_ref(), defaults.time.as_ref()),
            mem: pick(self.mem.as_ref(), defaults.mem.as_ref()),
            cpus: pick(self.cpus.as_ref(), defaults.cpus.as_ref()),
            gpus: pick(self.gpus.as_ref(), defaults.gpus.as_ref()),
            nodes: pick(self.nodes.as_ref(), defaults.nodes.as_ref()),
            signal: pick(self.signal.as_ref(), defaults.signal.as_ref()),
            signal_lead_s: pick(self.signal_lead_s.as_ref(), defaults.signal_lead_s.as_ref()),
            requeue_on_stop: pick(self.requeue_on_stop.as_ref(), defaults.requeue_on_stop.as_ref()),
            tmpdir: pick(self.tmpdir.as_ref(), defaults.tmpdir.as_ref()),
            pass_env: union(&self.pass_env, &defaults.pass_env),
            env_file: pick(self.env_file.as_ref(), defaults.env_file.as_ref()),
            env: (!env.is_empty()).then_some(env),
            container: pick(self.container.as_ref(), defaults.container.as_ref()),
            sbatch: union(&self.sbatch, &defaults.sbatch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_overrides_single_values_and_adds_lists() {
        let defaults = JobSpec {
            partition: Some("normal".into()),
            time: Some("01:00:00".into()),
            pass_env: Some(vec!["AWS_ACCESS_KEY_ID".into()]),
            env: Some([("A".to_owned(), "1".to_owned())].into()),
            ..JobSpec::default()
        };
        let stage = JobSpec {
            partition: Some("accel".into()),
            pass_env: Some(vec!["AWS_SECRET_ACCESS_KEY".into(), "AWS_ACCESS_KEY_ID".into()]),
            env: Some([("B".to_owned(), "2".to_owned())].into()),
            ..JobSpec::default()
        };
        let job = stage.over(&defaults);
        assert_eq!(job.partition.as_deref(), Some("accel"));
        assert_eq!(job.time.as_deref(), Some("01:00:00"));
        assert_eq!(job.pass_env, Some(vec!["AWS_ACCESS_KEY_ID".into(), "AWS_SECRET_ACCESS_KEY".into()]));
        assert_eq!(job.env.map(|e| e.len()), Some(2));
        assert_eq!("SIGUSR1".parse::<StopSignal>(), Ok(StopSignal::Usr1));
        assert!("HUP".parse::<StopSignal>().is_err());
    }
}
