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

    /// Statistics of 16-bit unsigned values, skipping `nodata`, from exact integer moments: count, sum and sum of
    /// squares are exact in integers, so `m2 = (n·Σv² − (Σv)²) / n` has a single rounding (the f64 path sums
    /// squared deviations one by one). Up to 2³² values.
    pub fn of_u16(values: &[u16], nodata: Option<u16>) -> Self {
        // Squares are below 2^32, so their u64 sum is exact for up to 2^32 values.
        let (mut count, mut sum, mut squares, mut min, mut max) = (0u64, 0u64, 0u64, u16::MAX, 0u16);
        for &v in values {
            if Some(v) == nodata {
                continue;
            }
            count += 1;
            sum += u64::from(v);
            squares += u64::from(v) * u64::from(v);
            min = min.min(v);
            max = max.max(v);
        }
        if count == 0 {
            return Self::default();
        }
        let n = u128::from(count);
        let m2 = (n * u128::from(squares) - u128::from(sum) * u128::from(sum)) as f64 / count as f64;
        Self { count, mean: sum as f64 / count as f64, m2, min: f64::from(min), max: f64::from(max) }
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

/// Statistics of every channel of a `(channels, rows, cols)` sample of 16-bit values ([`ChannelStats::of_u16`]).
pub fn sample_stats_u16(sample: &ArrayView3<'_, u16>, nodata: Option<u16>) -> Vec<ChannelStats> {
    sample
        .axis_iter(Axis(0))
        .map(|plane| match plane.as_slice() {
            Some(values) => ChannelStats::of_u16(values, nodata),
            None => ChannelStats::of_u16(&plane.iter().copied().collect::<Vec<_>>(), nodata),
        })
        .collect()
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

    #[test]
    fn integer_moments_match_the_two_pass_statistics() {
        let values: Vec<u16> = (0..20_000u64).map(|i| ((i * 7919 + i * i * 31) % 65_536) as u16).collect();
        for nodata in [None, Some(values[3]), Some(0)] {
            let exact = ChannelStats::of_u16(&values, nodata);
            let two_pass = ChannelStats::of(values.iter().map(|v| f64::from(*v)), nodata.map(f64::from));
            assert_eq!(
                (exact.count, exact.mean, exact.min, exact.max),
                (two_pass.count, two_pass.mean, two_pass.min, two_pass.max)
            );
            assert!((exact.m2 - two_pass.m2).abs() <= 1e-12 * two_pass.m2, "{exact:?} vs {two_pass:?}");
        }
        assert_eq!(ChannelStats::of_u16(&[5, 5], Some(5)), ChannelStats::default());
        assert_eq!(ChannelStats::of_u16(&[65_535; 3], None).m2.to_bits(), 0f64.to_bits());
    }
}
