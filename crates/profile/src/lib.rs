/*!
What every eoforge stage reports in its `profile.json`: named stage timings ([`Stages`]) and the process's peak
memory ([`peak_rss_mib`]). One type for every stage — conversion, inference, products — so profiles read alike.
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
