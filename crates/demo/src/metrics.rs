//! Scores from a confusion matrix, computed the same way for the model and for the trivial baseline, so the two
//! columns of the report compare like with like.

/// One class's scores.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassScore {
    /// Class value.
    pub class: usize,
    /// Intersection over union.
    pub iou: f64,
    /// F1.
    pub f1: f64,
    /// Reference pixels of the class.
    pub reference: u64,
}

/// Pixel accuracy, mean IoU and macro F1 over the classes present in the reference or predicted, the ignore
/// class left out of both sides.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusionSummary {
    /// Correct pixels over labelled pixels.
    pub accuracy: f64,
    /// Mean IoU over the classes present or predicted.
    pub mean_iou: f64,
    /// Mean F1 over the same classes.
    pub macro_f1: f64,
    /// Per class present or predicted.
    pub classes: Vec<ClassScore>,
}

impl ConfusionSummary {
    /// Summarises `confusion[reference][predicted]`.
    pub fn new(confusion: &[Vec<u64>], ignore: Option<usize>) -> Self {
        let n = confusion.len();
        let keep = |c: usize| Some(c) != ignore;
        let at = |r: usize, c: usize| confusion.get(r).and_then(|row| row.get(c)).copied().unwrap_or(0);
        let labelled: u64 = (0..n).filter(|&r| keep(r)).map(|r| (0..n).map(|c| at(r, c)).sum::<u64>()).sum();
        let correct: u64 = (0..n).filter(|&c| keep(c)).map(|c| at(c, c)).sum();
        let mut classes = Vec::new();
        for c in (0..n).filter(|&c| keep(c)) {
            let reference: u64 = (0..n).map(|p| at(c, p)).sum();
            let predicted: u64 = (0..n).filter(|&r| keep(r)).map(|r| at(r, c)).sum();
            if reference == 0 && predicted == 0 {
                continue;
            }
            let tp = at(c, c) as f64;
            let union = reference as f64 + predicted as f64 - tp;
            classes.push(ClassScore {
                class: c,
                iou: tp / union,
                f1: 2.0 * tp / (reference + predicted) as f64,
                reference,
            });
        }
        let mean = |f: fn(&ClassScore) -> f64| {
            if classes.is_empty() { 0.0 } else { classes.iter().map(f).sum::<f64>() / classes.len() as f64 }
        };
        Self {
            accuracy: if labelled == 0 { 0.0 } else { correct as f64 / labelled as f64 },
            mean_iou: mean(|c| c.iou),
            macro_f1: mean(|c| c.f1),
            classes,
        }
    }
}

/// The confusion matrix of predicting `class` everywhere, given the reference pixel count per class.
pub fn baseline_confusion(reference: &[u64], class: usize) -> Vec<Vec<u64>> {
    let n = reference.len().max(class + 1);
    (0..n)
        .map(|r| (0..n).map(|c| if c == class { reference.get(r).copied().unwrap_or(0) } else { 0 }).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_hand_computed_values() {
        // Class 0 is ignored; its row (and predictions of it by labelled pixels) stay out.
        let m = vec![vec![9, 9, 9], vec![0, 8, 2], vec![0, 4, 6]];
        let s = ConfusionSummary::new(&m, Some(0));
        assert!((s.accuracy - 14.0 / 20.0).abs() < 1e-12);
        // IoU1 = 8 / (10 + 12 - 8), IoU2 = 6 / (10 + 8 - 6)
        assert!((s.mean_iou - f64::midpoint(8.0 / 14.0, 6.0 / 12.0)).abs() < 1e-12);
        assert!((s.macro_f1 - f64::midpoint(16.0 / 22.0, 12.0 / 18.0)).abs() < 1e-12);
    }

    #[test]
    fn the_majority_baseline_scores_its_class_share() {
        let b = baseline_confusion(&[0, 70, 30], 1);
        let s = ConfusionSummary::new(&b, Some(0));
        assert!((s.accuracy - 0.7).abs() < 1e-12);
        assert!((s.mean_iou - 0.35).abs() < 1e-12); // IoU 0.7 for class 1, 0 for class 2
    }
}
