//! `--shard i/n`: which part of a job this process does.

use std::fmt;
use std::str::FromStr;

/// The environment variable that pins a process's part, `i/n`, over SLURM's array variables.
pub const SHARD_ENV: &str = "EOFORGE_SHARD";

/// Part `index` of `count` equal parts of a job (0-based), e.g. `3/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ShardSpec {
    /// This part, `0..count`.
    pub index: usize,
    /// Number of parts.
    pub count: usize,
}

/// A bad `--shard` value or SLURM environment.
#[derive(Debug, thiserror::Error)]
#[error("invalid shard `{value}`: {reason}")]
pub struct ShardError {
    /// The value given.
    pub value: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl Default for ShardSpec {
    fn default() -> Self {
        Self::ALL
    }
}

impl ShardSpec {
    /// The whole job in one part.
    pub const ALL: ShardSpec = ShardSpec { index: 0, count: 1 };

    /// From `EOFORGE_SHARD=i/n` when set (what emitted sbatch scripts pin, so that resubmitting some tasks of
    /// an array with `--array=2,5` still gives them their parts), else from SLURM array variables
    /// (`SLURM_ARRAY_TASK_ID` relative to `SLURM_ARRAY_TASK_MIN`, and `SLURM_ARRAY_TASK_COUNT`), else the whole
    /// job.
    pub fn from_env() -> Result<Self, ShardError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Like [`ShardSpec::from_env`] with a custom variable lookup (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ShardError> {
        if let Some(pinned) = var(SHARD_ENV) {
            return pinned.parse().map_err(|e: ShardError| ShardError { value: format!("{SHARD_ENV}={pinned}"), ..e });
        }
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT")) else {
            return Ok(Self::ALL);
        };
        let value = format!("SLURM_ARRAY_TASK_ID={id} SLURM_ARRAY_TASK_COUNT={count}");
        let num = |s: &str| {
            s.trim().parse::<usize>().map_err(|_| ShardError { value: value.clone(), reason: "not a number" })
        };
        let min = var("SLURM_ARRAY_TASK_MIN").map_or(Ok(0), |m| num(&m))?;
        let (id, count) = (num(&id)?, num(&count)?);
        let index = id
            .checked_sub(min)
            .ok_or(ShardError { value: value.clone(), reason: "task id below SLURM_ARRAY_TASK_MIN" })?;
        Self::new(index, count).map_err(|e| ShardError { value, reason: e.reason })
    }

    /// Part `index` of `count`.
    pub fn new(index: usize, count: usize) -> Result<Self, ShardError> {
        let value = format!("{index}/{count}");
        if count == 0 {
            return Err(ShardError { value, reason: "the number of parts must be at least 1" });
        }
        if index >= count {
            return Err(ShardError {
                value,
                reason: "the part must be below the number of parts (parts count from 0)",
            });
        }
        Ok(Self { index, count })
    }

    /// Whether item number `n` of a deterministic plan belongs to this part (round robin).
    pub fn owns(&self, n: usize) -> bool {
        n % self.count == self.index
    }
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s.split_once('/').ok_or(ShardError { value: s.to_owned(), reason: "expected i/n, e.g. 0/4" })?;
        let parse =
            |v: &str| v.trim().parse::<usize>().map_err(|_| ShardError { value: s.to_owned(), reason: "not a number" });
        Self::new(parse(i)?, parse(n)?)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_partitions() {
        let s: ShardSpec = "2/3".parse().expect("valid");
        assert_eq!((s.index, s.count), (2, 3));
        assert!(
            "3/3".parse::<ShardSpec>().is_err()
                && "1/0".parse::<ShardSpec>().is_err()
                && "x".parse::<ShardSpec>().is_err()
        );
        let parts: Vec<ShardSpec> = (0..3).map(|i| ShardSpec::new(i, 3).expect("valid")).collect();
        for n in 0..100 {
            assert_eq!(parts.iter().filter(|p| p.owns(n)).count(), 1);
        }
    }

    #[test]
    fn reads_slurm_arrays() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(ShardSpec::from_vars(env(&[])).expect("none"), ShardSpec::ALL);
        let s = ShardSpec::from_vars(env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
        ]))
        .expect("valid");
        assert_eq!(s, ShardSpec { index: 2, count: 4 });
        assert!(ShardSpec::from_vars(env(&[("SLURM_ARRAY_TASK_ID", "9"), ("SLURM_ARRAY_TASK_COUNT", "4")])).is_err());
        // A resubmitted task (`--array=5`: one task, its own minimum) keeps the part its script pinned.
        let pinned = ShardSpec::from_vars(env(&[
            ("EOFORGE_SHARD", "4/8"),
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
        ]))
        .expect("valid");
        assert_eq!(pinned, ShardSpec { index: 4, count: 8 });
        let bad = ShardSpec::from_vars(env(&[("EOFORGE_SHARD", "8/8")])).expect_err("out of range");
        assert!(bad.to_string().contains("EOFORGE_SHARD=8/8"), "{bad}");
    }
}
