//! [`Trainable`]: how each model family turns a batch into a loss and a split into validation scores.

use burn::module::Module;
use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use eoforge_models::{
    Coords, PatchClassifier, SegFormer, SegmentationNet, Segmenter, SuperResolution, UNet, VitClassifier, VitSegmenter,
    bicubic,
};
use ndarray::{Array2, Array3, Array4};

use crate::config::{LossConfig, ModelConfig};
use crate::error::{Error, Result};
use crate::loader::{Batch, Loader};
use crate::losses::{cross_entropy, dice};
use crate::metrics::{ConfusionMatrix, MultiLabelMetrics, MultiLabelReport, SegmentationReport};
use crate::regression::{RegressionReport, RegressionTotals, regression_loss};

/// What the loss and the metrics need to know beyond the network: classes, the ignore value, loss settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Classes the network predicts.
    pub classes: usize,
    /// Mask value left out of losses and metrics.
    pub ignore: Option<i64>,
    /// Segmentation loss settings.
    pub loss: LossConfig,
    /// Per input channel: the mean and standard deviation inputs were normalised with, and the value range of the
    /// training split (`max − min`); super-resolution scores are computed in the original units with it.
    pub channels: Vec<ChannelScale>,
    /// The regression target's training mean, standard deviation and range (regression runs).
    pub target: Option<ChannelScale>,
}

/// How one channel was normalised, and its value range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelScale {
    /// Mean subtracted.
    pub mean: f64,
    /// Standard deviation divided by.
    pub std: f64,
    /// `max − min` of the training split (PSNR's and SSIM's data range).
    pub range: f64,
}

/// Validation scores of one evaluation, by model family.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Report {
    /// Multi-label classification: micro/macro F1 and mAP.
    MultiLabel(MultiLabelReport),
    /// Segmentation: pixel accuracy, IoU and F1 per class, confusion matrix.
    Segmentation(SegmentationReport),
    /// Super-resolution: PSNR and SSIM per band beside bicubic upsampling's.
    SuperResolution(SrReport),
    /// Pixel regression: RMSE, MAE and R² beside predicting the training mean.
    Regression(RegressionReport),
}

/// Super-resolution scores of a split: the mean over windows of each band's PSNR and SSIM, for the model and for
/// bicubic upsampling of the same inputs.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SrReport {
    /// Windows scored.
    pub windows: usize,
    /// Mean PSNR over bands and windows (dB).
    pub psnr: f64,
    /// Mean SSIM over bands and windows.
    pub ssim: f64,
    /// Bicubic's mean PSNR (dB).
    pub bicubic_psnr: f64,
    /// Bicubic's mean SSIM.
    pub bicubic_ssim: f64,
    /// The model's PSNR per band.
    pub band_psnr: Vec<f64>,
    /// The model's SSIM per band.
    pub band_ssim: Vec<f64>,
    /// Bicubic's PSNR per band.
    pub band_bicubic_psnr: Vec<f64>,
    /// Bicubic's SSIM per band.
    pub band_bicubic_ssim: Vec<f64>,
}

/// Running sums of per-window, per-band super-resolution scores.
#[derive(Clone, Debug, Default)]
pub struct SrTotals {
    windows: usize,
    /// Per band: model PSNR, model SSIM, bicubic PSNR, bicubic SSIM.
    sums: Vec<[f64; 4]>,
}

impl SrTotals {
    fn report(&self) -> SrReport {
        let n = self.windows.max(1) as f64;
        let band = |k: usize| self.sums.iter().map(|s| s[k] / n).collect::<Vec<f64>>();
        let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
        let (p, q, bp, bq) = (band(0), band(1), band(2), band(3));
        SrReport {
            windows: self.windows,
            psnr: mean(&p),
            ssim: mean(&q),
            bicubic_psnr: mean(&bp),
            bicubic_ssim: mean(&bq),
            band_psnr: p,
            band_ssim: q,
            band_bicubic_psnr: bp,
            band_bicubic_ssim: bq,
        }
    }
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
            (Self::SuperResolution(r), "psnr") => Some(r.psnr),
            (Self::SuperResolution(r), "ssim") => Some(r.ssim),
            (Self::Regression(r), "r2") => Some(r.r2),
            (Self::Regression(r), "rmse") => Some(r.rmse),
            (Self::Regression(r), "mae") => Some(r.mae),
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

    /// Parameters stepped at their own share of the learning rate (a ViT encoder's, [`crate::LrGroups`]); every
    /// other parameter takes the base rate.
    fn lr_groups(&self, _config: &crate::FitConfig) -> crate::LrGroups {
        Vec::new()
    }
}

/// Running validation scores of either family.
#[derive(Clone, Debug)]
pub enum Scores {
    /// Multi-label scores.
    MultiLabel(MultiLabelMetrics),
    /// Segmentation confusion matrix.
    Segmentation(ConfusionMatrix),
    /// Super-resolution PSNR and SSIM sums.
    SuperResolution(SrTotals),
    /// Regression error sums.
    Regression(RegressionTotals),
}

impl Scores {
    /// Empty scores for the family of `model`.
    pub fn for_model(model: &ModelConfig, task: &Task) -> Self {
        match model {
            ModelConfig::Classifier(_) | ModelConfig::VitClassifier(_) => {
                Self::MultiLabel(MultiLabelMetrics::new(task.classes))
            }
            ModelConfig::Unet(_) | ModelConfig::Segmenter(_) | ModelConfig::Vit(_) | ModelConfig::Segformer(_) => {
                Self::Segmentation(ConfusionMatrix::new(task.classes, task.ignore))
            }
            ModelConfig::VitRegressor(_) => {
                Self::Regression(RegressionTotals::new(task.target.map_or(0.0, |t| t.mean)))
            }
            ModelConfig::Sr(_) => Self::SuperResolution(SrTotals::default()),
        }
    }

    /// The report (multi-label probabilities thresholded at 0.5).
    pub fn report(&self) -> Report {
        match self {
            Self::MultiLabel(m) => Report::MultiLabel(m.report(0.5)),
            Self::Segmentation(m) => Report::Segmentation(m.report()),
            Self::SuperResolution(t) => Report::SuperResolution(t.report()),
            Self::Regression(t) => Report::Regression(t.report()),
        }
    }
}

/// Scores `model` over every batch of `loader`, into `scores` ([`Scores::for_model`]).
pub fn evaluate<B: Backend, M: Trainable<B>>(
    model: &M,
    loader: &Loader,
    task: &Task,
    mut scores: Scores,
    device: &B::Device,
) -> Result<Report> {
    for batch in loader.epoch(0) {
        model.score_batch(&batch?, task, &mut scores, device)?;
    }
    Ok(scores.report())
}

/// A network giving one logit per class `(n, classes)`: trained with BCE on logits against multi-hot labels and
/// scored with F1 and mAP.
pub trait PatchLogits<B: Backend> {
    /// Class logits for a batch.
    fn patch_logits(&self, input: Tensor<B, 4>, coords: &Coords) -> Tensor<B, 2>;
}

impl<B: Backend> PatchLogits<B> for PatchClassifier<B> {
    fn patch_logits(&self, input: Tensor<B, 4>, _coords: &Coords) -> Tensor<B, 2> {
        self.forward(input)
    }
}

impl<B: Backend> PatchLogits<B> for VitClassifier<B> {
    fn patch_logits(&self, input: Tensor<B, 4>, coords: &Coords) -> Tensor<B, 2> {
        self.forward_with(input, coords)
    }
}

fn patch_loss<B: Backend>(
    model: &impl PatchLogits<B>,
    batch: &Batch,
    task: &Task,
    device: &B::Device,
) -> Result<Tensor<B, 1>> {
    let labels = multi_hot(batch, task)?;
    let targets: Vec<i64> = labels.iter().map(|v| i64::from(*v > 0.5)).collect();
    let targets = Tensor::<B, 2, Int>::from_data(TensorData::new(targets, [labels.nrows(), labels.ncols()]), device);
    let loss = BinaryCrossEntropyLossConfig::new().with_logits(true).init(device);
    Ok(loss.forward(model.patch_logits(inputs(batch, device), &batch.coords()), targets))
}

fn patch_scores<B: Backend>(
    model: &impl PatchLogits<B>,
    batch: &Batch,
    task: &Task,
    scores: &mut Scores,
    device: &B::Device,
) -> Result<()> {
    let Scores::MultiLabel(metrics) = scores else {
        return Err(Error::Config { field: "model", reason: "a classifier scores multi-label batches".into() });
    };
    let labels = multi_hot(batch, task)?;
    let probabilities = burn::tensor::activation::sigmoid(model.patch_logits(inputs(batch, device), &batch.coords()));
    let [n, c] = probabilities.dims();
    let values: Vec<f32> = probabilities.into_data().convert::<f32>().to_vec().unwrap_or_default();
    let values = Array2::from_shape_vec((n, c), values).map_err(|e| model_error(&e))?;
    metrics.update(&values.view(), &labels.view());
    Ok(())
}

impl<B: Backend> Trainable<B> for PatchClassifier<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        patch_loss(self, batch, task, device)
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        patch_scores(self, batch, task, scores, device)
    }
}

impl<B: Backend> Trainable<B> for VitClassifier<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        patch_loss(self, batch, task, device)
    }

    fn lr_groups(&self, config: &crate::FitConfig) -> crate::LrGroups {
        crate::lr_groups::vit_groups(&self.encoder, config)
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        patch_scores(self, batch, task, scores, device)
    }
}

/// A ViT regressor: the dense ViT network whose outputs are target values (normalised by the training split's
/// statistics).
#[derive(burn::module::Module, Debug)]
pub struct VitRegressor<B: Backend> {
    /// The network.
    pub net: VitSegmenter<B>,
}

impl<B: Backend> VitRegressor<B> {
    /// Predicted values `(n, outputs, h, w)` in normalised units.
    pub fn forward_with(&self, input: Tensor<B, 4>, coords: &Coords) -> Tensor<B, 4> {
        self.net.forward_with(input, coords)
    }
}

impl<B: Backend> Trainable<B> for VitRegressor<B> {
    fn lr_groups(&self, config: &crate::FitConfig) -> crate::LrGroups {
        crate::lr_groups::vit_groups(&self.net.encoder, config)
    }

    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        let (targets, scale) = regression_targets(batch, task)?;
        let predicted = self.forward_with(inputs(batch, device), &batch.coords());
        Ok(regression_loss(predicted, targets, scale, &task.loss))
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        let Scores::Regression(totals) = scores else {
            return Err(Error::Config { field: "model", reason: "a regressor scores regression batches".into() });
        };
        let (targets, scale) = regression_targets(batch, task)?;
        let predicted = self.forward_with(inputs(batch, device), &batch.coords());
        let values: Vec<f32> =
            predicted.into_data().convert::<f32>().to_vec().map_err(|e| model_error(&format!("{e:?}")))?;
        let values: Vec<f32> = values.iter().map(|v| (f64::from(*v) * scale.std + scale.mean) as f32).collect();
        totals.update(&values, targets.as_slice().unwrap_or_default());
        Ok(())
    }
}

/// The batch's regression targets and the run's target normalisation.
fn regression_targets<'a>(batch: &'a Batch, task: &Task) -> Result<(&'a Array3<f32>, ChannelScale)> {
    let targets = batch.targets.as_ref().ok_or_else(|| Error::Config {
        field: "model",
        reason: format!(
            "a regressor needs a `target` tensor; sample `{}` has none (cut the set with `prep windows --target`)",
            batch.keys[0]
        ),
    })?;
    let scale = task.target.ok_or_else(|| Error::Config {
        field: "model",
        reason: "the run records no target statistics (a regression set's index.json has `target`)".into(),
    })?;
    Ok((targets, scale))
}

/// A network giving per-pixel class logits `(n, classes, h, w)`: trained with cross-entropy (+ Dice) on masks and
/// scored with a confusion matrix.
pub trait PixelLogits<B: Backend> {
    /// Class logits for a batch of inputs, with their dates and locations (used by foundation models).
    fn pixel_logits(&self, input: Tensor<B, 4>, coords: &Coords) -> Tensor<B, 4>;
}

impl<B: Backend> PixelLogits<B> for UNet<B> {
    fn pixel_logits(&self, input: Tensor<B, 4>, _coords: &Coords) -> Tensor<B, 4> {
        self.forward(input)
    }
}

impl<B: Backend> PixelLogits<B> for Segmenter<B> {
    fn pixel_logits(&self, input: Tensor<B, 4>, _coords: &Coords) -> Tensor<B, 4> {
        self.forward(input)
    }
}

impl<B: Backend> PixelLogits<B> for SegFormer<B> {
    fn pixel_logits(&self, input: Tensor<B, 4>, _coords: &Coords) -> Tensor<B, 4> {
        self.forward(input)
    }
}

impl<B: Backend> Trainable<B> for SegFormer<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        pixel_loss(self, batch, task, device)
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        pixel_scores(self, batch, task, scores, device)
    }
}

impl<B: Backend> PixelLogits<B> for VitSegmenter<B> {
    fn pixel_logits(&self, input: Tensor<B, 4>, coords: &Coords) -> Tensor<B, 4> {
        self.forward_with(input, coords)
    }
}

impl<B: Backend> Trainable<B> for VitSegmenter<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        pixel_loss(self, batch, task, device)
    }

    fn lr_groups(&self, config: &crate::FitConfig) -> crate::LrGroups {
        crate::lr_groups::vit_groups(&self.encoder, config)
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        pixel_scores(self, batch, task, scores, device)
    }
}

impl<B: Backend> PixelLogits<B> for SegmentationNet<B> {
    fn pixel_logits(&self, input: Tensor<B, 4>, coords: &Coords) -> Tensor<B, 4> {
        match self {
            Self::Vit(n) => n.forward_with(input, coords),
            other => other.forward(input),
        }
    }
}

/// Cross-entropy with the task's class weights and ignore value, plus the Dice term when weighted.
fn pixel_loss<B: Backend>(
    model: &impl PixelLogits<B>,
    batch: &Batch,
    task: &Task,
    device: &B::Device,
) -> Result<Tensor<B, 1>> {
    let masks = masks(batch, task)?;
    let (n, h, w) = masks.dim();
    let logits = model.pixel_logits(inputs(batch, device), &batch.coords());
    let pixels = logits.permute([0, 2, 3, 1]).reshape([n * h * w, task.classes]);
    let targets =
        Tensor::<B, 1, Int>::from_data(TensorData::new(masks.iter().copied().collect::<Vec<_>>(), [n * h * w]), device);
    let weights = task.loss.class_weights.as_deref();
    let mut loss = cross_entropy(pixels.clone(), targets.clone(), weights, task.ignore);
    if task.loss.dice_weight > 0.0 {
        loss = loss + dice(pixels, targets, task.ignore) * task.loss.dice_weight;
    }
    Ok(loss)
}

/// Adds a batch's predicted classes to the confusion matrix of `scores`.
fn pixel_scores<B: Backend>(
    model: &impl PixelLogits<B>,
    batch: &Batch,
    task: &Task,
    scores: &mut Scores,
    device: &B::Device,
) -> Result<()> {
    let Scores::Segmentation(matrix) = scores else {
        return Err(Error::Config {
            field: "model",
            reason: "a segmentation network scores segmentation batches".into(),
        });
    };
    let target = masks(batch, task)?;
    let predicted = predict_classes(model, batch, task.ignore, device)?;
    matrix.update(&predicted.view(), &target.view()).map_err(|reason| Error::Config { field: "model.classes", reason })
}

impl<B: Backend> Trainable<B> for UNet<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        pixel_loss(self, batch, task, device)
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        pixel_scores(self, batch, task, scores, device)
    }
}

impl<B: Backend> Trainable<B> for Segmenter<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        pixel_loss(self, batch, task, device)
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        pixel_scores(self, batch, task, scores, device)
    }
}

impl<B: Backend> Trainable<B> for SegmentationNet<B> {
    fn batch_loss(&self, batch: &Batch, task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        pixel_loss(self, batch, task, device)
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        pixel_scores(self, batch, task, scores, device)
    }
}

impl<B: Backend> Trainable<B> for SuperResolution<B> {
    fn batch_loss(&self, batch: &Batch, _task: &Task, device: &B::Device) -> Result<Tensor<B, 1>> {
        let (high, low) = sr_pair(self, batch, device)?;
        Ok((self.forward(low) - high).abs().mean())
    }

    fn score_batch(&self, batch: &Batch, task: &Task, scores: &mut Scores, device: &B::Device) -> Result<()> {
        let Scores::SuperResolution(totals) = scores else {
            return Err(Error::Config { field: "model", reason: "a super-resolution network scores images".into() });
        };
        let (high, low) = sr_pair(self, batch, device)?;
        let predicted = to_array(self.forward(low.clone()))?;
        let baseline = to_array(bicubic(low, self.scale()))?;
        let reference = to_array(high)?;
        let (n, bands, _, _) = reference.dim();
        if task.channels.len() < bands {
            return Err(Error::Config {
                field: "model",
                reason: format!("{bands} bands, but statistics for {}", task.channels.len()),
            });
        }
        totals.sums.resize(bands, [0.0; 4]);
        for i in 0..n {
            for (b, scale) in task.channels.iter().enumerate().take(bands) {
                // Back to the original units: PSNR and SSIM depend on the offset and the data range.
                let original = |a: &Array4<f32>| {
                    a.slice(ndarray::s![i, b, .., ..]).mapv(|v| (f64::from(v) * scale.std + scale.mean) as f32)
                };
                let (r, m, c) = (original(&reference), original(&predicted), original(&baseline));
                let range = scale.range.max(f64::EPSILON);
                let sums = &mut totals.sums[b];
                sums[0] += crate::sr_metrics::psnr(r.view(), m.view(), range);
                sums[1] += crate::sr_metrics::ssim(r.view(), m.view(), range);
                sums[2] += crate::sr_metrics::psnr(r.view(), c.view(), range);
                sums[3] += crate::sr_metrics::ssim(r.view(), c.view(), range);
            }
        }
        totals.windows += n;
        Ok(())
    }
}

/// A batch as a super-resolution pair: the windows themselves (the target) and their area average by the
/// network's scale (the input, [`crate::degrade_area`] on the device).
fn sr_pair<B: Backend>(
    model: &SuperResolution<B>,
    batch: &Batch,
    device: &B::Device,
) -> Result<(Tensor<B, 4>, Tensor<B, 4>)> {
    let (_, _, h, w) = batch.inputs.dim();
    let scale = model.scale();
    if h % scale != 0 || w % scale != 0 {
        return Err(Error::Config {
            field: "model.scale",
            reason: format!(
                "is {scale}; sample `{}` is {h}x{w}, and its sides must be multiples of the scale",
                batch.keys[0]
            ),
        });
    }
    let high = inputs(batch, device);
    let low = burn::tensor::module::avg_pool2d(high.clone(), [scale, scale], [scale, scale], [0, 0], true, false);
    Ok((high, low))
}

fn to_array<B: Backend>(tensor: Tensor<B, 4>) -> Result<Array4<f32>> {
    let [n, c, h, w] = tensor.dims();
    let values: Vec<f32> = tensor.into_data().convert::<f32>().to_vec().map_err(|e| model_error(&format!("{e:?}")))?;
    Array4::from_shape_vec((n, c, h, w), values).map_err(|e| model_error(&e))
}

/// A segmentation network's class per pixel `(n, h, w)` for a batch; the `ignore` class ("no label") is never
/// chosen, as in the class maps `predict` writes.
pub fn predict_classes<B: Backend>(
    model: &impl PixelLogits<B>,
    batch: &Batch,
    ignore: Option<i64>,
    device: &B::Device,
) -> Result<Array3<i64>> {
    let (n, _, h, w) = batch.inputs.dim();
    let mut scores = model.pixel_logits(inputs(batch, device), &batch.coords());
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
        reason: format!("segmentation needs a `mask` tensor; sample `{key}` has none (a multi-label set?)"),
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
