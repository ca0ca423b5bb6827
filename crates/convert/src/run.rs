//! Running a conversion: this worker's shards of the plan, resumable, with a manifest entry per finished shard.
//!
//! Output layout under the root:
//! - `{split}/{split}-{index:06}.tar` (WebDataset) and/or `.parquet`, each published atomically;
//! - `_manifest/{split}-{index:06}.json`, written after the shard's files: patch ids, skipped patches, file sizes
//!   and the shard's channel statistics. A shard with a manifest entry is done and is skipped on rerun;
//! - `index.json` and `stats.json` (training-split channel statistics), written once every planned shard is
//!   done, by whichever worker finishes last — their bytes depend only on the shards, not on who wrote them;
//! - `profile/conversion-{i}-of-{n}.json`, this run's timings and throughput.

use std::collections::BTreeMap;
use std::time::Instant;

use std::sync::Arc;

use eoforge_catalog::{Catalog, PatchRecord, S2_BANDS};
use eoforge_sampling::{ShardSpec, Split, SplitRatios};
use eoforge_shards::{ChannelStats, Sample, StatsReport, merge_all, parquet_shard, sample_stats_u16, webdataset_tar};
use eoforge_storage::{Store, StoreOptions, StoreUrl, UrlReader};
use futures::StreamExt;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::patch::{PATCH_SIZE, PatchError, PatchFiles, decode_patch, fetch_local, fetch_remote, to_sample};
use crate::plan::{PlannedShard, plan};
use crate::profile::{Profile, SkippedPatch};
use eoforge_profile::peak_rss_mib;

/// What to do with a patch that cannot be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Leave it out and list it in the manifest and profile.
    #[default]
    Skip,
    /// Stop the conversion with an error naming the patch.
    Fail,
}

/// Shard formats to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Formats {
    /// WebDataset tar.
    pub webdataset: bool,
    /// Parquet.
    pub parquet: bool,
}

/// Conversion settings.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// Output root (path or URL).
    pub out: String,
    /// Formats to write.
    pub formats: Formats,
    /// Fraction of patches to convert, chosen by id hash.
    pub fraction: f64,
    /// Seed of sampling, ratio splits and shard order.
    pub seed: u64,
    /// Splits for patches without one in the catalog.
    pub ratios: SplitRatios,
    /// Target shard size in MB (10⁶ bytes) of tensor data.
    pub target_shard_mb: f64,
    /// This worker's part.
    pub shard: ShardSpec,
    /// Bad-patch policy.
    pub on_error: OnError,
    /// Convert again the shards whose earlier run skipped patches (after they were repaired); other finished
    /// shards are kept.
    pub retry_skipped: bool,
    /// Add Sentinel-1 VV/VH as an `s1` tensor.
    pub with_s1: bool,
    /// Add each patch's `label_raster` as a `mask` tensor (set automatically when the catalog has that column).
    pub with_mask: bool,
    /// Threads decoding patches (0 = all cores).
    pub threads: usize,
    /// Requests in flight when the patches' files are on object storage (every file of a patch is fetched at once).
    pub requests_in_flight: usize,
    /// Store settings for inputs and outputs.
    pub store: StoreOptions,
    /// Seconds the caller spent loading the catalog (reported in the profile).
    pub catalog_load_s: f64,
    /// Raised to stop gracefully (a signal handler's flag): the shard being written is finished and recorded, no
    /// new one starts, and the profile says `stopped`. A rerun continues with the next shard.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// The manifest entry of a finished shard.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardManifest {
    /// Shard name.
    pub shard: String,
    /// Its split.
    pub split: Split,
    /// Patch ids in the shard, in order.
    pub patch_ids: Vec<String>,
    /// Patches of the plan left out of this shard.
    pub skipped: Vec<SkippedPatch>,
    /// Written files (key relative to the root → bytes).
    pub files: BTreeMap<String, u64>,
    /// Channel statistics of the shard's samples (valid values only).
    pub stats: Vec<ChannelStats>,
    /// The tensors of every sample (`s2`, `s1`, `labels`, `mask`); empty in manifests of older versions.
    #[serde(default)]
    pub tensors: Vec<String>,
}

impl ConvertOptions {
    /// The tensors each sample holds with these options.
    pub fn tensors(&self) -> Vec<String> {
        let mut names = vec!["s2".to_owned()];
        if self.with_s1 {
            names.push("s1".into());
        }
        names.push("labels".into());
        if self.with_mask {
            names.push("mask".into());
        }
        names
    }
}

impl ConvertOptions {
    /// Patches per shard for the target size (tensor bytes plus headers).
    pub fn patches_per_shard(&self) -> usize {
        let s2 = S2_BANDS.len() * PATCH_SIZE * PATCH_SIZE * 2;
        let s1 = if self.with_s1 { 2 * PATCH_SIZE * PATCH_SIZE * 4 } else { 0 };
        let mask = if self.with_mask { PATCH_SIZE * PATCH_SIZE * 2 } else { 0 };
        let per = (self.target_shard_mb * 1e6 / (s2 + s1 + mask + 4096) as f64).floor();
        if per.is_finite() && per >= 1.0 { per as usize } else { 1 }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// Converts this worker's shards of `catalog`; `on_patch` is called once per patch processed (progress).
pub fn convert(catalog: &Catalog, options: &ConvertOptions, on_patch: &(dyn Fn() + Sync)) -> Result<Profile> {
    let start = Instant::now();
    if !(options.formats.webdataset || options.formats.parquet) {
        return Err(Error::Options("choose at least one format".into()));
    }
    if !(options.fraction > 0.0 && options.fraction <= 1.0) {
        return Err(Error::Options(format!("fraction {} is not in (0, 1]", options.fraction)));
    }
    let rt = runtime()?;
    let out = Store::open_with(&options.out, &options.store)?;
    let with_mask =
        options.with_mask || catalog.records.iter().any(|r| r.paths.contains_key(eoforge_catalog::LABEL_RASTER));
    let options = &ConvertOptions { with_mask, ..options.clone() };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| Error::Options(e.to_string()))?;

    let mut resumed = Vec::new();
    // One client per bucket for the whole run, so connections are reused from shard to shard.
    let reader = UrlReader::new(&options.store);
    let t = Instant::now();
    let shards = plan(catalog, options.fraction, options.seed, &options.ratios, options.patches_per_shard());
    let mut profile = Profile {
        shard: options.shard.to_string(),
        out: out.url().to_string(),
        patches_in_catalog: catalog.records.len(),
        patches_planned: shards.iter().map(|s| s.records.len()).sum(),
        shards_planned: shards.len(),
        threads: pool.current_num_threads(),
        ..Profile::default()
    };
    profile.stages.add("catalog_load", options.catalog_load_s);
    profile.stages.add("plan", t.elapsed().as_secs_f64());

    let t_convert = Instant::now();
    let mut bytes_out = 0u64;
    // Shard k is encoded and published on its own thread while shard k + 1 is read: one publisher in flight.
    std::thread::scope(|scope| -> Result<()> {
        let mut record = |published: std::thread::Result<Result<ShardManifest>>, shard: &PlannedShard, t: Instant| {
            let manifest = published.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            let written: u64 = manifest.files.values().sum();
            let split_profile = profile.splits.entry(shard.split.name().to_owned()).or_default();
            split_profile.seconds += t.elapsed().as_secs_f64();
            split_profile.shards_written += 1;
            split_profile.patches += manifest.patch_ids.len();
            split_profile.bytes_out += written;
            bytes_out += written;
            profile.patches_converted += manifest.patch_ids.len();
            profile.skipped.extend(manifest.skipped.iter().cloned());
            tracing::info!(shard = %shard.name, samples = manifest.patch_ids.len(), bytes = written, "shard written");
            Ok::<_, Error>(())
        };
        let mut pending = None;
        for (number, shard) in shards.iter().enumerate() {
            if !options.shard.owns(number) {
                continue;
            }
            if options.stop.as_ref().is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst)) {
                tracing::info!(shard = %shard.name, "stop requested: no new shard starts");
                profile.stopped = true;
                break;
            }
            let t = Instant::now();
            if let Some(done) = rt.block_on(read_manifest(&out, &shard.name))?
                && (!options.retry_skipped || done.skipped.is_empty())
            {
                check_resumable(&out, shard, &done, options)?;
                resumed.push(shard.split.name());
                shard.records.iter().for_each(|_| on_patch());
                continue;
            }
            let read = read_shard(&reader, &rt, &pool, shard, options, on_patch)?;
            if let Some((handle, shard, t)) = pending.take() {
                record(std::thread::ScopedJoinHandle::join(handle), shard, t)?;
            }
            let (rt, out) = (&rt, &out);
            pending = Some((scope.spawn(move || publish_shard(rt, out, shard, read, options)), shard, t));
        }
        if let Some((handle, shard, t)) = pending.take() {
            record(std::thread::ScopedJoinHandle::join(handle), shard, t)?;
        }
        Ok(())
    })?;
    for split in resumed {
        profile.splits.entry(split.to_owned()).or_default().shards_resumed += 1;
    }
    let convert_s = t_convert.elapsed().as_secs_f64();
    profile.stages.add("convert", convert_s);

    let t = Instant::now();
    profile.complete = !profile.stopped && rt.block_on(finalize(&out, &shards))?;
    profile.stages.add("finalize", t.elapsed().as_secs_f64());
    profile.total_s = start.elapsed().as_secs_f64() + options.catalog_load_s;
    profile.patches_per_s = profile.patches_converted as f64 / convert_s.max(1e-9);
    profile.mb_per_s = bytes_out as f64 / 1e6 / convert_s.max(1e-9);
    profile.peak_rss_mib = peak_rss_mib();
    let key = format!("profile/conversion-{}-of-{}.json", options.shard.index, options.shard.count);
    let json = serde_json::to_vec_pretty(&profile).map_err(|e| Error::Options(e.to_string()))?;
    rt.block_on(out.put(&key, json.into()))?;
    Ok(profile)
}

/// The manifest entry of a shard, if an earlier run finished it.
async fn read_manifest(out: &Store, name: &str) -> Result<Option<ShardManifest>> {
    read_entry(out, &manifest_key(name)).await
}

/// A JSON manifest entry at `key`, if it exists; an unreadable one is an error naming its URL.
pub(crate) async fn read_entry<T: serde::de::DeserializeOwned>(out: &Store, key: &str) -> Result<Option<T>> {
    match out.get(key).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Manifest { url: out.url_of(key), reason: e.to_string() }),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A finished shard may be kept only if it holds exactly the planned patches in the requested formats; anything
/// else means the output root holds a different conversion (other catalog, --frac, --seed or shard size).
fn check_resumable(out: &Store, shard: &PlannedShard, done: &ShardManifest, options: &ConvertOptions) -> Result<()> {
    let planned: Vec<&str> = shard.records.iter().map(|r| r.patch_id.as_str()).collect();
    let skipped: std::collections::HashSet<&str> = done.skipped.iter().map(|s| s.patch_id.as_str()).collect();
    let kept: Vec<&str> = planned.iter().copied().filter(|id| !skipped.contains(id)).collect();
    let split = shard.split.name();
    let wanted = [(options.formats.webdataset, "tar"), (options.formats.parquet, "parquet")];
    let formats_ok = done.patch_ids.is_empty()
        || wanted
            .iter()
            .filter(|(on, _)| *on)
            .all(|(_, ext)| done.files.contains_key(&format!("{split}/{}.{ext}", shard.name)));
    let tensors = options.tensors();
    if !done.tensors.is_empty() && done.tensors != tensors {
        return Err(Error::Manifest {
            url: out.url_of(&manifest_key(&shard.name)),
            reason: format!(
                "this output's samples hold {} but this run would write {} (--with-s1 or a label raster differ); \
                 write to a new --out",
                done.tensors.join(","),
                tensors.join(",")
            ),
        });
    }
    if kept == done.patch_ids.iter().map(String::as_str).collect::<Vec<_>>()
        && skipped.len() + kept.len() == planned.len()
        && formats_ok
    {
        Ok(())
    } else {
        Err(Error::Manifest {
            url: out.url_of(&manifest_key(&shard.name)),
            reason: "this output holds a different conversion (other catalog, --frac, --seed, shard size or formats); \
                     write to a new --out"
                .into(),
        })
    }
}

fn manifest_key(name: &str) -> String {
    format!("_manifest/{name}.json")
}

/// A converted patch: its shard sample and channel statistics.
type Converted = std::result::Result<(Sample, Vec<ChannelStats>), PatchError>;

/// Whether `url` names a local file (read straight from disk rather than through a store).
fn is_local(url: &str) -> bool {
    StoreUrl::parse(url).ok().is_some_and(|u| u.local_path().is_some())
}

/// Decodes a patch from its files and turns it into a sample with its statistics.
fn convert_patch(record: &PatchRecord, files: &PatchFiles, split: &str, options: &ConvertOptions) -> Converted {
    let data = decode_patch(record, files, options.with_s1, options.with_mask, &options.store)?;
    let stats = sample_stats_u16(&data.s2.view(), Some(0));
    Ok((to_sample(record, split, &data), stats))
}

/// Patches on object storage: every file of `requests_in_flight / files per patch` patches in flight at once on
/// the runtime, each patch decoded on the pool as soon as its files arrive; results in the shard's order.
fn read_remote(
    reader: &UrlReader,
    rt: &tokio::runtime::Runtime,
    pool: &rayon::ThreadPool,
    shard: &PlannedShard,
    options: &ConvertOptions,
    on_patch: &(dyn Fn() + Sync),
) -> Vec<Converted> {
    let options = Arc::new(options.clone());
    let split = shard.split.name();
    let files_per_patch = S2_BANDS.len() + if options.with_s1 { 2 } else { 0 } + usize::from(options.with_mask);
    let patches_in_flight = (options.requests_in_flight / files_per_patch).max(1);
    rt.block_on(
        futures::stream::iter(&shard.records)
            .map(|record| {
                let options = Arc::clone(&options);
                async move {
                    let files = fetch_remote(reader, record, options.with_s1, options.with_mask).await;
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let record = record.clone();
                    pool.spawn(move || {
                        let converted = files.and_then(|files| convert_patch(&record, &files, split, &options));
                        // The receiver waits below; it is gone only if this run is already unwinding.
                        let _ = tx.send(converted);
                    });
                    let converted = rx.await.expect("the decoding task sends its result");
                    on_patch();
                    converted
                }
            })
            .buffered(patches_in_flight)
            .collect(),
    )
}

/// A shard's samples, read and converted, with their statistics and the patches left out.
struct ReadShard {
    samples: Vec<Sample>,
    stats: Vec<Vec<ChannelStats>>,
    skipped: Vec<SkippedPatch>,
}

/// Reads and converts one shard's patches (in parallel on `pool`), applying the bad-patch policy.
fn read_shard(
    reader: &UrlReader,
    rt: &tokio::runtime::Runtime,
    pool: &rayon::ThreadPool,
    shard: &PlannedShard,
    options: &ConvertOptions,
    on_patch: &(dyn Fn() + Sync),
) -> Result<ReadShard> {
    let split = shard.split.name();
    let remote = shard.records.iter().flat_map(|r| r.paths.values()).any(|url| !is_local(url));
    let results = if remote {
        read_remote(reader, rt, pool, shard, options, on_patch)
    } else {
        pool.install(|| {
            shard
                .records
                .par_iter()
                .map(|record| {
                    let files = fetch_local(record, options.with_s1, options.with_mask);
                    let converted = files.and_then(|files| convert_patch(record, &files, split, options));
                    on_patch();
                    converted
                })
                .collect()
        })
    };
    let mut samples = Vec::with_capacity(results.len());
    let mut stats = Vec::with_capacity(results.len());
    let mut skipped = Vec::new();
    for (record, result) in shard.records.iter().zip(results) {
        match result {
            Ok((sample, s)) => {
                samples.push(sample);
                stats.push(s);
            }
            Err(error) if options.on_error == OnError::Skip => {
                let reason = error.to_string();
                tracing::warn!(patch = %record.patch_id, %reason, "skipping patch");
                skipped.push(SkippedPatch { patch_id: record.patch_id.clone(), reason });
            }
            Err(source) => return Err(Error::BadPatch { patch_id: record.patch_id.clone(), source }),
        }
    }
    Ok(ReadShard { samples, stats, skipped })
}

/// Encodes and publishes one shard's files, then its manifest entry.
fn publish_shard(
    rt: &tokio::runtime::Runtime,
    out: &Store,
    shard: &PlannedShard,
    read: ReadShard,
    options: &ConvertOptions,
) -> Result<ShardManifest> {
    let ReadShard { samples, stats, skipped } = read;
    let split = shard.split.name();
    // Staging files of a killed earlier attempt at this shard (local outputs only).
    for key in
        [format!("{split}/{}.tar", shard.name), format!("{split}/{}.parquet", shard.name), manifest_key(&shard.name)]
    {
        out.remove_stale_staging(&key)?;
    }
    let mut files = BTreeMap::new();
    if !samples.is_empty() {
        let encode = |source| Error::Encode { shard: shard.name.clone(), source };
        if options.formats.webdataset {
            let key = format!("{split}/{}.tar", shard.name);
            let bytes = webdataset_tar(&samples).map_err(encode)?;
            files.insert(key.clone(), bytes.len() as u64);
            rt.block_on(out.put(&key, bytes.into()))?;
        }
        if options.formats.parquet {
            let key = format!("{split}/{}.parquet", shard.name);
            let bytes = parquet_shard(&samples).map_err(encode)?;
            files.insert(key.clone(), bytes.len() as u64);
            rt.block_on(out.put(&key, bytes.into()))?;
        }
    }
    let manifest = ShardManifest {
        shard: shard.name.clone(),
        split: shard.split,
        patch_ids: samples.iter().map(|s| s.key.clone()).collect(),
        skipped,
        files,
        stats: merge_all(stats.iter().map(Vec::as_slice)),
        tensors: options.tensors(),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Options(e.to_string()))?;
    rt.block_on(out.put(&manifest_key(&shard.name), json.into()))?;
    Ok(manifest)
}

/// When every planned shard has a manifest entry, writes `index.json` and `stats.json`; returns whether it did.
async fn finalize(out: &Store, shards: &[PlannedShard]) -> Result<bool> {
    let done: std::collections::HashSet<String> = out.list("_manifest").await?.into_iter().map(|o| o.key).collect();
    let pending = shards.iter().filter(|s| !done.contains(&manifest_key(&s.name))).count();
    if pending > 0 {
        tracing::info!(pending, "not every shard is done yet; index.json and stats.json wait for the last worker");
        return Ok(false);
    }
    let mut index: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    let mut train_stats = Vec::new();
    let mut per_split: BTreeMap<&str, (Vec<serde_json::Value>, usize, usize)> = BTreeMap::new();
    for shard in shards {
        let key = manifest_key(&shard.name);
        let bytes = out.get(&key).await?;
        let manifest: ShardManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Manifest { url: out.url_of(&key), reason: e.to_string() })?;
        let entry = per_split.entry(shard.split.name()).or_default();
        entry.0.push(serde_json::json!({ "shard": manifest.shard, "samples": manifest.patch_ids.len(), "files": manifest.files }));
        entry.1 += manifest.patch_ids.len();
        entry.2 += manifest.skipped.len();
        if shard.split == Split::Train && !manifest.stats.is_empty() {
            train_stats.push(manifest.stats);
        }
    }
    for (split, (list, samples, skipped)) in per_split {
        index.insert(split, serde_json::json!({ "samples": samples, "skipped": skipped, "shards": list }));
    }
    let index = serde_json::json!({
        "bands": S2_BANDS,
        "tensors": {
            "s2": "uint16 (12, 120, 120)",
            "s1": "float32 (2, 120, 120), with --with-s1",
            "labels": "uint8 (19,) multi-hot, BigEarthNet 19-class order",
            "mask": "uint16 (120, 120) per-pixel classes, when the catalog has label_raster"
        },
        "splits": index
    });
    out.put("index.json", serde_json::to_vec_pretty(&index).map_err(|e| Error::Options(e.to_string()))?.into()).await?;
    let stats = StatsReport::new(&S2_BANDS, &merge_all(train_stats.iter().map(Vec::as_slice)));
    out.put("stats.json", serde_json::to_vec_pretty(&stats).map_err(|e| Error::Options(e.to_string()))?.into()).await?;
    Ok(true)
}
