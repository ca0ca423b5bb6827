//! [`ShardSet`]: the index and statistics of a shard set written by `eoforge-prep shard`.

use eoforge_shards::{ClassTable, StatsReport};
use eoforge_storage::{Store, StoreOptions};

use crate::error::{Error, Result};

/// One shard of a split, as `index.json` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardEntry {
    /// Shard name (`train-000003`).
    pub name: String,
    /// Samples it holds.
    pub samples: usize,
    /// Key of its file below the shard set's root: the WebDataset tar, or the Parquet file when the set has
    /// no tars.
    pub file: String,
}

impl ShardEntry {
    /// Whether the file is Parquet (else a WebDataset tar).
    pub fn is_parquet(&self) -> bool {
        self.file.ends_with(".parquet")
    }
}

/// A regression target's name and the statistics of its training split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TargetRecord {
    /// The target's name (its band description).
    pub name: String,
    /// Mean over the training split's valid pixels.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

/// A shard set: its root store, shards per split and channel statistics.
#[derive(Clone, Debug)]
pub struct ShardSet {
    store: Store,
    index: serde_json::Value,
    stats: StatsReport,
}

impl ShardSet {
    /// Opens the shard set at `url`; `index.json` and `stats.json` must exist (the last worker of a conversion
    /// writes them once every shard is done).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        let store = Store::open_with(url, options)?;
        let read = |key: &'static str| {
            let store = &store;
            async move {
                let bytes = store.get(key).await.map_err(|e| Error::ShardSet {
                    url: store.url_of(key),
                    reason: if e.is_not_found() {
                        "missing: the conversion has not finished every shard (rerun `eoforge-prep shard`)".into()
                    } else {
                        e.to_string()
                    },
                })?;
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .map_err(|e| Error::ShardSet { url: store.url_of(key), reason: e.to_string() })
            }
        };
        let index = read("index.json").await?;
        let stats_json = read("stats.json").await?;
        let stats: StatsReport = serde_json::from_value(stats_json)
            .map_err(|e| Error::ShardSet { url: store.url_of("stats.json"), reason: e.to_string() })?;
        // A set without a training split (a test set) has no statistics; a run's normalise it.
        let empty = stats.mean.is_empty() && stats.std.is_empty();
        if !empty && (stats.mean.len() != stats.channels.len() || stats.std.len() != stats.channels.len()) {
            return Err(Error::ShardSet {
                url: store.url_of("stats.json"),
                reason: "mean/std do not have one value per channel".into(),
            });
        }
        Ok(Self { store, index, stats })
    }

    /// [`ShardSet::open`] for callers outside an async runtime.
    pub fn open_blocking(url: &str, options: &StoreOptions) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(Self::open(url, options))
    }

    /// The root store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Channel statistics of the training split.
    pub fn stats(&self) -> &StatsReport {
        &self.stats
    }

    /// The shards of `split` (`train`, `validation`, `test`) in index order; an error names the split when the
    /// index has none of it.
    pub fn shards(&self, split: &str) -> Result<Vec<ShardEntry>> {
        let bad = |reason: String| Error::ShardSet { url: self.store.url_of("index.json"), reason };
        let list = self.index["splits"][split]["shards"]
            .as_array()
            .ok_or_else(|| bad(format!("no split `{split}` (splits: {})", self.split_names().join(", "))))?;
        list.iter()
            .map(|entry| {
                let name = entry["shard"].as_str().ok_or_else(|| bad("a shard entry has no `shard` name".into()))?;
                let samples =
                    entry["samples"].as_u64().ok_or_else(|| bad(format!("shard `{name}` has no `samples`")))?;
                let tar = format!("{split}/{name}.tar");
                let parquet = format!("{split}/{name}.parquet");
                let file = if samples == 0 || entry["files"].get(&tar).is_some() {
                    tar
                } else if entry["files"].get(&parquet).is_some() {
                    parquet
                } else {
                    return Err(bad(format!("shard `{name}` lists neither a WebDataset tar nor a Parquet file")));
                };
                Ok(ShardEntry { name: name.to_owned(), samples: samples as usize, file })
            })
            .collect()
    }

    /// The tensor that holds the inputs: `index.json`'s `input` (`image` for scene windows), else `s2`.
    pub fn input_tensor(&self) -> &str {
        self.index["input"].as_str().unwrap_or("s2")
    }

    /// How the set's image values were de-quantised from the scenes' stored ones (`index.json` `dequantize`); an
    /// unknown mapping is an error naming it.
    pub fn dequantize(&self) -> Result<Option<eoforge_shards::Dequantize>> {
        match self.index.get("dequantize") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone()).map(Some).map_err(|e| Error::ShardSet {
                url: self.store.url_of("index.json"),
                reason: format!("`dequantize` {value}: {e}"),
            }),
        }
    }

    /// The mask value meaning "no label", when the set has masks and declares one.
    pub fn ignore(&self) -> Option<u16> {
        self.index["ignore"].as_u64().and_then(|v| u16::try_from(v).ok())
    }

    /// The class table the set declares (segmentation classes in model order, with names and colours), the ignore
    /// value left out (sets written before class tables listed it); empty when none.
    pub fn class_table(&self) -> Result<ClassTable> {
        let table: ClassTable = match self.index.get("classes") {
            None | Some(serde_json::Value::Null) => return Ok(ClassTable::default()),
            Some(list) => serde_json::from_value(list.clone()).map_err(|e| Error::ShardSet {
                url: self.store.url_of("index.json"),
                reason: format!("`classes`: {e}"),
            })?,
        };
        let ignore = self.ignore();
        ClassTable::new(table.classes().iter().filter(|c| Some(c.value) != ignore).cloned().collect())
            .map_err(|reason| Error::ShardSet { url: self.store.url_of("index.json"), reason })
    }

    /// Labelled pixels per class value in `split`, as `index.json`'s `class_pixels` records them (empty when it
    /// does not).
    pub fn class_pixels(&self, split: &str) -> std::collections::BTreeMap<u16, u64> {
        self.index["class_pixels"][split]
            .as_object()
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.parse().ok()?, v.as_u64()?))).collect())
            .unwrap_or_default()
    }

    /// The regression target's name and training statistics (`index.json`'s `target`, written by
    /// `prep windows --target`), when the set has one.
    pub fn target(&self) -> Option<TargetRecord> {
        serde_json::from_value(self.index.get("target")?.clone()).ok()
    }

    /// Frames per sample: the length of `index.json`'s `frames` (multi-temporal sets), else 1.
    pub fn frames(&self) -> usize {
        self.index["frames"].as_array().map_or(1, |f| f.len().max(1))
    }

    /// Input channels a network sees: the channels times the frames.
    pub fn input_channels(&self) -> usize {
        self.stats.channels.len() * self.frames()
    }

    /// Whether `index.json` declares a segmentation set (`"task": "segmentation"`: every sample has a `mask`).
    pub fn is_segmentation(&self) -> bool {
        self.index["task"] == "segmentation"
    }

    fn split_names(&self) -> Vec<String> {
        self.index["splits"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
    }
}
