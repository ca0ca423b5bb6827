//! The STAC error type.

/// Result alias for STAC operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An Item that could not be read or used as a scene.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the Item failed.
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
    /// The Item is not the JSON of a STAC Item, or lacks a field.
    #[error("`{location}` is not a usable STAC Item: {reason}")]
    Item {
        /// The Item's path or URL.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// An asset asked for is missing or ambiguous.
    #[error("`{location}`: --assets `{asked}`: {reason}")]
    Asset {
        /// The Item's path or URL.
        location: String,
        /// The name asked for.
        asked: String,
        /// What is wrong, with the assets the Item has.
        reason: String,
    },
    /// A STAC API search failed or found no Item to take.
    #[error("STAC API `{api}`: {reason}")]
    Search {
        /// The API's root URL.
        api: String,
        /// What happened.
        reason: String,
    },
    /// Stacking the assets failed (an unreadable asset, CRSs that differ).
    #[error(transparent)]
    Raster(#[from] eoforge_raster::Error),
    /// The working folder for the scene could not be made.
    #[error("cannot make a working folder for the scene of `{location}`")]
    Io {
        /// The Item's path or URL.
        location: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
