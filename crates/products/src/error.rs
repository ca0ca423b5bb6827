//! The products error type.

/// Result alias for product operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A product that could not be checked, published or skipped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// QC failed or could not run; nothing was published.
    #[error(transparent)]
    Qc(#[from] eoforge_qc::Error),
    /// Reading or writing a store failed.
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
    /// A local file or folder operation failed.
    #[error("cannot {operation} `{path}`")]
    Io {
        /// What was attempted.
        operation: &'static str,
        /// On what.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A scene list line that is not `SOURCE DEST`.
    #[error("{list}:{line}: {reason}")]
    SceneList {
        /// The list.
        list: String,
        /// 1-based line (0 for the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A product's STAC Item could not be made (its grid, CRS or bands unreadable); nothing was published.
    #[error("cannot make the STAC item of `{dest}`: {reason}")]
    Item {
        /// The product's destination.
        dest: String,
        /// Why.
        reason: String,
    },
    /// A STAC API did not take a product's Item.
    #[error("STAC API collection {url}: {reason}")]
    StacApi {
        /// The collection's URL, without its query.
        url: String,
        /// Why.
        reason: String,
    },
    /// A static STAC collection could not be updated.
    #[error("cannot add to the STAC collection `{collection}`: {reason}")]
    Collection {
        /// The collection's folder or URL.
        collection: String,
        /// Why.
        reason: String,
    },
    /// A destination already holds a product made with other options.
    #[error("`{dest}` already holds a product made with other options ({differences}); pass --force to replace it")]
    OptionsChanged {
        /// The destination.
        dest: String,
        /// `key: old -> new`, joined by `; `.
        differences: String,
    },
}
