//! `eoforge-prep`: the data-preparation command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    eoforge_prep::main(std::env::args_os())
}
