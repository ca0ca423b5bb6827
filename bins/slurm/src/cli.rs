//! Command-line definitions; the doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run eoforge stages on a SLURM cluster: emit sbatch scripts and pipelines from the stages' own command lines,
/// submit them with their dependencies, and follow every task.
///
/// Each emitted script pins its array task's part (EOFORGE_SHARD=i/n), forwards SLURM's time-limit signal to the
/// stage as SIGTERM (the stage records its progress and exits 75), requeues it up to --requeue-on-stop times, and
/// records the task's outcome under DIR/tasks/. Secrets are passed by name, never written into a file.
#[derive(Debug, Parser)]
#[command(name = "eoforge-slurm", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); EOFORGE_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write sbatch scripts for one stage command, or for a pipeline file, into a pipeline folder
    ///
    /// One stage, its command after `--`:
    ///   eoforge-slurm emit --out jobs/convert --name convert --array 8 --throttle 4 \
    ///     --partition normal --time 04:00:00 --cpus 4 --requeue-on-stop 3 \
    ///     --pass-env AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY \
    ///     -- eoforge-prep shard --meta s3://b/meta.parquet --out s3://b/shards
    ///
    /// A pipeline (stages chained with afterok; see docs/slurm.md for the file):
    ///   eoforge-slurm emit --out jobs/s2 --pipeline s2.toml --submit
    #[command(verbatim_doc_comment)]
    Emit(Box<EmitArgs>),

    /// Submit an emitted pipeline (sbatch --parsable, afterok chains) and print the job ids
    ///
    /// A failed stage cancels the stages waiting for it. With --stage and --array, only those tasks
    /// of one stage are submitted again (what `status` prints to resubmit):
    ///   eoforge-slurm submit jobs/s2
    ///   eoforge-slurm submit jobs/s2 --stage convert --array 2,5-6
    #[command(verbatim_doc_comment)]
    Submit(SubmitArgs),

    /// Where every task stands: done, failed, remaining, with SLURM's states (sacct) and what to resubmit
    ///
    /// Example:
    ///   eoforge-slurm status jobs/s2
    #[command(verbatim_doc_comment)]
    Status(StatusArgs),

    /// Merge the tasks' profiles into DIR/profile.json: per task wall and CPU time, memory and
    /// throughput; per stage the slowest task and the core-hours spent
    #[command(verbatim_doc_comment)]
    Profile(ProfileArgs),
}

/// `emit` flags.
#[derive(Debug, Args)]
pub struct EmitArgs {
    /// The pipeline folder to write (scripts, submit.sh, pipeline.json, logs/, tasks/).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// A pipeline file (TOML) instead of one command; the job flags given here override its [defaults].
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "array", "array_base", "throttle"])]
    pub pipeline: Option<PathBuf>,

    /// Partition rules of the site (a TOML file of [partitions.NAME] tables), added to the pipeline's.
    #[arg(long, value_name = "FILE")]
    pub partition_rules: Option<PathBuf>,

    /// The stage's name (one command).
    #[arg(long, value_name = "NAME", default_value = "stage")]
    pub name: String,

    /// Split the stage over an array of N tasks; each gets its part i/N.
    #[arg(long, value_name = "N")]
    pub array: Option<u32>,

    /// The first task id of the array.
    #[arg(long, value_name = "ID", default_value_t = 0, requires = "array")]
    pub array_base: u32,

    /// At most K tasks running at once (`--array=…%K`).
    #[arg(long, value_name = "K", requires = "array")]
    pub throttle: Option<u32>,

    /// Job settings.
    #[command(flatten)]
    pub job: JobArgs,

    /// Submit the pipeline after writing it.
    #[arg(long)]
    pub submit: bool,

    /// With --submit: wait until its jobs leave the queue, then print the status.
    #[arg(long, requires = "submit")]
    pub wait: bool,

    /// The stage command (after `--`), as it would be run by hand.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Job settings shared by `emit` for one command and as overrides of a pipeline file's defaults.
#[derive(Debug, Args)]
#[command(next_help_heading = "Job settings")]
pub struct JobArgs {
    /// --partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// --account.
    #[arg(long)]
    pub account: Option<String>,
    /// --qos.
    #[arg(long)]
    pub qos: Option<String>,
    /// --time (HH:MM:SS, D-HH:MM, …).
    #[arg(long)]
    pub time: Option<String>,
    /// --mem (omitted on partitions whose rules reject it).
    #[arg(long)]
    pub mem: Option<String>,
    /// --cpus-per-task.
    #[arg(long)]
    pub cpus: Option<u32>,
    /// --gpus.
    #[arg(long)]
    pub gpus: Option<u32>,
    /// --nodes.
    #[arg(long)]
    pub nodes: Option<u32>,
    /// The signal SLURM sends before the time limit: TERM (default), USR1 or USR2.
    #[arg(long, value_name = "SIGNAL")]
    pub signal: Option<eoforge_slurm::StopSignal>,
    /// Seconds before the time limit that the signal comes (default 120).
    #[arg(long, value_name = "SECONDS")]
    pub signal_lead: Option<u32>,
    /// Requeue a task that stopped on the signal up to N times; it continues where it stopped.
    #[arg(long, value_name = "N")]
    pub requeue_on_stop: Option<u32>,
    /// TMPDIR for the stage on a work file system ($USER expands on the node).
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<String>,
    /// Variables passed by name from the submitting environment (credentials, database URLs), comma-separated.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub pass_env: Vec<String>,
    /// A file of NAME=value lines read on the node at the job's start.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<String>,
    /// A plain setting for the stage, NAME=VALUE (not for secrets); repeatable.
    #[arg(long, value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Run the stage in this Apptainer image.
    #[arg(long, value_name = "IMAGE")]
    pub container: Option<String>,
    /// Paths bound into the container; repeatable.
    #[arg(long, value_name = "PATH", requires = "container")]
    pub bind: Vec<String>,
    /// The host's NVIDIA driver in the container (--nv).
    #[arg(long, requires = "container")]
    pub nv: bool,
    /// Another #SBATCH option written as given (--sbatch=--mail-type=FAIL); repeatable.
    #[arg(long, value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
}

/// `submit` flags.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The pipeline folder (`emit --out`).
    pub dir: PathBuf,
    /// Only this stage (no dependencies).
    #[arg(long)]
    pub stage: Option<String>,
    /// Only these tasks of --stage (1-3,7).
    #[arg(long, value_name = "LIST", requires = "stage")]
    pub array: Option<String>,
    /// Wait until the jobs leave the queue, then print the status.
    #[arg(long)]
    pub wait: bool,
}

/// `status` flags.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The pipeline folder.
    pub dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Do not ask sacct (task records only).
    #[arg(long)]
    pub no_sacct: bool,
    /// First wait until no job of the pipeline is pending or running.
    #[arg(long)]
    pub wait: bool,
}

/// `profile` flags.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The pipeline folder.
    pub dir: PathBuf,
}
