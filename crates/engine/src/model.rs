//! The model interface of the engine.

use ndarray::Array4;

/// A model over batches: input `(n, bands, h, w)`, output `(n, out_bands, h * scale, w * scale)`.
pub trait Model: Send {
    /// Output bands.
    fn out_bands(&self) -> usize;
    /// Output pixels per input pixel along each axis (1 for segmentation, 10 for 10× super-resolution).
    fn scale(&self) -> usize;
    /// Runs one batch.
    fn forward(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, ModelError>;
}

/// A borrowed model is a model: a caller keeps its model (a loaded session) across runs and lends it, or wraps it
/// (`eoforge_predict::InInputUnits`), for one.
impl<M: Model + ?Sized> Model for &mut M {
    fn out_bands(&self) -> usize {
        (**self).out_bands()
    }
    fn scale(&self) -> usize {
        (**self).scale()
    }
    fn forward(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, ModelError> {
        (**self).forward(batch)
    }
}

/// Why a model could not run a batch: what failed, and the underlying error when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ModelError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// An error with a message and the error that caused it.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self { message: message.into(), source: Some(source.into()) }
    }
}

impl From<String> for ModelError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for ModelError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// A model from a closure.
pub struct FnModel<F> {
    out_bands: usize,
    scale: usize,
    f: F,
}

impl<F: FnMut(Array4<f32>) -> Result<Array4<f32>, ModelError> + Send> FnModel<F> {
    /// Wraps `f`, which must return `out_bands` bands at `scale` times the input size.
    pub fn new(out_bands: usize, scale: usize, f: F) -> Self {
        Self { out_bands, scale, f }
    }
}

impl<F: FnMut(Array4<f32>) -> Result<Array4<f32>, ModelError> + Send> Model for FnModel<F> {
    fn out_bands(&self) -> usize {
        self.out_bands
    }
    fn scale(&self) -> usize {
        self.scale
    }
    fn forward(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, ModelError> {
        (self.f)(batch)
    }
}
