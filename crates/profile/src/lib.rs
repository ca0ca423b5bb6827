/*!
What every eoforge stage reports in its `profile.json`: named stage timings ([`Stages`]) and the process's peak
memory ([`peak_rss_mib`]). One type for every stage — conversion, inference, products — so profiles read alike;
and [`RunRecord`], what every binary leaves at exit for the job that ran it (`EOFORGE_RUN_RECORD`).
*/
#![deny(missing_docs)]

mod run_record;

pub use crate::run_record::{RUN_RECORD_ENV, RunRecord, Work};

use std::collections::BTreeMap;
use std::time::Instant;

/// Exit status of a stage stopped on request (SIGTERM, SIGUSR1 or SIGUSR2, as SLURM sends before a time limit or
/// preemption) after it finished or abandoned its current unit and recorded its progress: rerunning the same
/// command continues where it stopped. 75 is `EX_TEMPFAIL` ("try again later"), distinct from failures (1),
/// usage errors (2) and a process killed outright (128 + signal).
pub const EXIT_STOPPED: u8 = 75;

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

    /// Adds `seconds` to stage `name` (for times measured elsewhere, such as a thread's busy time).
    pub fn add(&mut self, name: &str, seconds: f64) {
        *self.0.entry(name.to_owned()).or_default() += seconds;
    }
}

/// An error and its sources as one line, `outer: inner: innermost`, skipping sources already quoted: for reports,
/// logs and the one-line messages of the binaries.
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

/// The current UTC time as RFC 3339 (`2026-12-02T15:04:05Z`), for run records and logs.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
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
