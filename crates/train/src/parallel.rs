//! Data-parallel steps: a global batch cut into equal shares, one per replica, each replica's gradients computed
//! on its device, summed onto the first device, one optimiser step per global batch.
//!
//! Each share's loss is weighted by its share of the samples (`len / n`), so the summed gradients are those of the
//! mean loss over the global batch whenever the loss is a mean over samples (L1, BCE, cross-entropy without
//! ignored pixels or class weights); with ignored pixels or class weights they are the sample-weighted mean of the
//! shares' losses, as PyTorch's `DistributedDataParallel` averages its ranks' gradients.
//!
//! Batch normalisation uses each share's own statistics (no synchronised batch norm). Replicas on one device run
//! one after the other on the calling thread, so running statistics take one momentum update per share, in share
//! order, and a run is deterministic; replicas on distinct devices run on threads of their own, and burn averages
//! the threads' running statistics.

use std::ops::Range;

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

use crate::error::{Error, Result};
use crate::loader::Batch;
use crate::objective::{Task, Trainable};

/// How the learning rate follows the replica count (the global batch grows with it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrScaling {
    /// The configured learning rate, whatever the replica count.
    #[default]
    None,
    /// Multiplied by the replica count (Goyal et al.'s linear scaling rule).
    Linear,
    /// Multiplied by the square root of the replica count (for adaptive optimisers such as AdamW).
    Sqrt,
}

impl LrScaling {
    /// The factor the learning rate is multiplied by for `replicas` replicas.
    pub fn factor(self, replicas: usize) -> f64 {
        let r = replicas.max(1) as f64;
        match self {
            Self::None => 1.0,
            Self::Linear => r,
            Self::Sqrt => r.sqrt(),
        }
    }
}

impl std::str::FromStr for LrScaling {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "linear" => Ok(Self::Linear),
            "sqrt" => Ok(Self::Sqrt),
            _ => Err(format!("`{s}` is not one of none, linear, sqrt")),
        }
    }
}

/// `n` samples cut into `replicas` contiguous shares whose sizes differ by at most one (the first `n mod replicas`
/// shares hold one more); shares of a batch smaller than the replica count may be empty.
pub fn shares(n: usize, replicas: usize) -> Vec<Range<usize>> {
    let replicas = replicas.max(1);
    let (base, extra) = (n / replicas, n % replicas);
    let mut start = 0;
    (0..replicas)
        .map(|i| {
            let len = base + usize::from(i < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// The samples `range` of `batch`, as a batch of their own.
pub fn share_of(batch: &Batch, range: Range<usize>) -> Batch {
    use ndarray::{Axis, Slice};
    let slice = Slice::from(range.clone());
    Batch {
        index: batch.index,
        keys: batch.keys[range.clone()].to_vec(),
        inputs: batch.inputs.slice_axis(Axis(0), slice).to_owned(),
        labels: batch.labels.as_ref().map(|l| l.slice_axis(Axis(0), slice).to_owned()),
        masks: batch.masks.as_ref().map(|m| m.slice_axis(Axis(0), slice).to_owned()),
        targets: batch.targets.as_ref().map(|t| t.slice_axis(Axis(0), slice).to_owned()),
        frames: batch.frames,
        dates: batch.dates.as_ref().map(|d| d[range.start * batch.frames..range.end * batch.frames].to_vec()),
        location: batch.location.as_ref().map(|l| l[range.clone()].to_vec()),
    }
}

/// The loss of `batch` and its gradients for `model`, computed data-parallel: replica `i` takes share `i` of
/// [`shares`] on `devices[i]`. Gradients come back on the device of `model`. Returns the global batch's loss
/// (the sample-weighted mean of the shares' losses).
pub fn replica_gradients<B, M>(
    model: &M,
    batch: &Batch,
    task: &Task,
    devices: &[B::Device],
) -> Result<(f64, GradientsParams)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Trainable<B>,
{
    let Some(home) = devices.first() else {
        return Err(Error::Config { field: "replicas", reason: "no device to train on".into() });
    };
    let n = batch.keys.len();
    let parts: Vec<(Batch, f64)> = shares(n, devices.len())
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| (r.len() as f64 / n as f64, r))
        .map(|(weight, r)| (share_of(batch, r), weight))
        .collect();
    // One replica's weighted loss and gradients, brought to the home device.
    let replica = |model: &M, share: &Batch, weight: f64, device: &B::Device| -> Result<(f64, GradientsParams)> {
        let loss = model.batch_loss(share, task, device)? * weight;
        let value = loss.clone().into_scalar().elem::<f64>();
        let grads = GradientsParams::from_grads(loss.backward(), model);
        Ok((value, if device == home { grads } else { grads.to_device(home, model) }))
    };
    let results: Vec<Result<(f64, GradientsParams)>> = if devices.iter().all(|d| d == home) {
        parts.iter().map(|(share, weight)| replica(model, share, *weight, home)).collect()
    } else {
        // burn initialises parameters lazily, and a copy made before that would draw weights of its own.
        model.visit(&mut Initialise);
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .zip(devices)
                .map(|((share, weight), device)| {
                    let copy = model.clone().fork(device);
                    let replica = &replica;
                    scope.spawn(move || replica(&copy, share, *weight, device))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Config { field: "replicas", reason: "a replica's thread panicked".into() })
                    })
                })
                .collect()
        })
    };
    let mut total = 0.0;
    let mut sum = GradientsAccumulator::<M>::new();
    for result in results {
        let (value, grads) = result?;
        total += value;
        sum.accumulate(model, grads);
    }
    Ok((total, sum.grads()))
}

/// Touches every parameter, so that lazily initialised ones take their values before the module is copied.
struct Initialise;

impl<B: burn::tensor::backend::Backend> ModuleVisitor<B> for Initialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// The device of each of `replicas` replicas over `devices`, round robin.
pub(crate) fn replica_devices<D: Clone>(devices: &[D], replicas: usize) -> Vec<D> {
    (0..replicas).filter_map(|i| devices.get(i % devices.len().max(1)).cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_contiguous_and_differ_by_at_most_one() {
        assert_eq!(shares(10, 4), vec![0..3, 3..6, 6..8, 8..10]);
        assert_eq!(shares(8, 2), vec![0..4, 4..8]);
        assert_eq!(shares(2, 3), vec![0..1, 1..2, 2..2]);
        assert_eq!(shares(5, 0), vec![0..5]);
    }

    #[test]
    fn learning_rate_scaling() {
        assert!((LrScaling::Linear.factor(4) - 4.0).abs() < 1e-12);
        assert!((LrScaling::Sqrt.factor(4) - 2.0).abs() < 1e-12);
        assert!((LrScaling::None.factor(8) - 1.0).abs() < 1e-12);
        assert_eq!("sqrt".parse::<LrScaling>(), Ok(LrScaling::Sqrt));
        assert!("cubic".parse::<LrScaling>().is_err());
        assert_eq!(replica_devices(&['a', 'b'], 3), vec!['a', 'b', 'a']);
    }
}
