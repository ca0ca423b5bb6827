//! The `eoforge-prep` command line: argument parsing plus one library call per subcommand.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod cli;
mod commands;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use crate::cli::Cli;

/// Parses `args`, runs the subcommand and maps failures to a one-line message and exit code 1
/// (usage errors exit 2, as clap does).
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    eoforge_jobs::init_logging(cli.verbose);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", eoforge_jobs::error_chain(&*e));
            ExitCode::FAILURE
        }
    }
}
