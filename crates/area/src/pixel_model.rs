//! [`PixelModel`]: the pixel classifier or regressor of area pipelines, in LightGBM's role — histogram
//! gradient-boosted trees (`forust-ml`), one log-loss booster per class for classification (the highest score
//! wins), one squared-loss booster for regression — saved with its classes and feature columns as one JSON file;
//! and the metrics its runs report.

use std::path::Path;

use forust_ml::{GradientBooster, Matrix, objective::ObjectiveType};

use crate::error::{Error, Result};

/// Classification or regression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelTask {
    /// Classes from the labels' values.
    Classification,
    /// The label as a number.
    Regression,
}

/// Boosting settings.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PixelModelConfig {
    /// Boosting rounds.
    pub iterations: usize,
    /// Shrinkage per round.
    pub learning_rate: f32,
    /// Deepest tree.
    pub max_depth: usize,
    /// Seed of the boosters' sampling.
    pub seed: u64,
}

impl Default for PixelModelConfig {
    fn default() -> Self {
        Self { iterations: 100, learning_rate: 0.1, max_depth: 6, seed: 0 }
    }
}

/// A trained pixel model.
pub struct PixelModel {
    /// Classification or regression.
    pub task: PixelTask,
    /// The classes, in score order (empty for regression).
    pub classes: Vec<u32>,
    /// The feature columns it reads, in order.
    pub columns: Vec<String>,
    /// The settings it was trained with.
    pub config: PixelModelConfig,
    boosters: Vec<GradientBooster>,
}

impl std::fmt::Debug for PixelModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelModel")
            .field("task", &self.task)
            .field("classes", &self.classes)
            .field("columns", &self.columns)
            .field("boosters", &self.boosters.len())
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    task: PixelTask,
    classes: Vec<u32>,
    columns: Vec<String>,
    config: PixelModelConfig,
    boosters: Vec<String>,
}

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Grid(format!("pixel model: {e}"))
}

/// Rows as forust's column-major matrix data (NaN is its missing value).
fn column_major(rows: &[Vec<f32>], cols: usize) -> Vec<f64> {
    let mut data = Vec::with_capacity(rows.len() * cols);
    for c in 0..cols {
        data.extend(rows.iter().map(|r| f64::from(r[c])));
    }
    data
}

impl PixelModel {
    /// Trains on `rows` (one value per column each) and their `labels`.
    pub fn fit(
        task: PixelTask,
        columns: &[String],
        rows: &[Vec<f32>],
        labels: &[f64],
        config: &PixelModelConfig,
    ) -> Result<Self> {
        if rows.is_empty() || rows.len() != labels.len() {
            return Err(model_err(format!("{} rows and {} labels: nothing to train on", rows.len(), labels.len())));
        }
        if let Some(bad) = rows.iter().position(|r| r.len() != columns.len()) {
            return Err(model_err(format!("row {bad} has {} values for {} columns", rows[bad].len(), columns.len())));
        }
        let data = column_major(rows, columns.len());
        let matrix = Matrix::new(&data, rows.len(), columns.len());
        let booster = |objective| {
            GradientBooster::default()
                .set_objective_type(objective)
                .set_iterations(config.iterations)
                .set_learning_rate(config.learning_rate)
                .set_max_depth(config.max_depth)
                .set_seed(config.seed)
                .set_parallel(true)
        };
        let (classes, boosters) = match task {
            PixelTask::Regression => {
                let mut b = booster(ObjectiveType::SquaredLoss);
                b.fit_unweighted(&matrix, labels, None).map_err(model_err)?;
                (Vec::new(), vec![b])
            }
            PixelTask::Classification => {
                let mut classes: Vec<u32> = labels.iter().map(|l| *l as u32).collect();
                classes.sort_unstable();
                classes.dedup();
                if classes.len() < 2 {
                    return Err(model_err(format!("one class only ({classes:?}): nothing to tell apart")));
                }
                let mut boosters = Vec::new();
                for class in &classes {
                    let y: Vec<f64> = labels.iter().map(|l| f64::from(u8::from(*l as u32 == *class))).collect();
                    let mut b = booster(ObjectiveType::LogLoss);
                    b.fit_unweighted(&matrix, &y, None).map_err(model_err)?;
                    boosters.push(b);
                }
                (classes, boosters)
            }
        };
        Ok(Self { task, classes, columns: columns.to_vec(), config: *config, boosters })
    }

    /// Predicts `rows`: the class (classification) or the value (regression) of each.
    pub fn predict(&self, rows: &[Vec<f32>]) -> Result<Vec<f64>> {
        if let Some(bad) = rows.iter().position(|r| r.len() != self.columns.len()) {
            return Err(model_err(format!(
                "row {bad} has {} values; the model reads {:?}",
                rows[bad].len(),
                self.columns
            )));
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let data = column_major(rows, self.columns.len());
        let matrix = Matrix::new(&data, rows.len(), self.columns.len());
        let scores: Vec<Vec<f64>> = self.boosters.iter().map(|b| b.predict(&matrix, true)).collect();
        Ok(match self.task {
            PixelTask::Regression => scores.into_iter().next().unwrap_or_default(),
            PixelTask::Classification => (0..rows.len())
                .map(|i| {
                    let best =
                        (0..self.classes.len()).max_by(|&a, &b| scores[a][i].total_cmp(&scores[b][i])).unwrap_or(0);
                    f64::from(self.classes[best])
                })
                .collect(),
        })
    }

    /// Writes the model as one JSON file (through a rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let boosters = self.boosters.iter().map(|b| b.json_dump().map_err(model_err)).collect::<Result<Vec<_>>>()?;
        let saved = Saved {
            task: self.task,
            classes: self.classes.clone(),
            columns: self.columns.clone(),
            config: self.config,
            boosters,
        };
        let json = serde_json::to_vec(&saved).map_err(model_err)?;
        crate::store::write_file(path, &json)
    }

    /// Reads a model [`save`](Self::save) wrote.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(crate::store::io("read", path))?;
        let saved: Saved =
            serde_json::from_slice(&bytes).map_err(|e| model_err(format!("`{}`: {e}", path.display())))?;
        let boosters = saved
            .boosters
            .iter()
            .map(|j| GradientBooster::from_json(j).map_err(model_err))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { task: saved.task, classes: saved.classes, columns: saved.columns, config: saved.config, boosters })
    }
}

/// Classification scores: accuracy, macro F1, per-class F1 and the confusion matrix (rows: truth, columns:
/// prediction, in `classes` order).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClassificationReport {
    /// The classes.
    pub classes: Vec<u32>,
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Mean F1 over the classes present in the truth.
    pub macro_f1: f64,
    /// F1 per class.
    pub f1: Vec<f64>,
    /// Counts: `confusion[truth][prediction]`.
    pub confusion: Vec<Vec<u64>>,
}

/// Scores predictions against the truth.
pub fn classification_report(truth: &[u32], predicted: &[u32]) -> ClassificationReport {
    let mut classes: Vec<u32> = truth.iter().chain(predicted).copied().collect();
    classes.sort_unstable();
    classes.dedup();
    let index = |c: u32| classes.binary_search(&c).unwrap_or(0);
    let mut confusion = vec![vec![0u64; classes.len()]; classes.len()];
    for (t, p) in truth.iter().zip(predicted) {
        confusion[index(*t)][index(*p)] += 1;
    }
    let correct: u64 = (0..classes.len()).map(|i| confusion[i][i]).sum();
    let f1: Vec<f64> = (0..classes.len())
        .map(|i| {
            let tp = confusion[i][i] as f64;
            let (actual, predicted) =
                (confusion[i].iter().sum::<u64>() as f64, confusion.iter().map(|r| r[i]).sum::<u64>() as f64);
            if actual + predicted == 0.0 { 0.0 } else { 2.0 * tp / (actual + predicted) }
        })
        .collect();
    let present: Vec<usize> = (0..classes.len()).filter(|&i| confusion[i].iter().sum::<u64>() > 0).collect();
    let macro_f1 =
        if present.is_empty() { 0.0 } else { present.iter().map(|&i| f1[i]).sum::<f64>() / present.len() as f64 };
    ClassificationReport { accuracy: correct as f64 / truth.len().max(1) as f64, macro_f1, f1, confusion, classes }
}

/// Regression scores: mean absolute error, root mean squared error and R².
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct RegressionReport {
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Coefficient of determination (1 − residual / total sum of squares; 0 when the truth is constant).
    pub r2: f64,
}

/// Scores predicted values against the truth.
pub fn regression_report(truth: &[f64], predicted: &[f64]) -> RegressionReport {
    let n = truth.len().max(1) as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let (mut abs, mut sq, mut total) = (0.0, 0.0, 0.0);
    for (t, p) in truth.iter().zip(predicted) {
        abs += (t - p).abs();
        sq += (t - p) * (t - p);
        total += (t - mean) * (t - mean);
    }
    RegressionReport { mae: abs / n, rmse: (sq / n).sqrt(), r2: if total > 0.0 { 1.0 - sq / total } else { 0.0 } }
}
