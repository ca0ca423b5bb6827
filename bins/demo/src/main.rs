//! `eoforge-demo`: the main job.

use std::process::ExitCode;

fn main() -> ExitCode {
    eoforge_demo_cli::main(std::env::args_os())
}
