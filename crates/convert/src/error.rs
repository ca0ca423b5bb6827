//! The conversion error type.

/// Result alias for conversions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A conversion failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A patch could not be converted and the policy is `--on-error fail`.
    #[error("patch `{patch_id}`")]
    BadPatch {
        /// The patch.
        patch_id: String,
        /// What is wrong (missing band, truncated file, wrong size, all nodata, …).
        #[source]
        source: crate::patch::PatchError,
    },
    /// Invalid options.
    #[error("invalid conversion options: {0}")]
    Options(String),
    /// Encoding a shard failed.
    #[error("cannot encode shard `{shard}`")]
    Encode {
        /// The shard.
        shard: String,
        /// The encoder's error.
        #[source]
        source: eoforge_shards::Error,
    },
    /// A manifest entry is unreadable.
    #[error("unreadable manifest entry `{url}`: {reason}")]
    Manifest {
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// An input raster cannot be used (not georeferenced, another CRS, not covering the scene, …).
    #[error("`{path}`: {reason}")]
    Input {
        /// The raster.
        path: String,
        /// Why.
        reason: String,
    },
    /// Reading a raster failed (the error names the file).
    #[error(transparent)]
    Raster(#[from] eoforge_raster::Error),
    /// Storage failure.
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
    /// I/O failure (runtime start-up).
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}
