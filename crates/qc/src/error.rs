//! The QC error type.

/// Result alias for QC operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A QC failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The product failed QC; nothing was published.
    #[error("`{path}` failed QC ({failed}); not published")]
    Blocked {
        /// The product.
        path: String,
        /// Names and details of the failed checks.
        failed: String,
    },
    /// The product could not be read at all.
    #[error(transparent)]
    Raster(#[from] eoforge_raster::Error),
    /// A statistics reader thread stopped unexpectedly.
    #[error("reading `{path}` for statistics stopped unexpectedly")]
    Interrupted {
        /// The product.
        path: String,
    },
    /// Writing the report failed.
    #[error("cannot write QC report `{path}`")]
    Report {
        /// Where.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
