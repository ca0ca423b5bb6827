//! The `eoforge-area` command line: argument parsing plus one library call per subcommand.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod cli;
mod commands;
mod progress;

use std::ffi::OsString;
use std::process::ExitCode;

pub use crate::cli::Cli;

/// Parses `args`, runs the subcommand and maps failures to a one-line message and exit code 1 (usage errors 2,
/// a stop on request 75).
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    eoforge_cli::cli_main::<Cli, _, _>(args, |cli| cli.verbose, commands::run)
}
