//! Batch existence checks: HEAD many keys with bounded concurrency and report *every* missing one.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::error::Result;
use crate::store::Store;

/// Outcome of [`Store::check_exist`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExistenceReport {
    /// Keys checked.
    pub checked: usize,
    /// Keys found.
    pub present: usize,
    /// Every missing key, in the order given.
    pub missing: Vec<String>,
    /// Wall time of the whole check.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

impl ExistenceReport {
    /// HEAD requests per second achieved.
    pub fn rate(&self) -> f64 {
        self.checked as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Store {
    /// Checks that every key exists, running at most `concurrency` HEAD requests at once.
    ///
    /// Missing keys are collected, not fatal: the report lists all of them. Any other failure (access denied,
    /// server unreachable after retries) stops the check and is returned as the error, naming its key.
    pub async fn check_exist<I>(&self, keys: I, concurrency: usize) -> Result<ExistenceReport>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let start = Instant::now();
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        let mut results = futures::stream::iter(keys.iter().enumerate())
            .map(|(i, key)| async move { (i, self.exists(key).await) })
            .buffer_unordered(concurrency.max(1));
        let mut found = vec![false; keys.len()];
        while let Some((i, outcome)) = results.next().await {
            found[i] = outcome?;
        }
        let missing: Vec<String> = keys.iter().zip(&found).filter(|(_, f)| !**f).map(|(k, _)| k.clone()).collect();
        Ok(ExistenceReport {
            checked: keys.len(),
            present: keys.len() - missing.len(),
            missing,
            elapsed: start.elapsed(),
        })
    }
}
