//! The engine's error type.

/// Result alias for inference runs.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An inference failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Options that cannot work (window smaller than twice the halo, batch over the element limit, …).
    #[error("invalid inference options: {0}")]
    Options(String),
    /// The model failed or returned the wrong shape.
    #[error("model failed on the batch starting at window {window}")]
    Model {
        /// Which window (col,row of its top-left input pixel).
        window: String,
        /// Why.
        #[source]
        source: crate::model::ModelError,
    },
    /// An output value does not fit the output type (it would have been saturated or rounded away).
    #[error(
        "the model's output {value} at band {band}, pixel {col},{row} does not fit {dtype}; choose an output type \
         that holds the model's values"
    )]
    LossyCast {
        /// The output type.
        dtype: eoforge_raster::DataType,
        /// The value.
        value: f64,
        /// 1-based output band.
        band: usize,
        /// Output column.
        col: usize,
        /// Output row.
        row: usize,
    },
    /// Reading the input or writing the output failed.
    #[error(transparent)]
    Raster(#[from] eoforge_raster::Error),
    /// A pipeline stage stopped unexpectedly.
    #[error("pipeline stage `{0}` stopped unexpectedly")]
    Stage(&'static str),
}
