//! One function per subcommand, each parsing's typed values handed to the libraries.

mod cog;
mod predict;
mod qc;
mod serve;

use eoforge_products::{Outcome, Published};
use eoforge_qc::QcReport;

use crate::cli::{Cli, Command};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) fn run(cli: Cli) -> Result {
    let options = cli.s3.store_options();
    match cli.command {
        Command::Qc(args) => qc::qc(&args, &options),
        Command::Cog(args) => cog::cog(&args, &options),
        Command::Predict(args) => predict::predict(&args, &options),
        Command::Serve(args) => serve::serve(&args, &options),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// One line per QC report on stderr.
pub(crate) fn summarize(report: &QcReport) {
    let failed = report.checks.iter().filter(|c| c.status == eoforge_qc::Status::Fail).count();
    eprintln!(
        "QC {}: {} checks, {failed} failed{}",
        if report.passed { "PASS" } else { "FAIL" },
        report.checks.len(),
        if failed > 0 { format!(" ({})", report.failures()) } else { String::new() }
    );
}

/// What publishing did, or the failed check.
pub(crate) fn announce(outcome: &Outcome, dest: &str) -> Result {
    match outcome.published {
        Some(Published::Uploaded) => eprintln!("published: {dest}"),
        Some(Published::AlreadyThere) => eprintln!("already published (unchanged): {dest}"),
        None => outcome.gate()?,
    }
    Ok(())
}
