//! Train/validation/test splits.

use std::fmt;
use std::str::FromStr;

use crate::hash::id_unit;

/// A dataset split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data.
    Validation,
    /// Test data.
    Test,
}

impl Split {
    /// All splits, in output order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The name used in catalogs and shard names (`train`, `validation`, `test`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value that is not a split name.
#[derive(Debug, thiserror::Error)]
#[error("unknown split `{value}` (expected train, validation or test)")]
pub struct SplitError {
    /// The value given.
    pub value: String,
}

impl FromStr for Split {
    type Err = SplitError;

    /// Accepts `train`, `validation` (or `val`, `valid`) and `test`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Ok(Self::Train),
            "validation" | "val" | "valid" => Ok(Self::Validation),
            "test" | "testing" => Ok(Self::Test),
            _ => Err(SplitError { value: s.to_owned() }),
        }
    }
}

/// Split proportions for catalogs without a split column; they are normalised to sum to 1.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SplitRatios {
    /// Share of training data.
    pub train: f64,
    /// Share of validation data.
    pub validation: f64,
    /// Share of test data.
    pub test: f64,
}

impl Default for SplitRatios {
    fn default() -> Self {
        Self { train: 0.7, validation: 0.15, test: 0.15 }
    }
}

impl SplitRatios {
    /// The split of `id`, decided by its hash under `seed` (a different stream from fraction sampling).
    pub fn split_of(&self, id: &str, seed: u64) -> Split {
        let total = self.train + self.validation + self.test;
        let u = id_unit(id, seed ^ 0x5EED_5917) * total;
        if u < self.train {
            Split::Train
        } else if u < self.train + self.validation {
            Split::Validation
        } else {
            Split::Test
        }
    }
}

/// Split ratios that are not three non-negative shares with a positive sum.
#[derive(Debug, thiserror::Error)]
#[error(
    "split ratios `{value}`: expected three non-negative shares TRAIN,VALIDATION,TEST with a positive sum, e.g. 0.7,0.15,0.15"
)]
pub struct RatiosError {
    /// The value given.
    pub value: String,
}

impl FromStr for SplitRatios {
    type Err = RatiosError;

    /// Parses `0.8,0.1,0.1` (train, validation, test).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RatiosError { value: s.to_owned() };
        let parts: Vec<f64> =
            s.split(',').map(|p| p.trim().parse::<f64>().map_err(|_| bad())).collect::<Result<_, _>>()?;
        match parts.as_slice() {
            [t, v, e] if parts.iter().all(|x| x.is_finite() && *x >= 0.0) && t + v + e > 0.0 => {
                Ok(Self { train: *t, validation: *v, test: *e })
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_ratios() {
        assert_eq!("Validation".parse::<Split>().expect("valid"), Split::Validation);
        assert_eq!("val".parse::<Split>().expect("valid"), Split::Validation);
        assert!("holdout".parse::<Split>().expect_err("invalid").to_string().contains("holdout"));
        let r: SplitRatios = "8,1,1".parse().expect("valid");
        assert!((r.train - 8.0).abs() < f64::EPSILON);
        assert!("1,2".parse::<SplitRatios>().is_err() && "-1,1,1".parse::<SplitRatios>().is_err());
    }

    #[test]
    fn ratio_splits_follow_the_proportions() {
        let r = SplitRatios { train: 0.8, validation: 0.1, test: 0.1 };
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            counts[r.split_of(&format!("id{i}"), 1) as usize] += 1;
        }
        assert!((7_700..8_300).contains(&counts[0]) && (800..1_200).contains(&counts[1]), "{counts:?}");
    }
}
