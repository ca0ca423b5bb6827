//! Running burn networks in the engine, on any backend and device.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use ndarray::Array4;

use crate::model::{Model, ModelError};

/// A burn network over image batches: `(n, bands, h, w)` → `(n, out_bands, h·scale, w·scale)`.
///
/// Implement it for a `#[derive(Module)]` struct by calling its own `forward`; the network never learns which
/// device it runs on.
pub trait ImageNetwork<B: Backend>: Send {
    /// Runs one batch.
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4>;
}

/// The engine's [`Model`] for a burn network: each batch moves to `device`, runs, and comes back as f32.
pub struct BurnModel<B: Backend, N> {
    network: N,
    device: B::Device,
    out_bands: usize,
    scale: usize,
}

impl<B: Backend, N: ImageNetwork<B>> BurnModel<B, N> {
    /// Wraps `network`, which must return `out_bands` bands at `scale` times the input size, on `device`.
    pub fn new(network: N, device: B::Device, out_bands: usize, scale: usize) -> Self {
        Self { network, device, out_bands, scale }
    }

    /// The wrapped network.
    pub fn network(&self) -> &N {
        &self.network
    }
}

impl<B: Backend, N> std::fmt::Debug for BurnModel<B, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BurnModel")
            .field("backend", &std::any::type_name::<B>())
            .field("device", &self.device)
            .field("out_bands", &self.out_bands)
            .field("scale", &self.scale)
            .finish_non_exhaustive()
    }
}

impl<B: Backend, N: ImageNetwork<B>> Model for BurnModel<B, N> {
    fn out_bands(&self) -> usize {
        self.out_bands
    }

    fn scale(&self) -> usize {
        self.scale
    }

    fn forward(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, ModelError> {
        let (n, bands, h, w) = batch.dim();
        let values = if batch.is_standard_layout() {
            batch.into_raw_vec_and_offset().0
        } else {
            batch.iter().copied().collect()
        };
        // burn reports misuse (a channel count the network was not built for, …) by panicking: turn that into
        // this batch's error so the run fails cleanly and publishes nothing.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let input = Tensor::<B, 4>::from_data(TensorData::new(values, [n, bands, h, w]), &self.device);
            let output = self.network.forward(input);
            let dims = output.dims();
            output.try_into_data().map(|data| (dims, data))
        }));
        let ([on, ob, oh, ow], data) = match run {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(ModelError::new(format!("reading the network's output from the device: {e:?}"))),
            Err(panic) => {
                return Err(ModelError::new(format!(
                    "the network panicked on a {n}x{bands}x{h}x{w} batch: {}",
                    message(&*panic)
                )));
            }
        };
        let values = data
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| ModelError::new(format!("the network's output is not numeric: {e:?}")))?;
        Array4::from_shape_vec((on, ob, oh, ow), values).map_err(|e| {
            ModelError::with_source(format!("the network's output does not match its shape {on}x{ob}x{oh}x{ow}"), e)
        })
    }
}

/// The text of a panic payload.
fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "no message".to_owned())
}
