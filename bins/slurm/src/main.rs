//! `eoforge-slurm`: eoforge stages as SLURM jobs.

use std::process::ExitCode;

fn main() -> ExitCode {
    eoforge_slurm_cli::main(std::env::args_os())
}
