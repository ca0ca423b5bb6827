/*!
Running eoforge stages: what every stage reports in its `profile.json`.

- [`peak_rss_mib`]: the process's peak resident memory.
- [`Stages`]: named stage timings in seconds, in the order they ran.
- [`cli_main`], [`init_logging`] and [`error_chain`]: what every eoforge binary does with arguments, logs and
  errors (usage errors exit 2, failures print one line and exit 1).
*/
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::time::Instant;

/// Peak resident set size of this process in MiB (Linux `VmHWM`; 0 where unavailable).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs a binary: parses `args` into `C` (usage errors exit 2, `--help` exits 0), sets up logging from the parsed
/// verbosity, runs `run` and turns an error into one `error: …` line on stderr and exit status 1.
pub fn cli_main<C, I, T>(
    args: I,
    verbosity: impl FnOnce(&C) -> u8,
    run: impl FnOnce(C) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
) -> std::process::ExitCode
where
    C: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match C::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(verbosity(&cli));
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {}", error_chain(&*e));
            }
            if e.downcast_ref::<UsageError>().is_some() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

/// A usage error found after parsing (flags that contradict each other or the input): exit status 2, like
/// clap's own.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `Err(UsageError)` with a message.
pub fn usage<T>(message: impl Into<String>) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(UsageError(message.into())))
}

/// Sends `tracing` logs to stderr: warnings by default, `-v` info, `-vv` debug, `-vvv` trace;
/// `EOFORGE_LOG=<filter>` overrides.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("EOFORGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// An error and its sources as one line, `outer: inner: innermost`, skipping sources already quoted.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// Stage timings: `time("write", || …)` records how long a stage took.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Stages(pub BTreeMap<String, f64>);

impl Stages {
    /// Runs `f` as stage `name` and records its wall time.
    pub fn time<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        *self.0.entry(name.to_owned()).or_default() += start.elapsed().as_secs_f64();
        out
    }

    /// Seconds of a stage (0 when it did not run).
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_accumulate_and_memory_is_reported() {
        let mut s = Stages::default();
        let v = s.time("a", || 2 + 2);
        s.time("a", std::thread::yield_now);
        assert_eq!(v, 4);
        assert!(s.get("a") >= 0.0 && s.0.len() == 1 && s.get("b") == 0.0);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mib() > 1.0);
        }
    }
}
