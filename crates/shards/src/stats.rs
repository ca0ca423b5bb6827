//! Per-channel statistics (count, mean, std, min, max), computed per sample and merged exactly and in a fixed
//! order, so the result does not depend on how the work was split.

use ndarray::{ArrayView3, Axis};

/// Running statistics of one channel (Chan et al.'s parallel update of mean and M2).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChannelStats {
    /// Valid values seen.
    pub count: u64,
    /// Mean of the valid values.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    /// Smallest valid value (0 when empty).
    pub min: f64,
    /// Largest valid value (0 when empty).
    pub max: f64,
}

impl ChannelStats {
    /// Statistics of a slice of values, skipping `nodata`.
    pub fn of(values: impl Iterator<Item = f64> + Clone, nodata: Option<f64>) -> Self {
        let valid = values.filter(|v| Some(*v) != nodata && !v.is_nan());
        let (mut count, mut sum, mut min, mut max) = (0u64, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        for v in valid.clone() {
            count += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        if count == 0 {
            return Self::default();
        }
        let mean = sum / count as f64;
        let m2 = valid.map(|v| (v - mean) * (v - mean)).sum();
        Self { count, mean, m2, min, max }
    }

    /// Combines two disjoint sets of values.
    pub fn merge(&self, other: &Self) -> Self {
        if other.count == 0 {
            return *self;
        }
        if self.count == 0 {
            return *other;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        let mean = self.mean + delta * other.count as f64 / count as f64;
        let m2 = self.m2 + other.m2 + delta * delta * (self.count as f64 * other.count as f64) / count as f64;
        Self { count, mean, m2, min: self.min.min(other.min), max: self.max.max(other.max) }
    }

    /// Population standard deviation.
    pub fn std(&self) -> f64 {
        if self.count == 0 { 0.0 } else { (self.m2 / self.count as f64).sqrt() }
    }
}

/// Statistics of every channel of a `(channels, rows, cols)` sample.
pub fn sample_stats(sample: &ArrayView3<'_, f64>, nodata: Option<f64>) -> Vec<ChannelStats> {
    sample.axis_iter(Axis(0)).map(|plane| ChannelStats::of(plane.iter().copied(), nodata)).collect()
}

/// Merges per-sample statistics channel by channel, in the given order.
pub fn merge_all<'a>(parts: impl IntoIterator<Item = &'a [ChannelStats]>) -> Vec<ChannelStats> {
    let mut out: Vec<ChannelStats> = Vec::new();
    for part in parts {
        if out.is_empty() {
            out = part.to_vec();
        } else {
            for (acc, p) in out.iter_mut().zip(part) {
                *acc = acc.merge(p);
            }
        }
    }
    out
}

/// The `stats.json` written beside the shards.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatsReport {
    /// Channel names, in tensor order.
    pub channels: Vec<String>,
    /// Valid values per channel.
    pub count: Vec<u64>,
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Population standard deviation per channel.
    pub std: Vec<f64>,
    /// Minimum per channel.
    pub min: Vec<f64>,
    /// Maximum per channel.
    pub max: Vec<f64>,
}

impl StatsReport {
    /// A report from merged channel statistics.
    pub fn new(channels: &[&str], stats: &[ChannelStats]) -> Self {
        Self {
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            count: stats.iter().map(|s| s.count).collect(),
            mean: stats.iter().map(|s| s.mean).collect(),
            std: stats.iter().map(ChannelStats::std).collect(),
            min: stats.iter().map(|s| s.min).collect(),
            max: stats.iter().map(|s| s.max).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_matches_one_pass() {
        let values: Vec<f64> = (0..1000).map(|i| f64::from((i * 37) % 101) + 0.5).collect();
        let whole = ChannelStats::of(values.iter().copied(), None);
        let parts: Vec<Vec<ChannelStats>> =
            values.chunks(77).map(|c| vec![ChannelStats::of(c.iter().copied(), None)]).collect();
        let merged = merge_all(parts.iter().map(Vec::as_slice))[0];
        assert_eq!(merged.count, whole.count);
        assert!((merged.mean - whole.mean).abs() < 1e-9 && (merged.std() - whole.std()).abs() < 1e-9);
        assert!((merged.min - 0.5).abs() < 1e-12 && (merged.max - 100.5).abs() < 1e-12);
        let skip = ChannelStats::of([0.0, 2.0, 4.0].into_iter(), Some(0.0));
        assert_eq!((skip.count, skip.mean), (2, 3.0));
    }
}
