//! Window sets over many scenes: each scene (its own CRS and grid) with its labels or target is cut into windows
//! as [`convert_windows`](crate::convert_windows) cuts one, into shards of its own (`{split}-s{k:05}-{n:06}`), so a
//! scene's shards depend only on the scene, never on which worker cut it or what ran before.
//!
//! Parts: with `--shard i/n`, part `i` cuts the scenes `k` with `k % n == i`. A finished scene is recorded in
//! `_manifest/scene-{k:05}.json` (its job, the settings, its shard list, class pixels, channel statistics), so a
//! rerun skips it — a killed part reruns only its unfinished scene, whose shards come out the same bytes. A stop
//! request (SIGTERM from SLURM's `--signal`) ends the scene being cut without recording it.
//!
//! Merging: once every scene has its manifest, `index.json` (the shards in scene order, one class table over all
//! scenes: the label values present, mapped to model indices) and `stats.json` (training channel statistics merged
//! scene by scene in list order) are written from the manifests alone — by the last part to finish or by
//! [`merge_window_set`] — so a set cut in n parts equals the set one process cuts, byte for byte. Split blocks are
//! laid out in one equal-area CRS (EPSG:6933) for every scene, so overlapping scenes in different UTM zones put the
//! same ground in the same split.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use eoforge_sampling::ShardSpec;
use eoforge_shards::{ChannelStats, ClassInfo, ClassTable, StatsReport, merge_all};
use eoforge_storage::{Store, StoreOptions};

use crate::error::{Error, Result};
use crate::windows::{
    CutContext, SceneCut, SceneJob, WindowOptions, WindowsReport, cut_scene, json_bytes, target_summary,
};

/// The equal-area CRS split blocks of a many-scene set are laid out in (EASE-Grid 2.0 global, metres).
const GROUND_EPSG: u32 = 6933;

/// The scenes of a window set, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneList {
    /// Where the list came from.
    pub source: String,
    /// The scenes.
    pub scenes: Vec<SceneJob>,
}

impl SceneList {
    /// Reads a list: a scene catalog in Parquet (`scene_id`, `role`, `url` rows, as `eoforge-prep scenes` writes:
    /// role `image` is the scene, `labels` or `target` its companion) or a text file of one scene per line,
    /// `SCENE [LABELS]` separated by spaces, tabs or a comma (`#` starts a comment; a header line
    /// `scene,labels` or `scene,target` names the second column).
    pub fn read(location: &str, options: &StoreOptions) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (store, key) = Store::open_object(location, options)?;
        let bytes = rt.block_on(store.get(&key))?;
        if bytes.starts_with(b"PAR1") {
            let batches = eoforge_catalog::read_parquet(bytes, location)
                .map_err(|e| Error::Input { path: location.to_owned(), reason: e.to_string() })?;
            let entries = eoforge_catalog::scene_entries(&batches, location)
                .map_err(|e| Error::Input { path: location.to_owned(), reason: e.to_string() })?;
            return Self::of_entries(location, &entries);
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::Input { path: location.to_owned(), reason: "neither Parquet nor UTF-8 text".into() })?;
        Self::parse_text(location, text)
    }

    /// The scenes of a scene catalog's rows, in order of first appearance.
    fn of_entries(source: &str, entries: &[eoforge_catalog::SceneEntry]) -> Result<Self> {
        let mut order: Vec<&str> = Vec::new();
        let mut jobs: BTreeMap<&str, SceneJob> = BTreeMap::new();
        let refuse = |reason: String| Err(Error::Input { path: source.to_owned(), reason });
        for entry in entries {
            let job = jobs.entry(&entry.scene_id).or_insert_with(|| {
                order.push(&entry.scene_id);
                SceneJob { scene: String::new(), labels: None, target: None }
            });
            let slot = match entry.role.as_str() {
                "image" | "scene" => Some(&mut job.scene),
                "labels" => Some(job.labels.get_or_insert_default()),
                "target" => Some(job.target.get_or_insert_default()),
                _ => None, // other roles (masks, metadata) are not read here
            };
            if let Some(slot) = slot {
                if !slot.is_empty() {
                    return refuse(format!("scene `{}` lists role `{}` twice", entry.scene_id, entry.role));
                }
                entry.url.clone_into(slot);
            }
        }
        let mut scenes = Vec::with_capacity(order.len());
        for id in order {
            let job = jobs.remove(id).unwrap_or_else(|| SceneJob { scene: String::new(), labels: None, target: None });
            if job.scene.is_empty() {
                return refuse(format!("scene `{id}` has no row with role `image`"));
            }
            scenes.push(job);
        }
        Self::checked(source, scenes)
    }

    /// A text list (see [`SceneList::read`]).
    pub fn parse_text(source: &str, text: &str) -> Result<Self> {
        let mut scenes = Vec::new();
        let mut second = "labels";
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split([',', ' ', '\t']).filter(|f| !f.is_empty()).collect();
            if scenes.is_empty() && fields.first() == Some(&"scene") {
                second = match fields.get(1).copied() {
                    None | Some("labels") => "labels",
                    Some("target") => "target",
                    Some(other) => {
                        return Err(Error::Input {
                            path: source.to_owned(),
                            reason: format!("line {}: column `{other}` is not labels or target", number + 1),
                        });
                    }
                };
                continue;
            }
            if fields.len() > 2 {
                return Err(Error::Input {
                    path: source.to_owned(),
                    reason: format!("line {}: {} fields, expected SCENE [LABELS]", number + 1, fields.len()),
                });
            }
            let companion = fields.get(1).map(|f| (*f).to_owned());
            let (labels, target) = if second == "target" { (None, companion) } else { (companion, None) };
            scenes.push(SceneJob { scene: fields[0].to_owned(), labels, target });
        }
        Self::checked(source, scenes)
    }

    fn checked(source: &str, scenes: Vec<SceneJob>) -> Result<Self> {
        let refuse = |reason: String| Err(Error::Input { path: source.to_owned(), reason });
        if scenes.is_empty() {
            return refuse("no scene listed".into());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = scenes.iter().find(|s| !seen.insert(s.scene.as_str())) {
            return refuse(format!("scene `{}` is listed twice", twice.scene));
        }
        let (labelled, targeted) = (
            scenes.iter().filter(|s| s.labels.is_some()).count(),
            scenes.iter().filter(|s| s.target.is_some()).count(),
        );
        if (labelled != 0 && labelled != scenes.len()) || (targeted != 0 && targeted != scenes.len()) {
            return refuse(format!(
                "{labelled} of {} scenes have labels and {targeted} a target: every scene needs the same",
                scenes.len()
            ));
        }
        Ok(Self { source: source.to_owned(), scenes })
    }
}

/// What one part of a window set did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SetReport {
    /// This part (`i/n`).
    pub part: String,
    /// Scenes in the list.
    pub scenes: usize,
    /// Scenes this part owns.
    pub scenes_owned: usize,
    /// Scenes cut by this run.
    pub scenes_cut: usize,
    /// Scenes an earlier run had finished (kept).
    pub scenes_resumed: usize,
    /// Windows planned, written and skipped over the scenes this run cut.
    pub windows: WindowsReport,
    /// A stop was requested: the scene being cut was left unrecorded and no other started.
    pub stopped: bool,
    /// Every scene is done and `index.json` and `stats.json` were written.
    pub complete: bool,
    /// Wall seconds.
    pub seconds: f64,
    /// Windows cut per second.
    pub windows_per_s: f64,
    /// Peak resident memory, MiB.
    pub peak_rss_mib: f64,
}

/// A finished scene's manifest entry.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct SceneManifest {
    /// Its number in the list.
    number: usize,
    job: SceneJob,
    /// The window settings it was cut with.
    settings: serde_json::Value,
    cut: SceneCut,
}

fn manifest_key(number: usize) -> String {
    format!("_manifest/scene-{number:05}.json")
}

/// Cuts this `part`'s scenes of `list` into the set under `options.out`, skipping scenes an earlier run recorded;
/// writes `index.json` and `stats.json` when every scene of the list is done. `stop` ends the run early (exit 75
/// in the binaries); `on_window` is called per window (progress).
pub fn cut_window_set(
    list: &SceneList,
    options: &WindowOptions,
    part: ShardSpec,
    stop: Option<&Arc<AtomicBool>>,
    on_window: &(dyn Fn() + Sync),
) -> Result<SetReport> {
    let start = Instant::now();
    options.check()?;
    if !options.frames.is_empty() || options.target.is_some() {
        return Err(Error::Options(
            "a many-scene set takes its labels or targets from the list, and has no frames".into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let out = Store::open_with(&options.out, &options.store)?;
    let ground = eoforge_raster::Crs::from_epsg(GROUND_EPSG)?;
    let mut report = SetReport { part: part.to_string(), scenes: list.scenes.len(), ..SetReport::default() };
    let wanted = options.settings();
    for (number, job) in list.scenes.iter().enumerate() {
        if !part.owns(number) {
            continue;
        }
        report.scenes_owned += 1;
        if let Some(done) = rt.block_on(read_manifest(&out, number))? {
            check_same(&out, number, &done, job, &wanted)?;
            report.scenes_resumed += 1;
            continue;
        }
        if stop.is_some_and(|f| f.load(Ordering::SeqCst)) {
            report.stopped = true;
            break;
        }
        let stem = std::path::Path::new(&job.scene)
            .file_stem()
            .map_or_else(|| "scene".to_owned(), |s| s.to_string_lossy().replace(['.', ' '], "_"));
        let context = CutContext {
            out: &out,
            rt: &rt,
            shard_prefix: format!("s{number:05}-"),
            key_stem: Some(format!("s{number:05}_{stem}")),
            ground: Some(ground.clone()),
            on_window,
            stop: stop.map(Arc::as_ref),
        };
        tracing::info!(scene = %job.scene, number, "cutting");
        let Some(cut) = cut_scene(job, options, &context).map_err(|e| in_scene(job, e))? else {
            tracing::info!(scene = %job.scene, "stop requested: the scene is left for the next run");
            report.stopped = true;
            break;
        };
        let w = &mut report.windows;
        w.windows += cut.report.windows;
        w.skipped_nodata += cut.report.skipped_nodata;
        w.skipped_unlabelled += cut.report.skipped_unlabelled;
        for (split, n) in &cut.report.written {
            *w.written.entry(split.clone()).or_default() += n;
        }
        let manifest = SceneManifest { number, job: job.clone(), settings: wanted.clone(), cut };
        out.remove_stale_staging(&manifest_key(number))?;
        rt.block_on(out.put(&manifest_key(number), json_bytes(&manifest)?.into()))?;
        report.scenes_cut += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    report.complete = !report.stopped && rt.block_on(finalize(&out, list, false))?;
    report.seconds = start.elapsed().as_secs_f64();
    report.windows_per_s = report.windows.windows as f64 / elapsed.max(1e-9);
    report.peak_rss_mib = eoforge_profile::peak_rss_mib();
    let key = format!("profile/windows-{}-of-{}.json", part.index, part.count);
    rt.block_on(out.put(&key, json_bytes(&report)?.into()))?;
    Ok(report)
}

/// Writes the set's `index.json` and `stats.json` from the scenes' manifests; an error names the scenes not yet
/// cut. What the last part of a set does on its own; `eoforge-prep windows --catalog LIST --merge` runs it.
pub fn merge_window_set(list: &SceneList, options: &WindowOptions) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let out = Store::open_with(&options.out, &options.store)?;
    rt.block_on(finalize(&out, list, true)).map(|_| ())
}

/// An error while cutting a scene, naming the scene unless the error names a file already.
fn in_scene(job: &SceneJob, error: Error) -> Error {
    match error {
        Error::Options(reason) => Error::Input { path: job.scene.clone(), reason },
        other => other,
    }
}

async fn read_manifest(out: &Store, number: usize) -> Result<Option<SceneManifest>> {
    crate::run::read_entry(out, &manifest_key(number)).await
}

/// A recorded scene may be kept only if it is the same scene, cut with the same settings.
fn check_same(
    out: &Store,
    number: usize,
    done: &SceneManifest,
    job: &SceneJob,
    wanted: &serde_json::Value,
) -> Result<()> {
    let problem = if done.job != *job {
        Some(format!("it records scene {number} as `{}`, the list has `{}`", done.job.scene, job.scene))
    } else if done.settings != *wanted {
        Some(format!("it was cut with other window settings ({})", done.settings))
    } else {
        None
    };
    match problem {
        Some(reason) => Err(Error::Manifest {
            url: out.url_of(&manifest_key(number)),
            reason: format!("{reason}; this output holds another set: write to a new --out"),
        }),
        None => Ok(()),
    }
}

/// When every scene of `list` has a manifest, writes `stats.json` then `index.json` from them and returns true;
/// else returns false (or, with `require`, an error naming the missing scenes).
async fn finalize(out: &Store, list: &SceneList, require: bool) -> Result<bool> {
    let mut manifests = Vec::with_capacity(list.scenes.len());
    let mut missing = Vec::new();
    for (number, job) in list.scenes.iter().enumerate() {
        match read_manifest(out, number).await? {
            Some(m) if m.job == *job => manifests.push(m),
            Some(m) => {
                return Err(Error::Manifest {
                    url: out.url_of(&manifest_key(number)),
                    reason: format!("it records `{}`, the list has `{}` there", m.job.scene, job.scene),
                });
            }
            None => missing.push(format!("{number} ({})", job.scene)),
        }
    }
    if !missing.is_empty() {
        if require {
            let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
            return Err(Error::Options(format!(
                "{} of {} scenes are not cut yet: {}{}",
                missing.len(),
                list.scenes.len(),
                shown.join(", "),
                if missing.len() > 10 { ", …" } else { "" }
            )));
        }
        tracing::info!(pending = missing.len(), "not every scene is cut yet; index.json and stats.json wait");
        return Ok(false);
    }
    let first = &manifests[0];
    for m in &manifests[1..] {
        if m.settings != first.settings {
            return Err(Error::Manifest {
                url: out.url_of(&manifest_key(m.number)),
                reason: "cut with other window settings than scene 0".into(),
            });
        }
        if (m.cut.channels.len(), &m.cut.dtype) != (first.cut.channels.len(), &first.cut.dtype) {
            return Err(Error::Input {
                path: m.job.scene.clone(),
                reason: format!(
                    "{} {} channels, scene 0 ({}) {} {}: every scene of a set needs the same channels",
                    m.cut.channels.len(),
                    m.cut.dtype,
                    first.job.scene,
                    first.cut.channels.len(),
                    first.cut.dtype
                ),
            });
        }
    }
    // Shards in scene order, per split.
    let mut splits: BTreeMap<String, (u64, Vec<serde_json::Value>)> = BTreeMap::new();
    let mut class_pixels: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    let mut classes: BTreeMap<u16, ClassInfo> = BTreeMap::new();
    let mut totals = WindowsReport::default();
    for m in &manifests {
        if let Some(members) = m.cut.splits.as_object() {
            for (split, entry) in members {
                let slot = splits.entry(split.clone()).or_default();
                slot.0 += entry["samples"].as_u64().unwrap_or_default();
                slot.1.extend(entry["shards"].as_array().into_iter().flatten().cloned());
            }
        }
        for (split, histogram) in &m.cut.report.class_pixels {
            let total = class_pixels.entry(split.clone()).or_default();
            for (value, n) in histogram {
                *total.entry(*value).or_default() += n;
            }
        }
        for class in m.cut.classes.iter().flatten() {
            classes.entry(class.value).or_insert_with(|| class.clone());
        }
        totals.windows += m.cut.report.windows;
        totals.skipped_nodata += m.cut.report.skipped_nodata;
        totals.skipped_unlabelled += m.cut.report.skipped_unlabelled;
        for (split, n) in &m.cut.report.written {
            *totals.written.entry(split.clone()).or_default() += n;
        }
    }
    if totals.written.values().sum::<usize>() == 0 {
        return Err(Error::Options(format!(
            "no window kept in {} scenes: {} hold nodata, {} are mostly unlabelled",
            manifests.len(),
            totals.skipped_nodata,
            totals.skipped_unlabelled
        )));
    }
    let mut index = first.cut.describe(&first.settings);
    index["source"] = serde_json::json!({
        "catalog": list.source,
        "bands": first.cut.bands,
        "ground_crs": format!("EPSG:{GROUND_EPSG}"),
    });
    index["scenes"] = manifests
        .iter()
        .map(|m| {
            serde_json::json!({
                "scene": m.job.scene, "labels": m.job.labels, "target": m.job.target,
                "windows": m.cut.report.windows, "written": m.cut.report.written,
            })
        })
        .collect();
    index["splits"] = splits
        .into_iter()
        .map(|(split, (samples, shards))| {
            (split, serde_json::json!({ "samples": samples, "skipped": 0, "shards": shards }))
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    if first.cut.classes.is_some() {
        let table = ClassTable::new(classes.into_values().collect()).map_err(Error::Options)?;
        if table.is_empty() {
            return Err(Error::Options("no labelled pixel in the kept windows of any scene".into()));
        }
        index["classes"] = serde_json::to_value(&table).map_err(|e| Error::Options(e.to_string()))?;
        index["class_pixels"] = serde_json::to_value(&class_pixels).map_err(|e| Error::Options(e.to_string()))?;
    }
    if first.cut.target_stats.is_some() {
        let stats: Vec<[ChannelStats; 1]> =
            manifests.iter().filter_map(|m| m.cut.target_stats).filter(|s| s.count > 0).map(|s| [s]).collect();
        let merged = merge_all(stats.iter().map(<[ChannelStats; 1]>::as_slice)).first().copied().unwrap_or_default();
        index["target"] = target_summary(first.cut.target_name.as_deref().unwrap_or("target"), &merged);
    }
    let train = merge_all(manifests.iter().map(|m| m.cut.train_stats.as_slice()).filter(|s| !s.is_empty()));
    let names: Vec<&str> = first.cut.channels.iter().map(String::as_str).collect();
    out.put("stats.json", json_bytes(&StatsReport::new(&names, &train))?.into()).await?;
    out.put("index.json", json_bytes(&index)?.into()).await?;
    Ok(true)
}
