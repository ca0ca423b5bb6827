//! The `eoforge-train` command line: argument parsing plus one library call per subcommand.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod cli;
mod commands;

use std::ffi::OsString;
use std::process::ExitCode;

pub use crate::cli::Cli;

/// Exit status of a run stopped by SIGTERM after writing its checkpoint (128 + 15, as a shell reports it).
pub const EXIT_STOPPED: u8 = 143;

/// Parses `args`, runs the subcommand and maps failures to a one-line message and exit code 1 (usage errors 2,
/// a run stopped by SIGTERM [`EXIT_STOPPED`]).
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stopped);
    let code = eoforge_cli::cli_main::<Cli, _, _>(args, |cli| cli.verbose, move |cli| commands::run(cli, &flag));
    if stopped.load(std::sync::atomic::Ordering::SeqCst) { ExitCode::from(EXIT_STOPPED) } else { code }
}
