//! [`ClassProbabilities`]: a trained segmentation run as the tiled engine's network — per-class probabilities
//! (softmax) in the run's class-table order — so every caller maps scenes or tiles the same way. The "no label"
//! value is never a class of the table, so it is never predicted.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use eoforge_models::SegmentationNet;

use eoforge_train::TrainedRun;

use crate::error::Result;

/// A segmentation network giving per-class probabilities, output `i` the class `run.data.classes[i]`.
pub struct ClassProbabilities<B: Backend> {
    network: SegmentationNet<B>,
}

impl<B: Backend> ClassProbabilities<B> {
    /// The run's trained U-Net or segmenter on `device`.
    pub fn of(run: &TrainedRun, device: &B::Device) -> Result<Self> {
        Ok(Self { network: run.segmentation::<B>(device)? })
    }
}

impl<B: Backend> eoforge_engine::ImageNetwork<B> for ClassProbabilities<B> {
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        softmax(self.network.forward(input), 1)
    }
}
