//! The model interface of the engine.

use ndarray::Array4;

/// A model over batches: input `(n, bands, h, w)`, output `(n, out_bands, h * scale, w * scale)`.
pub trait Model: Send {
    /// Output bands.
    fn out_bands(&self) -> usize;
    /// Output pixels per input pixel along each axis (1 for segmentation, 10 for 10× super-resolution).
    fn scale(&self) -> usize;
    /// Runs one batch.
    fn forward(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, String>;
}

/// A model from a closure.
pub struct FnModel<F> {
    out_bands: usize,
    scale: usize,
    f: F,
}

impl<F: FnMut(Array4<f32>) -> Result<Array4<f32>, String> + Send> FnModel<F> {
    /// Wraps `f`, which must return `out_bands` bands at `scale` times the input size.
    pub fn new(out_bands: usize, scale: usize, f: F) -> Self {
        Self { out_bands, scale, f }
    }
}

impl<F: FnMut(Array4<f32>) -> Result<Array4<f32>, String> + Send> Model for FnModel<F> {
    fn out_bands(&self) -> usize {
        self.out_bands
    }
    fn scale(&self) -> usize {
        self.scale
    }
    fn forward(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, String> {
        (self.f)(batch)
    }
}
