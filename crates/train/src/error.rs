//! The training error type.

/// Result alias for training.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A training failure, naming the file, field or shard involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A shard set file (`index.json`, `stats.json`) is missing or malformed.
    #[error("shard set `{url}`: {reason}")]
    ShardSet {
        /// The file's URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A shard does not hold what the index says, or a sample lacks a tensor the loader needs.
    #[error(transparent)]
    Shard(#[from] eoforge_shards::ReadError),
    /// Loader settings that cannot work (empty split, batch size 0, rank outside the world).
    #[error("invalid loader setting `{field}`: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A checkpoint cannot be written or read back.
    #[error("checkpoint `{}`: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint folder or file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The training loss became NaN or infinite.
    #[error("training diverged at step {step}: loss {loss} (lower the learning rate or enable clipping)")]
    Diverged {
        /// The step.
        step: u64,
        /// The loss value.
        loss: f64,
    },
    /// A run directory lacks a file or holds one that does not fit the run.
    #[error("run `{}`: {reason}", path.display())]
    Run {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A weights file cannot be written, read or applied (it names the file and the tensor).
    #[error(transparent)]
    Weights(#[from] eoforge_models::WeightsError),
    /// Storage failure (it names the URL).
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
    /// I/O failure (runtime or thread start-up).
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}
