//! Flags of `eoforge-train`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use eoforge_cli::S3Args;

/// Train models on shard sets written by `eoforge-prep shard` (burn's CPU backend).
#[derive(Debug, Parser)]
#[command(name = "eoforge-train", version, about)]
pub struct Cli {
    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Object storage settings.
    #[command(flatten)]
    pub s3: S3Args,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model (the multi-label patch classifier, or a U-Net on a segmentation set); resumes when RUN_DIR
    /// holds a checkpoint. SIGTERM (or SIGUSR1/SIGUSR2) writes a checkpoint and exits with status 75; rerunning the same command
    /// continues.
    Fit(FitArgs),
    /// Score a finished run's weights on a split; prints the metrics as JSON.
    Eval(EvalArgs),
    /// Write a finished run's weights as safetensors under stable PyTorch-style names (docs/weights.md), with the
    /// run's config.toml and data.json in the header.
    Export(ExportArgs),
    /// Make a run directory from safetensors weights (an eoforge export, or PyTorch's with --like and --remap);
    /// prints the tensors applied, missing and unused as JSON.
    Import(ImportArgs),
    /// Run a ViT encoder (Prithvi-EO semantics) from safetensors weights on an input and write every block's
    /// tokens as block0.npy, block1.npy, … — to check an imported backbone against the framework it came from.
    /// The config may be TerraTorch's own `PrithviViT` arguments (img_size, patch_size, num_frames, in_chans,
    /// embed_dim, depth, num_heads, mlp_ratio, coords_encoding, coords_scale_learn).
    Features(FeaturesArgs),
    /// Fine-tune one backbone on several downstream tasks (SUITE.toml: [backbone], [defaults], [[task]]), each into
    /// OUT/<task>/, then write OUT/suite.json (metrics beside trivial baselines, time, memory, parameters, content
    /// hashes) and OUT/index.html. A finished task is skipped; a failing one writes OUT/<task>/error.txt and the
    /// others go on (exit 1 at the end). `suite compare A B` prints the metric deltas of two suites.
    ///
    /// As a SLURM array: `--task-index` (default SLURM_ARRAY_TASK_ID) runs one task per array element; a final
    /// `--report-only` call writes the table.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Suite(SuiteArgs),
}

/// `suite` flags.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// The suite file.
    #[arg(value_name = "SUITE.toml", required = true)]
    pub suite: Option<PathBuf>,
    /// The suite's output directory (default: SUITE's name without .toml, beside it).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only this task.
    #[arg(long, value_name = "NAME", conflicts_with = "task_index")]
    pub task: Option<String>,
    /// Run only the task at this position (from 0), as a SLURM array element does.
    #[arg(long, value_name = "N", env = "SLURM_ARRAY_TASK_ID")]
    pub task_index: Option<usize>,
    /// Train nothing: write the table and page from the task directories as they stand.
    #[arg(long, conflicts_with_all = ["task", "task_index"])]
    pub report_only: bool,
    /// Compare two suites.
    #[command(subcommand)]
    pub compare: Option<SuiteCommand>,
}

/// `suite` subcommands.
#[derive(Debug, Subcommand)]
pub enum SuiteCommand {
    /// Print each task's metrics in suite A and suite B and their difference (B − A), as JSON lines.
    Compare {
        /// Suite A: its output directory or suite.json.
        a: PathBuf,
        /// Suite B.
        b: PathBuf,
    },
}

/// `features` flags.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// The encoder's weights (safetensors, under the framework's names).
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// The encoder's configuration (JSON, TerraTorch's `PrithviViT` arguments).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The input: float32 .npy, (batch, channels, frames, h, w) or (batch, channels, h, w).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// (batch, frames, 2) year and day of year, float32 .npy.
    #[arg(long, value_name = "FILE")]
    pub temporal_coords: Option<PathBuf>,
    /// (batch, 2) latitude and longitude, float32 .npy.
    #[arg(long, value_name = "FILE")]
    pub location_coords: Option<PathBuf>,
    /// The folder for block0.npy, block1.npy, ….
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Rename the file's tensors before matching (`--remap '^encoder\.='` for the MAE checkpoints).
    #[arg(long, value_name = "RE=REPLACEMENT")]
    pub remap: Vec<String>,
}

/// `export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A finished run directory.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The safetensors file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Take a run stopped before its last epoch (its best or latest checkpoint's weights).
    #[arg(long)]
    pub allow_unfinished: bool,
}

/// `import` flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The safetensors file.
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// The run directory to create (it must not exist).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A run directory of the same architecture whose config.toml and data.json the new run takes (needed when
    /// the file is not an eoforge export).
    #[arg(long, value_name = "DIR")]
    pub like: Option<PathBuf>,
    /// Load the tensors that match and keep the model's initial values for the missing ones.
    #[arg(long)]
    pub allow_partial: bool,
    /// Rename the file's tensors before matching: a regular expression and its replacement, applied in order
    /// (e.g. `--remap '^model\.='` strips a `model.` prefix; `$1` refers to a group).
    #[arg(long, value_name = "RE=REPLACEMENT")]
    pub remap: Vec<String>,
}

/// `fit` flags; each overrides the same field of `--config`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// The shard set (path or s3:// URL) with index.json and stats.json.
    #[arg(long, value_name = "URL")]
    pub data: String,
    /// The run directory (config.toml, checkpoints, metrics.jsonl, profile.json, model.mpk).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A TOML file with the run's settings (the fields of config.toml in a run directory).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Passes over the training split.
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Samples per batch.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of weights, data order and augmentation.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Checkpoint every N steps (and at every epoch end).
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// Where to train: `cpu` (burn's flex backend), or `cuda` / `cuda:N` in a build with the `cuda` feature; a
    /// comma-separated list (`cuda:0,cuda:1`) trains data-parallel, one replica per device.
    #[arg(long, visible_alias = "devices", default_value = "cpu")]
    pub device: String,
    /// Data-parallel replicas (default: one per device); more replicas than devices share them round robin, so
    /// `--replicas 4` on one CPU runs the multi-device path with four logical replicas. `--batch` is per replica.
    #[arg(long, value_name = "N")]
    pub replicas: Option<usize>,
    /// How the learning rate follows the replica count: none, linear, sqrt.
    #[arg(long, value_name = "RULE")]
    pub lr_scaling: Option<eoforge_train::LrScaling>,
}

/// `eval` flags.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The shard set (path or s3:// URL).
    #[arg(long, value_name = "URL")]
    pub data: String,
    /// A finished run directory (config.toml and model.mpk).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The split to score (any split of any set with the run's channels: it is normalised and its labels mapped
    /// with the run's own statistics and class table).
    #[arg(long, default_value = "validation")]
    pub split: String,
    /// Where to run: `cpu`, or `cuda` / `cuda:N` in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Score a run stopped before its last epoch (its best or latest checkpoint's weights).
    #[arg(long)]
    pub allow_unfinished: bool,
}
