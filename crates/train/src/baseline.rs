//! [`trivial_baseline`]: the scores of a predictor that looks at no input, on the same split and with the same
//! metrics as a run's — the floor a trained network must clear: the training split's majority class everywhere
//! (segmentation), each label's training frequency as its score (multi-label classification), the training mean
//! everywhere (regression), bicubic upsampling (super-resolution).

use burn::tensor::backend::Backend;
use ndarray::Array2;

use crate::config::ModelConfig;
use crate::error::Result;
use crate::fit::task_of;
use crate::loader::{Loader, LoaderConfig};
use crate::metrics::{ConfusionMatrix, MultiLabelMetrics};
use crate::objective::Report;
use crate::regression::RegressionTotals;
use crate::run_dir::TrainedRun;
use crate::shard_set::ShardSet;

/// The trivial predictor's scores on `split` of `set`, read as `run` reads it (its normalisation and class table).
/// Super-resolution's baseline (bicubic) is scored beside the network by [`TrainedRun::evaluate`]; here it is
/// taken from there, hence the device.
pub fn trivial_baseline<B: Backend>(
    run: &TrainedRun,
    set: &ShardSet,
    split: &str,
    device: &B::Device,
) -> Result<Report> {
    let loader = |split: &str| {
        Loader::for_run(
            set.clone(),
            LoaderConfig {
                split: split.to_owned(),
                batch_size: 32,
                shuffle_buffer: 0,
                input: run.data.input.clone(),
                ..LoaderConfig::default()
            },
            &run.data,
        )
    };
    let task = task_of(&run.config, &run.data, set);
    match &run.config.model {
        ModelConfig::Unet(_) | ModelConfig::Segmenter(_) | ModelConfig::Vit(_) | ModelConfig::Segformer(_) => {
            let mapping = run.data.label_mapping();
            let mut counts = vec![0u64; task.classes];
            for (value, n) in set.class_pixels("train") {
                if let Some(i) =
                    mapping.index(value).and_then(|i| usize::try_from(i).ok()).filter(|i| *i < counts.len())
                {
                    counts[i] += n;
                }
            }
            let majority = (0..task.classes).max_by_key(|c| (counts[*c], usize::MAX - c)).unwrap_or(0) as i64;
            let mut matrix = ConfusionMatrix::new(task.classes, task.ignore);
            for batch in loader(split)?.epoch(0) {
                let batch = batch?;
                if let Some(masks) = &batch.masks {
                    matrix
                        .update(&masks.mapv(|_| majority).view(), &masks.view())
                        .map_err(|reason| crate::Error::Config { field: "model.classes", reason })?;
                }
            }
            Ok(Report::Segmentation(matrix.report()))
        }
        ModelConfig::Classifier(_) | ModelConfig::VitClassifier(_) => {
            let mut frequency = vec![0f64; task.classes];
            let mut samples = 0usize;
            for batch in loader("train")?.epoch(0) {
                if let Some(labels) = &batch?.labels {
                    for row in labels.outer_iter() {
                        samples += 1;
                        for (f, v) in frequency.iter_mut().zip(row) {
                            *f += f64::from(*v > 0.5);
                        }
                    }
                }
            }
            let scores: Vec<f32> = frequency.iter().map(|f| (f / samples.max(1) as f64) as f32).collect();
            let mut metrics = MultiLabelMetrics::new(task.classes);
            for batch in loader(split)?.epoch(0) {
                if let Some(labels) = &batch?.labels {
                    let constant = Array2::from_shape_fn(labels.dim(), |(_, c)| scores.get(c).copied().unwrap_or(0.0));
                    metrics.update(&constant.view(), &labels.view());
                }
            }
            Ok(Report::MultiLabel(metrics.report(0.5)))
        }
        ModelConfig::VitRegressor(_) => {
            let mean = task.target.map_or(0.0, |t| t.mean);
            let mut totals = RegressionTotals::new(mean);
            for batch in loader(split)?.epoch(0) {
                if let Some(targets) = &batch?.targets {
                    let constant = vec![mean as f32; targets.len()];
                    totals.update(&constant, targets.as_slice().unwrap_or_default());
                }
            }
            Ok(Report::Regression(totals.report()))
        }
        ModelConfig::Sr(_) => match run.evaluate::<B>(set, split, device)? {
            Report::SuperResolution(mut r) => {
                (r.psnr, r.ssim, r.band_psnr, r.band_ssim) =
                    (r.bicubic_psnr, r.bicubic_ssim, r.band_bicubic_psnr.clone(), r.band_bicubic_ssim.clone());
                Ok(Report::SuperResolution(r))
            }
            other => Ok(other),
        },
    }
}
