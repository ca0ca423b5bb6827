//! Command-line definitions; the doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Area pipelines, eo-grow style: an AOI cut into a UTM tile grid; inputs, indices and reference labels read onto
/// every tile; samples drawn and merged into a training table; a pixel model trained, scored and applied to every
/// tile; and the predictions merged into one cloud-optimized GeoTIFF per UTM zone, through QC.
///
/// Everything is described by a config file (TOML, or JSON with comments; see docs/area.md). Finished tiles are
/// skipped on a rerun; each run writes report.json, failure.log and profile.json under <store>/runs/.
#[derive(Debug, Parser)]
#[command(name = "eoforge-area", version, propagate_version = true, max_term_width = 100)]
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
    /// Run a pipeline's stages (all of them by default) and write its report
    ///
    ///   eoforge-area run area.toml
    ///   eoforge-area run area.toml --stage inputs --stage features -t 0 -t 29N_31_440
    ///   eoforge-area run area.toml --stages inputs,features,reference,sample --shard 2/8
    ///
    /// Stages: grid, inputs, features, reference, sample, merge, train, predict, export.
    /// Exit status: 0 when every tile finished, 1 when a tile or zone failed (the others are
    /// finished; failure.log lists them), 2 for usage errors, 75 when stopped by SIGTERM.
    #[command(verbatim_doc_comment)]
    Run(RunArgs),

    /// List the grid's tiles with their index (what -t takes), zone and bounds
    Tiles(TilesArgs),
}

/// `run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline config (.toml, .json or .jsonc).
    pub config: PathBuf,

    /// A stage to run (repeatable; default: all, in order).
    #[arg(long = "stage", value_name = "STAGE")]
    pub stage: Vec<String>,

    /// Stages to run, comma-separated (same as repeating --stage).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub stages: Vec<String>,

    /// Only these tiles: a name or an index in the grid (repeatable).
    #[arg(short = 't', long = "tile", value_name = "NAME|INDEX")]
    pub tiles: Vec<String>,

    /// Run part i of n of the tiles, or of the zones for export (0-based); default: EOFORGE_SHARD, else the SLURM
    /// array task, else all.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Set a config variable (repeatable), over the file's [variables].
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// Replace maps published with other options.
    #[arg(long)]
    pub force: bool,

    /// Print the report as JSON on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub s3: eoforge_cli::S3Args,
}

/// `tiles` flags.
#[derive(Debug, Args)]
pub struct TilesArgs {
    /// The pipeline config.
    pub config: PathBuf,

    /// Set a config variable (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
