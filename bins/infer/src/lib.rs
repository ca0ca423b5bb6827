//! The `eoforge-infer` command line: argument parsing plus one library call per subcommand.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod cli;
mod commands;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use crate::cli::Cli;

/// Parses `args`, runs the subcommand and maps failures to a one-line message and exit code 1
/// (usage errors exit 2).
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("EOFORGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if cli.verbose > 0 { "info" } else { "warn" }));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut text = e.to_string();
            let mut cur = e.source();
            while let Some(s) = cur {
                let part = s.to_string();
                if !text.contains(&part) {
                    text.push_str(": ");
                    text.push_str(&part);
                }
                cur = s.source();
            }
            eprintln!("error: {text}");
            ExitCode::FAILURE
        }
    }
}
