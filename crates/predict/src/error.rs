//! Errors of loading and running a user's model.

use std::path::PathBuf;

/// What went wrong, naming the file, flag or field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag's value cannot be used (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The model card is wrong.
    #[error("model card {0}")]
    Card(String),
    /// No usable ONNX Runtime library.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// The model file cannot be loaded or does not fit what it is fed.
    #[error("{path}: {reason}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
