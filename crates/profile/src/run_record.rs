//! [`RunRecord`]: what a binary leaves at exit for the job that ran it — one typed contract that `eoforge-cli`
//! writes and the main job's report and the SLURM task records read.

/// The environment variable naming the file a binary writes its [`RunRecord`] to at exit.
pub const RUN_RECORD_ENV: &str = "EOFORGE_RUN_RECORD";

/// A process's record at exit: how it ended, what it cost and how much work it did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// Its exit status (0, 1 failure, 2 usage, [`crate::EXIT_STOPPED`]).
    pub exit_code: i32,
    /// Wall seconds.
    pub wall_s: f64,
    /// Peak resident memory in MiB.
    #[serde(default)]
    pub peak_rss_mib: Option<f64>,
    /// User + system CPU seconds.
    #[serde(default)]
    pub cpu_s: Option<f64>,
    /// The error chain it printed, when it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The work it did, for throughput.
    #[serde(default)]
    pub work: Option<Work>,
}

/// An amount of work: `count` units of `unit` (patches, samples, megapixels).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Work {
    /// How many.
    pub count: f64,
    /// Of what.
    pub unit: String,
}

impl RunRecord {
    /// Writes the record as JSON to `path`.
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = serde_json::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }

    /// The record at `path`: `None` when there is none (the process never got to write it) or it does not parse.
    pub fn read(path: &std::path::Path) -> Option<Self> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// Work per wall second, in the work's unit.
    pub fn throughput(&self) -> Option<f64> {
        self.work.as_ref().map(|w| w.count / self.wall_s.max(1e-3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_an_older_one_without_optional_fields_reads() {
        let dir = std::env::temp_dir().join(format!("eoforge-run-record-{}", std::process::id()));
        let record = RunRecord {
            exit_code: 75,
            wall_s: 2.0,
            peak_rss_mib: Some(80.0),
            cpu_s: Some(3.5),
            error: None,
            work: Some(Work { count: 10.0, unit: "tiles".into() }),
        };
        record.write(&dir).expect("write");
        assert_eq!(RunRecord::read(&dir), Some(record.clone()));
        assert_eq!(record.throughput(), Some(5.0));
        std::fs::write(&dir, r#"{"exit_code":1,"wall_s":0.5,"error":"boom"}"#).expect("write");
        let old = RunRecord::read(&dir).expect("reads");
        assert_eq!((old.error.as_deref(), old.work), (Some("boom"), None));
        std::fs::remove_file(&dir).expect("remove");
        assert_eq!(RunRecord::read(&dir), None);
    }
}
