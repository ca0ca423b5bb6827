//! `eoforge-infer`: the product command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    eoforge_infer::main(std::env::args_os())
}
