//! [`ClassProbabilities`]: a trained segmentation run as the tiled engine's network — per-class probabilities
//! (softmax), with the run's "no label" class never chosen — so every caller maps scenes or tiles the same way.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use eoforge_models::SegmentationNet;

use crate::error::Result;
use crate::run_dir::TrainedRun;

/// A segmentation network giving per-class probabilities; the ignored class (if any) scores −1.
pub struct ClassProbabilities<B: Backend> {
    network: SegmentationNet<B>,
    ignore: Option<usize>,
}

impl<B: Backend> ClassProbabilities<B> {
    /// The run's trained U-Net or segmenter on `device`, with its ignored class left out of the argmax.
    pub fn of(run: &TrainedRun, device: &B::Device) -> Result<Self> {
        let classes = run.config.model.classes();
        Ok(Self {
            network: run.segmentation::<B>(device)?,
            ignore: run.data.ignore.and_then(|v| usize::try_from(v).ok()).filter(|v| *v < classes),
        })
    }
}

impl<B: Backend> eoforge_engine::ImageNetwork<B> for ClassProbabilities<B> {
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let p = softmax(self.network.forward(input), 1);
        match self.ignore {
            Some(class) => {
                let [n, _, h, w] = p.dims();
                let device = p.device();
                p.slice_assign([0..n, class..class + 1, 0..h, 0..w], Tensor::full([n, 1, h, w], -1.0, &device))
            }
            None => p,
        }
    }
}
