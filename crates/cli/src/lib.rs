/*!
What every eoforge binary shares: [`cli_main`] (parse, log, run, map errors to exit codes: usage errors 2,
failures 1 with one line, a stage [`Stopped`] on request 75), [`stop_flag`] for the stop signals, [`report_work`]
for the run record, [`init_logging`], [`error_chain`], [`UsageError`], and the flag groups every binary spells the
same way ([`S3Args`]).
*/
#![deny(missing_docs)]

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
    let start = std::time::Instant::now();
    let (code, error) = match run(cli) {
        Ok(()) => (0, None),
        Err(e) => {
            let message = error_chain(&*e);
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {message}");
            }
            let code = if e.downcast_ref::<UsageError>().is_some() {
                2
            } else if e.downcast_ref::<Stopped>().is_some() {
                eoforge_profile::EXIT_STOPPED
            } else {
                1
            };
            (code, Some(message))
        }
    };
    write_run_record(start.elapsed().as_secs_f64(), code, error.as_deref());
    std::process::ExitCode::from(code)
}

/// The environment variable naming a file where a binary writes its [`RunRecord`](eoforge_profile::RunRecord) at
/// exit.
pub const RUN_RECORD_ENV: &str = eoforge_profile::RUN_RECORD_ENV;

/// When `EOFORGE_RUN_RECORD` names a file, writes the process's [`eoforge_profile::RunRecord`] there, with `work`
/// what [`report_work`] recorded. The main job's report and the SLURM task records read it; a failure to write it
/// is logged, never fatal.
fn write_run_record(wall_s: f64, exit_code: u8, error: Option<&str>) {
    let Some(path) = std::env::var_os(RUN_RECORD_ENV) else { return };
    let work = WORK.lock().ok().and_then(|w| w.clone());
    let record = eoforge_profile::RunRecord {
        exit_code: i32::from(exit_code),
        wall_s,
        peak_rss_mib: Some(eoforge_profile::peak_rss_mib()),
        cpu_s: cpu_seconds(),
        error: error.map(str::to_owned),
        work: work.map(|(count, unit)| eoforge_profile::Work { count, unit }),
    };
    if let Err(e) = record.write(std::path::Path::new(&path)) {
        tracing::warn!("cannot write the run record {}: {e}", std::path::Path::new(&path).display());
    }
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, in clock ticks of 1/100 s; `None`
/// elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state; utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A stage stopped on request ([`stop_flag`]) after recording its progress: exit status
/// [`EXIT_STOPPED`](eoforge_profile::EXIT_STOPPED), and the message says how to continue.
#[derive(Debug)]
pub struct Stopped(pub String);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped on request: {}", self.0)
    }
}

impl std::error::Error for Stopped {}

/// The signals that ask a stage to stop gracefully: SIGTERM (what SLURM sends at a time limit, and what emitted
/// scripts forward), SIGUSR1 and SIGUSR2 (the other signals sites configure for `--signal`).
pub const STOP_SIGNALS: [i32; 3] =
    [signal_hook::consts::SIGTERM, signal_hook::consts::SIGUSR1, signal_hook::consts::SIGUSR2];

/// A flag raised by any of [`STOP_SIGNALS`]; a stage that takes it checks it between units of work and returns
/// [`Stopped`]. Only stages that check it may call this: the signals no longer end the process.
pub fn stop_flag() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, std::io::Error> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in STOP_SIGNALS {
        signal_hook::flag::register(signal, std::sync::Arc::clone(&flag))?;
    }
    Ok(flag)
}

/// Records how much work this process did (`count` units of `unit`: patches, samples, megapixels), for its run
/// record: job schedulers merge these into throughput per task.
pub fn report_work(count: f64, unit: &str) {
    if let Ok(mut work) = WORK.lock() {
        *work = Some((count, unit.to_owned()));
    }
}

static WORK: std::sync::Mutex<Option<(f64, String)>> = std::sync::Mutex::new(None);

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

pub use eoforge_profile::error_chain;

/// Settings for S3-compatible servers (MinIO, SeaweedFS, Ceph, …), the same in every binary; AWS itself needs none
/// of them. Credentials come only from the standard AWS environment, never from flags.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "S3 options")]
pub struct S3Args {
    /// S3 endpoint URL, e.g. http://127.0.0.1:9000 (default: AWS, or AWS_ENDPOINT_URL).
    #[arg(long, global = true, env = "EOFORGE_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, global = true, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Use virtual-hosted-style requests (bucket.host) even with a custom endpoint.
    #[arg(long, global = true)]
    pub s3_virtual_hosted: bool,

    /// Retries of a failed request before giving up.
    #[arg(long, global = true, default_value_t = 10, value_name = "N")]
    pub retries: usize,

    /// Seconds before one request times out.
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
}

impl S3Args {
    /// Store options from the environment, overridden by these flags.
    pub fn store_options(&self) -> eoforge_storage::StoreOptions {
        let mut o = eoforge_storage::StoreOptions::from_env();
        if let Some(endpoint) = &self.s3_endpoint {
            o.s3.endpoint = Some(endpoint.clone());
        }
        if let Some(region) = &self.s3_region {
            o.s3.region = Some(region.clone());
        }
        if self.s3_virtual_hosted {
            o.s3.virtual_hosted_style = Some(true);
        }
        o.retry.max_retries = self.retries;
        o.request_timeout = std::time::Duration::from_secs(self.timeout.max(1));
        o
    }

    /// The same settings as flags, for a child process running another eoforge binary (no secrets: credentials
    /// stay in the environment the child inherits).
    pub fn to_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(endpoint) = &self.s3_endpoint {
            flags.extend(["--s3-endpoint".to_owned(), endpoint.clone()]);
        }
        if let Some(region) = &self.s3_region {
            flags.extend(["--s3-region".to_owned(), region.clone()]);
        }
        if self.s3_virtual_hosted {
            flags.push("--s3-virtual-hosted".to_owned());
        }
        if self.retries != 10 {
            flags.extend(["--retries".to_owned(), self.retries.to_string()]);
        }
        if self.timeout != 120 {
            flags.extend(["--timeout".to_owned(), self.timeout.to_string()]);
        }
        flags
    }
}
