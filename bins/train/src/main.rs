//! `eoforge-train`: training on shard sets.

use std::process::ExitCode;

fn main() -> ExitCode {
    eoforge_train_cli::main(std::env::args_os())
}
