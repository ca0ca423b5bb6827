//! [`FitConfig`]: everything a training run is made of, as a run directory's `config.toml` holds it.

use eoforge_models::{
    PatchClassifierConfig, SegFormerConfig, SegmenterConfig, SuperResolutionConfig, UNetConfig, VitClassifierConfig,
    VitSegmenterConfig,
};

use crate::parallel::LrScaling;

/// The network a run trains, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// Multi-label patch classification (BigEarthNet's 19 classes): BCE on logits, F1 and mAP.
    Classifier(PatchClassifierConfig),
    /// Per-pixel segmentation from `mask` tensors: cross-entropy (+ Dice), IoU and F1 per class.
    Unet(UNetConfig),
    /// Per-pixel segmentation of many-channel inputs (embeddings) with the ASPP segmenter; trained and scored as
    /// the U-Net is.
    Segmenter(SegmenterConfig),
    /// Per-pixel segmentation with a ViT encoder (Prithvi-EO semantics, pretrained weights optional, frozen or
    /// trained) and an FCN or UPerNet decoder; trained and scored as the U-Net is.
    Vit(VitSegmenterConfig),
    /// Per-pixel segmentation with SegFormer (Mix Transformer encoder, all-MLP decoder; B0/B1 sizes or any, its
    /// `transformers` checkpoint optional); logits at 1/4 upsampled to the window; trained and scored as the U-Net is.
    Segformer(SegFormerConfig),
    /// Multi-label classification with a ViT encoder and a pooled linear head; trained and scored as the
    /// classifier is.
    VitClassifier(VitClassifierConfig),
    /// Pixel regression of a `target` tensor with a ViT encoder and a dense decoder (`outputs` = 1): MSE or Huber
    /// loss on the target normalised by the training split's statistics, its nodata (NaN) left out; RMSE, MAE and
    /// R² in the target's units beside predicting the training mean.
    VitRegressor(VitSegmenterConfig),
    /// Super-resolution: each input window is the high-resolution target, its area average by `scale` the input;
    /// L1 loss; PSNR and SSIM per band beside bicubic upsampling.
    Sr(SuperResolutionConfig),
}

impl ModelConfig {
    /// Input channels the network expects.
    pub fn in_channels(&self) -> usize {
        match self {
            Self::Classifier(c) => c.in_channels,
            Self::Unet(c) => c.in_channels,
            Self::Segmenter(c) => c.in_channels,
            Self::Segformer(c) => c.in_channels,
            Self::Vit(c) | Self::VitRegressor(c) => c.in_channels(),
            Self::VitClassifier(c) => c.in_channels(),
            Self::Sr(c) => c.in_channels,
        }
    }

    /// Classes the network predicts (for super-resolution: its output bands).
    pub fn classes(&self) -> usize {
        match self {
            Self::Classifier(c) => c.classes,
            Self::Unet(c) => c.classes,
            Self::Segmenter(c) => c.classes,
            Self::Segformer(c) => c.classes,
            Self::Vit(c) | Self::VitRegressor(c) => c.classes,
            Self::VitClassifier(c) => c.classes,
            Self::Sr(c) => c.out_channels(),
        }
    }

    /// The validation metric a best checkpoint is chosen by when the configuration names none.
    pub fn default_metric(&self) -> &'static str {
        match self {
            Self::Classifier(_) | Self::VitClassifier(_) => "macro_map",
            Self::Unet(_) | Self::Segmenter(_) | Self::Vit(_) | Self::Segformer(_) => "mean_iou",
            Self::VitRegressor(_) => "r2",
            Self::Sr(_) => "psnr",
        }
    }

    /// Whether the network regresses per-pixel values from `target` tensors.
    pub fn is_regression(&self) -> bool {
        matches!(self, Self::VitRegressor(_))
    }

    /// The task family, as the evaluation suite and reports name it: `segmentation`, `classification`,
    /// `regression` or `super_resolution`.
    pub fn task_kind(&self) -> &'static str {
        match self {
            Self::Classifier(_) | Self::VitClassifier(_) => "classification",
            Self::Unet(_) | Self::Segmenter(_) | Self::Vit(_) | Self::Segformer(_) => "segmentation",
            Self::VitRegressor(_) => "regression",
            Self::Sr(_) => "super_resolution",
        }
    }

    /// Whether the network segments (per-pixel classes from `mask` tensors): the U-Net and the segmenter.
    pub fn is_segmentation(&self) -> bool {
        matches!(self, Self::Unet(_) | Self::Segmenter(_) | Self::Vit(_) | Self::Segformer(_))
    }

    /// Input sides must be multiples of this (`None`: any size).
    pub fn size_multiple(&self) -> Option<usize> {
        match self {
            Self::Unet(c) => Some(c.size_multiple()),
            Self::Segmenter(c) => Some(c.size_multiple()),
            Self::Segformer(c) => Some(c.size_multiple()),
            Self::Vit(c) | Self::VitRegressor(c) => Some(c.size_multiple()),
            Self::VitClassifier(c) => Some(c.size_multiple()),
            Self::Classifier(_) | Self::Sr(_) => None,
        }
    }
}

/// Segmentation loss settings (the classifier always uses BCE on logits).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    /// Cross-entropy weight per class (`None`: all 1).
    #[serde(default)]
    pub class_weights: Option<Vec<f32>>,
    /// Label value left out of losses and metrics (`None`: the shard set's `ignore`).
    #[serde(default)]
    pub ignore_index: Option<i64>,
    /// Weigh classes by the training split's pixel counts (`class_pixels` in `index.json`):
    /// `w = sqrt(median / count)`, at most 10, with counts under 0.1% of the pixels raised to 0.1%, so rare
    /// classes are not drowned by a dominant one. Ignored when `class_weights` is given.
    #[serde(default)]
    pub balance: bool,
    /// Weight of the soft Dice term added to cross-entropy (0: cross-entropy alone).
    #[serde(default)]
    pub dice_weight: f64,
    /// Pixel regression's loss, on the normalised target: `mse` or `huber`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub regression: RegressionLoss,
    /// Huber's threshold in standard deviations of the target (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huber_delta: Option<f64>,
}

/// Pixel regression's loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionLoss {
    /// Mean squared error.
    #[default]
    Mse,
    /// Huber (smooth L1) with `huber_delta`.
    Huber,
}

/// Everything a training run is made of.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// The network.
    pub model: ModelConfig,
    /// Segmentation loss settings.
    #[serde(default)]
    pub loss: LossConfig,
    /// Samples per batch, per replica.
    pub batch_size: usize,
    /// Shuffle buffer of the training loader.
    pub shuffle_buffer: usize,
    /// Flips and rotations of training samples.
    pub augment: bool,
    /// Passes over the training split.
    pub epochs: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Warm-up steps before the cosine decay.
    pub warmup_steps: u64,
    /// Final learning rate.
    pub min_lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Clip gradients to this global L2 norm (over all parameters together, not per tensor as burn's own
    /// clipping does).
    pub clip_norm: Option<f64>,
    /// Write a checkpoint every this many steps (and at every epoch end).
    pub checkpoint_every: u64,
    /// The validation metric that picks the best checkpoint (`macro_map`, `micro_map`, `macro_f1`, `micro_f1`,
    /// `mean_iou`, `pixel_accuracy`); `None`: `macro_map` for the classifier, `mean_iou` for the U-Net.
    #[serde(default)]
    pub best_metric: Option<String>,
    /// Seed of the weights, the data order and the augmentation.
    pub seed: u64,
    /// Data-parallel replicas: each global batch of `batch_size × replicas` samples is cut into equal shares, one
    /// per replica (spread round robin over the devices), and their gradients summed into one optimiser step.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub replicas: usize,
    /// How the learning rate follows the replica count.
    #[serde(default, skip_serializing_if = "is_default")]
    pub lr_scaling: LrScaling,
    /// A ViT encoder's learning rate as a share of `lr` (`None`: the same rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_lr_scale: Option<f64>,
    /// Layer-wise decay of a ViT encoder's learning rate: block `i` of `L` at `decay^(L − i)` of the encoder's rate,
    /// the patch embedding at `decay^(L + 1)` (`None`: no decay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_decay: Option<f64>,
}

fn one() -> usize {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_one(n: &usize) -> bool {
    *n == 1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // as above
fn is_default<T: Default + PartialEq>(s: &T) -> bool {
    *s == T::default()
}

impl FitConfig {
    /// The settings of a run when nothing else is said, for `model`: batch 16, AdamW at 1e-3 with 100 warm-up
    /// steps and cosine decay to 1e-5, weight decay 1e-4, clipping at global norm 1, 10 epochs, flips and
    /// rotations, a checkpoint every 200 steps.
    /// A segmentation network weighs its classes by their pixel counts (`loss.balance`).
    pub fn new(model: ModelConfig) -> Self {
        let loss = LossConfig { balance: model.is_segmentation(), ..LossConfig::default() };
        Self {
            model,
            loss,
            batch_size: 16,
            shuffle_buffer: 512,
            augment: true,
            epochs: 10,
            lr: 1e-3,
            warmup_steps: 100,
            min_lr: 1e-5,
            weight_decay: 1e-4,
            clip_norm: Some(1.0),
            checkpoint_every: 200,
            best_metric: None,
            seed: 0,
            replicas: 1,
            lr_scaling: LrScaling::None,
            encoder_lr_scale: None,
            layer_decay: None,
        }
    }

    /// A run configuration from TOML: every field it leaves out takes [`FitConfig::new`]'s default for its model
    /// (the same defaults as a run without a file), `[loss]` included; without `[model]` the model is
    /// `default_model()`, and a `[model]` of the same kind (or any segmentation network's, under a segmentation
    /// default) without `classes` or `in_channels` takes them from it (the class table's size, the data's
    /// channels). A wrong or unknown field is an error naming it.
    pub fn from_toml(text: &str, default_model: impl FnOnce() -> Result<ModelConfig, String>) -> Result<Self, String> {
        let mut given: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string().trim().to_owned())?;
        let model: ModelConfig = match given.remove("model") {
            Some(toml::Value::Table(mut model)) => {
                // `classes` and `in_channels` left out come from the data (the default model of the same kind).
                if (!model.contains_key("classes") || !model.contains_key("in_channels"))
                    && let Ok(default) = default_model()
                    && let Ok(default) = toml::Table::try_from(&default)
                    && (default.get("kind") == model.get("kind")
                        || [&default, &model].iter().all(|t| {
                            matches!(
                                t.get("kind").and_then(toml::Value::as_str),
                                Some("unet" | "segmenter" | "segformer")
                            )
                        }))
                {
                    for key in ["classes", "in_channels"] {
                        if let (false, Some(value)) = (model.contains_key(key), default.get(key)) {
                            model.insert(key.to_owned(), value.clone());
                        }
                    }
                }
                toml::Value::Table(model)
                    .try_into()
                    .map_err(|e: toml::de::Error| format!("[model]: {}", e.to_string().trim()))?
            }
            Some(_) => return Err("`model` must be a table ([model])".into()),
            None => default_model()?,
        };
        let defaults = toml::Table::try_from(Self::new(model)).map_err(|e| e.to_string())?;
        let mut merged = defaults;
        merge_tables(&mut merged, given);
        toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| e.to_string().trim().to_owned())
    }

    /// The fields (dotted TOML paths) whose values differ between two configurations.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let flat = |c: &Self| {
            let mut out = std::collections::BTreeMap::new();
            if let Ok(table) = toml::Table::try_from(c) {
                flatten("", &toml::Value::Table(table), &mut out);
            }
            out
        };
        let (a, b) = (flat(self), flat(other));
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
    }

    /// Samples per optimiser step: `batch_size` per replica.
    pub fn global_batch(&self) -> usize {
        self.batch_size * self.replicas.max(1)
    }

    /// The peak learning rate after scaling by the replica count.
    pub fn scaled_lr(&self) -> f64 {
        self.lr * self.lr_scaling.factor(self.replicas)
    }

    /// The metric that picks the best checkpoint.
    pub fn metric(&self) -> &str {
        self.best_metric.as_deref().unwrap_or_else(|| self.model.default_metric())
    }
}

/// `given` over `base`: tables merge key by key, any other value replaces the base's.
fn merge_tables(base: &mut toml::Table, given: toml::Table) {
    for (key, value) in given {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(g)) => merge_tables(b, g),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Every leaf value of `value` under its dotted path, as TOML text.
fn flatten(prefix: &str, value: &toml::Value, out: &mut std::collections::BTreeMap<String, String>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                flatten(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.to_string());
        }
    }
}
