//! [`Trainable`]: how each model family turns a batch into a loss and a split into validation scores.

use burn::module::Module;
use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use eoforge_models::{PatchClassifier, UNet};
use ndarray::{Array2, Array3};

use crate::config::LossConfig;
use crate::error::{Error, Result};
use crate::loader::{Batch, Loader};
use crate::losses::{cross_entropy, dice};
use crate::metrics::{ConfusionMatrix, MultiLabelMetrics, MultiLabelReport, SegmentationReport};

/// What the loss and the metrics need to know beyond the network: classes, the ignore value, loss settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Classes the network predicts.
    pub classes: usize,
    /// Mask value left out of losses and metrics.
    pub ignore: Option<i64>,
    /// Segmentation loss settings.
    pub loss: LossConfig,
}

/// Validation scores of one evaluation, by model family.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Report {
    /// Multi-label classification: micro/macro F1 and mAP.
    MultiLabel(MultiLabelReport),
    /// Segmentation: pixel accuracy, IoU and F1 per class, confusion matrix.
    Segmentation(SegmentationReport),
}

impl Report {
    /// A named score (`macro_map`, `micro_map`, `macro_f1`, `micro_f1`, `mean_iou`, `pixel_accuracy`); `None`
    /// when this family has no such score.
    pub fn metric(&self, name: &str) -> Option<f64> {
        match (self, name) {
            (Self::MultiLabel(r), "macro_map") => Some(r.macro_map),
            (Self::MultiLabel(r), "micro_map") => Some(r.micro_map),
            (Self::MultiLabel(r), "macro_f1") => Some(r.macro_f1),
            (Self::MultiLabel(r), "micro_f1") => Some(r.micro_f1),
            (Self::Segmentation(r), "mean_iou") => Some(r.mean_iou),
            (Self::Segmentation(r), "pixel_accuracy") => Some(r.pixel_accuracy),
            _ => None,
        }
    }
}

/// A network the training loop can train and score, on any backend.
pub trait Trainable<B: Backend>: Module<B> {
    /// The training loss of one batch.
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>>;

    /// Adds one batch's predictions to `scores`.
    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()>;
}

/// Running validation scores of either family.
#[derive(Clone, Debug)]
pub enum Scores {
    /// Multi-label scores.
    MultiLabel(MultiLabelMetrics),
    /// Segmentation confusion matrix.
    Segmentation(ConfusionMatrix),
}

impl Scores {
    /// The report (multi-label probabilities thresholded at 0.5).
    pub fn report(&self) -> Report {
        match self {
            Self::MultiLabel(m) => Report::MultiLabel(m.report(0.5)),
            Self::Segmentation(m) => Report::Segmentation(m.report()),
        }
    }
}

/// Scores `model` over every batch of `loader`; `segmentation` picks the family's scores.
pub fn evaluate<B: Backend, M: Trainable<B>>(
    model: &M,
    loader: &Loader,
    task: &Task,
    segmentation: bool,
    device: &B::Device,
) -> Result<Report> {
    let mut scores = if segmentation {
        Scores::Segmentation(ConfusionMatrix::new(task.classes, task.ignore))
    } else {
        Scores::MultiLabel(MultiLabelMetrics::new(task.classes))
    };
    for batch in loader.epoch(0) {
        model.score_batch(&batch?, task, &mut scores, device)?;
    }
    Ok(scores.report())
}

impl<B: Backend> Trainable<B> for PatchClassifier<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        let labels = multi_hot(batch, task)?;
        let targets: Vec<i64> = labels.iter().map(|v| i64::from(*v > 0.5)).collect();
        let targets =
            Tensor::<B, 2, Int>::from_data(TensorData::new(targets, [labels.nrows(), labels.ncols()]), device);
        let loss = BinaryCrossEntropyLossConfig::new().with_logits(true).init(device);
        Ok(loss.forward(self.forward(inputs(batch, device)), targets))
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        let Scores::MultiLabel(metrics) = scores else {
            return Err(Error::Config { field: "model", reason: "a classifier scores multi-label batches".into() });
        };
        let labels = multi_hot(batch, task)?;
        let probabilities = burn::tensor::activation::sigmoid(self.forward(inputs(batch, device)));
        let [n, c] = probabilities.dims();
        let values: Vec<f32> = probabilities.into_data().convert::<f32>().to_vec().unwrap_or_default();
        let values = Array2::from_shape_vec((n, c), values).map_err(|e| model_error(&e))?;
        metrics.update(&values.view(), &labels.view());
        Ok(())
    }
}

impl<B: Backend> Trainable<B> for UNet<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        let masks = masks(batch, task)?;
        let (n, h, w) = masks.dim();
        let logits = self.forward(inputs(batch, device));
        let pixels = logits.permute([0, 2, 3, 1]).reshape([n * h * w, task.classes]);
        let targets = Tensor::<B, 1, Int>::from_data(
            TensorData::new(masks.iter().copied().collect::<Vec<_>>(), [n * h * w]),
            device,
        );
        let weights = task.loss.class_weights.as_deref();
        let mut loss = cross_entropy(pixels.clone(), targets.clone(), weights, task.ignore);
        if task.loss.dice_weight > 0.0 {
            loss = loss + dice(pixels, targets, task.ignore) * task.loss.dice_weight;
        }
        Ok(loss)
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        let Scores::Segmentation(matrix) = scores else {
            return Err(Error::Config { field: "model", reason: "a U-Net scores segmentation batches".into() });
        };
        let target = masks(batch, task)?;
        let predicted = predict_classes(self, batch, task.ignore, device)?;
        matrix
            .update(&predicted.view(), &target.view())
            .map_err(|reason| Error::Config { field: "model.classes", reason })
    }
}

/// The U-Net's class per pixel `(n, h, w)` for a batch; the `ignore` class ("no label") is never chosen, as in
/// the class maps `predict` writes.
pub fn predict_classes<B: Backend>(
    model: &UNet<B>,
    batch: &Batch,
    ignore: Option<i64>,
    device: &B::Device,
) -> Result<Array3<i64>> {
    let (n, _, h, w) = batch.inputs.dim();
    let mut scores = model.forward(inputs(batch, device));
    let classes = scores.dims()[1];
    if let Some(class) = ignore.and_then(|c| usize::try_from(c).ok()).filter(|&c| c < classes) {
        scores = scores.slice_assign([0..n, class..class + 1, 0..h, 0..w], Tensor::full([n, 1, h, w], -1e30, device));
    }
    let classes = scores.argmax(1);
    let values: Vec<i64> = classes.into_data().convert::<i64>().to_vec().map_err(|e| model_error(&format!("{e:?}")))?;
    Array3::from_shape_vec((n, h, w), values).map_err(|e| model_error(&e))
}

fn model_error(e: &dyn std::fmt::Display) -> Error {
    Error::Config { field: "model", reason: format!("unexpected network output: {e}") }
}

/// A batch's inputs as a tensor `(n, c, h, w)`.
fn inputs<B: Backend>(batch: &Batch, device: &B::Device) -> Tensor<B, 4> {
    let (n, c, h, w) = batch.inputs.dim();
    Tensor::from_data(TensorData::new(batch.inputs.iter().copied().collect::<Vec<f32>>(), [n, c, h, w]), device)
}

/// The batch's multi-hot labels, one column per class.
fn multi_hot<'a>(batch: &'a Batch, task: &Task) -> Result<&'a Array2<f32>> {
    let key = &batch.keys[0];
    let labels = batch.labels.as_ref().ok_or_else(|| Error::Config {
        field: "model",
        reason: format!("the classifier needs a `labels` tensor; sample `{key}` has none (a segmentation set?)"),
    })?;
    if labels.ncols() != task.classes {
        return Err(Error::Config {
            field: "model.classes",
            reason: format!("is {}, sample `{key}` has {} labels", task.classes, labels.ncols()),
        });
    }
    Ok(labels)
}

/// The batch's masks, every value a class of the network or the ignore value.
fn masks<'a>(batch: &'a Batch, task: &Task) -> Result<&'a Array3<i64>> {
    let key = &batch.keys[0];
    let masks = batch.masks.as_ref().ok_or_else(|| Error::Config {
        field: "model",
        reason: format!("the U-Net needs a `mask` tensor; sample `{key}` has none (a multi-label set?)"),
    })?;
    let k = task.classes as i64;
    if let Some((i, v)) = masks
        .outer_iter()
        .enumerate()
        .find_map(|(i, m)| m.iter().find(|v| Some(**v) != task.ignore && !(0..k).contains(*v)).map(|v| (i, *v)))
    {
        return Err(Error::Config {
            field: "model.classes",
            reason: format!("is {k}, but sample `{}` has class {v}", batch.keys[i]),
        });
    }
    Ok(masks)
}
