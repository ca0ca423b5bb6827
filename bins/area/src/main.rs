//! `eoforge-area`: area pipelines from a config file.

use std::process::ExitCode;

fn main() -> ExitCode {
    eoforge_area_cli::main(std::env::args_os())
}
