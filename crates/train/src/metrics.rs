//! Validation metrics: multi-label F1 and average precision (BigEarthNet's standard micro/macro mAP), and a
//! segmentation confusion matrix with pixel accuracy, per-class IoU and F1, and mean IoU.

use ndarray::{ArrayView2, ArrayView3};

/// Scores and targets of a multi-label split, collected batch by batch.
#[derive(Clone, Debug, Default)]
pub struct MultiLabelMetrics {
    classes: usize,
    /// Per class: (score, positive) of every sample seen.
    columns: Vec<Vec<(f32, bool)>>,
}

/// Multi-label scores of a split.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MultiLabelReport {
    /// Samples scored.
    pub samples: usize,
    /// F1 over all (sample, class) decisions at the threshold.
    pub micro_f1: f64,
    /// Mean of the per-class F1 scores (a class without positives or predictions scores 0).
    pub macro_f1: f64,
    /// Average precision over all (sample, class) pairs ranked together.
    pub micro_map: f64,
    /// Mean of the per-class average precisions, over classes with at least one positive.
    pub macro_map: f64,
    /// Per-class F1 at the threshold.
    pub f1: Vec<f64>,
    /// Per-class average precision; `None` for a class without positives (left out of `macro_map`).
    pub average_precision: Vec<Option<f64>>,
}

impl MultiLabelMetrics {
    /// Metrics over `classes` labels.
    pub fn new(classes: usize) -> Self {
        Self { classes, columns: vec![Vec::new(); classes] }
    }

    /// Adds a batch: `scores` (probabilities or logits; only their order and the threshold matter) and 0/1
    /// `targets`, both `(n, classes)`.
    pub fn update(&mut self, scores: &ArrayView2<'_, f32>, targets: &ArrayView2<'_, f32>) {
        assert_eq!(scores.dim(), targets.dim(), "scores and targets have one row per sample");
        assert_eq!(scores.ncols(), self.classes, "one score per class");
        for (s, t) in scores.rows().into_iter().zip(targets.rows()) {
            for (c, column) in self.columns.iter_mut().enumerate() {
                column.push((s[c], t[c] > 0.5));
            }
        }
    }

    /// The scores, deciding "positive" where a score is at least `threshold` (0.5 for probabilities, 0 for logits).
    pub fn report(&self, threshold: f32) -> MultiLabelReport {
        let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
        let mut f1 = Vec::with_capacity(self.classes);
        for column in &self.columns {
            let (t, f, n) = column.iter().fold((0u64, 0u64, 0u64), |(t, f, n), &(s, p)| match (s >= threshold, p) {
                (true, true) => (t + 1, f, n),
                (true, false) => (t, f + 1, n),
                (false, true) => (t, f, n + 1),
                (false, false) => (t, f, n),
            });
            tp += t;
            fp += f;
            fn_ += n;
            f1.push(f1_score(t, f, n));
        }
        let per_class: Vec<Option<f64>> = self.columns.iter().map(|c| average_precision(c)).collect();
        let present: Vec<f64> = per_class.iter().flatten().copied().collect();
        let all: Vec<(f32, bool)> = self.columns.iter().flatten().copied().collect();
        MultiLabelReport {
            samples: self.columns.first().map_or(0, Vec::len),
            micro_f1: f1_score(tp, fp, fn_),
            macro_f1: mean(&f1),
            micro_map: average_precision(&all).unwrap_or(0.0),
            macro_map: mean(&present),
            f1,
            average_precision: per_class,
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// `2·tp / (2·tp + fp + fn)`, 0 when undefined.
fn f1_score(tp: u64, fp: u64, fn_: u64) -> f64 {
    let denominator = 2 * tp + fp + fn_;
    if denominator == 0 { 0.0 } else { (2 * tp) as f64 / denominator as f64 }
}

/// Average precision as scikit-learn computes it: scores ranked from high to low, tied scores taken as one
/// threshold, `Σ (Rₙ − Rₙ₋₁) · Pₙ` over the thresholds. `None` without positives.
fn average_precision(pairs: &[(f32, bool)]) -> Option<f64> {
    let positives = pairs.iter().filter(|(_, p)| *p).count();
    if positives == 0 {
        return None;
    }
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut seen, mut recall_before, mut ap) = (0usize, 0usize, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < sorted.len() {
        let score = sorted[i].0;
        while i < sorted.len() && sorted[i].0.total_cmp(&score).is_eq() {
            tp += usize::from(sorted[i].1);
            seen += 1;
            i += 1;
        }
        let recall = tp as f64 / positives as f64;
        ap += (recall - recall_before) * (tp as f64 / seen as f64);
        recall_before = recall;
    }
    Some(ap)
}

/// A segmentation confusion matrix: rows are true classes, columns predicted ones; pixels whose target is the
/// ignore value are not counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    ignore: Option<i64>,
    counts: Vec<u64>,
}

/// Segmentation scores of a split.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SegmentationReport {
    /// Pixels counted (targets other than the ignore value).
    pub pixels: u64,
    /// Share of counted pixels predicted right.
    pub pixel_accuracy: f64,
    /// Per-class intersection over union; `None` for a class neither present nor predicted.
    pub iou: Vec<Option<f64>>,
    /// Mean IoU over the classes that have one.
    pub mean_iou: f64,
    /// Per-class F1 (Dice); `None` like `iou`.
    pub f1: Vec<Option<f64>>,
    /// The matrix, `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// An empty matrix over `classes` classes; targets equal to `ignore` are skipped.
    pub fn new(classes: usize, ignore: Option<i64>) -> Self {
        Self { classes, ignore, counts: vec![0; classes * classes] }
    }

    /// Adds a batch of predicted and true classes, both `(n, h, w)`. A value outside `0..classes` (other than
    /// the ignore value) is an error naming it.
    pub fn update(&mut self, predicted: &ArrayView3<'_, i64>, target: &ArrayView3<'_, i64>) -> Result<(), String> {
        if predicted.dim() != target.dim() {
            return Err(format!("predictions {:?} and targets {:?} differ in shape", predicted.dim(), target.dim()));
        }
        let k = self.classes as i64;
        for (&p, &t) in predicted.iter().zip(target) {
            if Some(t) == self.ignore {
                continue;
            }
            if !(0..k).contains(&t) || !(0..k).contains(&p) {
                return Err(format!("class {} is outside 0..{k}", if (0..k).contains(&t) { p } else { t }));
            }
            self.counts[(t * k + p) as usize] += 1;
        }
        Ok(())
    }

    /// The scores.
    pub fn report(&self) -> SegmentationReport {
        let k = self.classes;
        let at = |t: usize, p: usize| self.counts[t * k + p];
        let pixels: u64 = self.counts.iter().sum();
        let correct: u64 = (0..k).map(|c| at(c, c)).sum();
        let mut iou = Vec::with_capacity(k);
        let mut f1 = Vec::with_capacity(k);
        for c in 0..k {
            let tp = at(c, c);
            let fn_: u64 = (0..k).filter(|&p| p != c).map(|p| at(c, p)).sum();
            let fp: u64 = (0..k).filter(|&t| t != c).map(|t| at(t, c)).sum();
            let union = tp + fp + fn_;
            iou.push((union > 0).then(|| tp as f64 / union as f64));
            f1.push((union > 0).then(|| f1_score(tp, fp, fn_)));
        }
        let present: Vec<f64> = iou.iter().flatten().copied().collect();
        SegmentationReport {
            pixels,
            pixel_accuracy: if pixels == 0 { 0.0 } else { correct as f64 / pixels as f64 },
            mean_iou: mean(&present),
            iou,
            f1,
            confusion: (0..k).map(|t| (0..k).map(|p| at(t, p)).collect()).collect(),
        }
    }
}
