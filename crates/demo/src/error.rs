//! The main job's error type: every variant names the stage, file or URL it is about.

/// Result alias for the main job.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A main-job failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stage's process could not start or did not succeed.
    #[error("stage `{stage}` failed ({status}): {message}\n  command: {command}")]
    Stage {
        /// The stage.
        stage: String,
        /// Its command line.
        command: String,
        /// Exit status, or why it did not run.
        status: String,
        /// Its `error: …` line, or a hint.
        message: String,
    },
    /// Invalid options.
    #[error("{0}")]
    Options(String),
    /// A file could not be read or written.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stage's output is not what it should be.
    #[error("`{path}`: {reason}")]
    Output {
        /// The output.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading a raster for a preview failed.
    #[error(transparent)]
    Raster(#[from] eoforge_raster::Error),
    /// Storage failure.
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
}

impl Error {
    /// An I/O error about `path`.
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io { path: path.as_ref().display().to_string(), source }
    }
}
