//! Errors of making a product with a model: each names the file, flag or field.

use std::path::PathBuf;

/// What went wrong.
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
    /// The model cannot be loaded or does not fit what it is fed.
    #[error("{path}: {reason}")]
    Model {
        /// The model file or run directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The scene cannot be used with the model.
    #[error("{source_url}: {reason}")]
    Scene {
        /// The scene.
        source_url: String,
        /// Why.
        reason: String,
    },
    /// Making the product failed (the message names the destination).
    #[error("{0}")]
    Product(String),
    /// Scenes of a list failed (each with its reason).
    #[error("{} scene(s) failed: {}", .0.len(), .0.join("; "))]
    Scenes(Vec<String>),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Reading or writing rasters.
    #[error(transparent)]
    Raster(#[from] eoforge_raster::Error),
    /// The tiled engine.
    #[error(transparent)]
    Engine(#[from] eoforge_engine::Error),
    /// A trained run.
    #[error(transparent)]
    Train(#[from] eoforge_train::Error),
    /// QC and publishing.
    #[error(transparent)]
    Products(#[from] eoforge_products::Error),
    /// Object storage.
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
    /// A STAC Item that cannot be used as the scene.
    #[error(transparent)]
    Stac(#[from] eoforge_stac::Error),
}

impl Error {
    /// The stage a run stopped in, as notifications name it.
    pub fn stage(&self) -> &'static str {
        match self {
            Self::Usage(_) | Self::Card(_) | Self::Scenes(_) => "setup",
            Self::Runtime(_) | Self::Model { .. } | Self::Train(_) => "model",
            Self::Scene { .. } | Self::Raster(_) | Self::Stac(_) => "read",
            Self::Engine(_) => "infer",
            Self::Product(_) | Self::Products(_) => "qc and publish",
            Self::Io { .. } | Self::Storage(_) => "storage",
        }
    }
}

impl Error {
    /// A scene error.
    pub(crate) fn scene(source_url: &str, reason: impl Into<String>) -> Self {
        Self::Scene { source_url: source_url.to_owned(), reason: reason.into() }
    }
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<eoforge_card::Error> for Error {
    fn from(e: eoforge_card::Error) -> Self {
        match e {
            eoforge_card::Error::Usage(text) => Self::Usage(text),
            eoforge_card::Error::Card(text) => Self::Card(text),
            eoforge_card::Error::Io { path, source } => Self::Io { path, source },
        }
    }
}
