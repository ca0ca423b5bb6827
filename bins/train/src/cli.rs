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
    /// holds a checkpoint. SIGTERM writes a checkpoint and exits with status 143; rerunning the same command
    /// continues.
    Fit(FitArgs),
    /// Score a finished run's weights on a split; prints the metrics as JSON.
    Eval(EvalArgs),
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
    /// Where to train: `cpu` (burn's flex backend), or `cuda` / `cuda:N` in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
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
    /// The split to score.
    #[arg(long, default_value = "validation")]
    pub split: String,
    /// Where to run: `cpu`, or `cuda` / `cuda:N` in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}
