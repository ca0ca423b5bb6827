//! [`run`]: an [`AreaConfig`]'s stages over its tiles — grid, inputs, features, reference, sample (per tile), then
//! merge, train (global), predict (per tile), export (per zone) — each alone or chained. Tile stages run tiles in
//! parallel, skip what the store has, and carry on past a failing tile; every run writes `report.json` (per stage:
//! tiles done, skipped, empty, failed with reasons, timings, outputs), `failure.log` and `profile.json` under
//! `<store>/runs/<run id>/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use eoforge_sampling::{ShardSpec, Split};
use rayon::prelude::*;
use sha2::Digest as _;

use crate::aoi::Aoi;
use crate::config::AreaConfig;
use crate::error::{Error, Result};
use crate::features::compute_index;
use crate::grid::{Tile, TileGrid, load_or_build_grid};
use crate::inputs::{TileOutcome, read_input_with};
use crate::patch_model::PatchModel;
use crate::pixel_model::{PixelModel, PixelTask, classification_report, regression_report};
use crate::predict::predict_tile;
use crate::samples::{Sample, read_table, sample_tile, write_table};
use crate::store::{TileStore, write_file};

/// A stage of an area pipeline, in run order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Build (or load the cached) tile grid.
    Grid,
    /// Read the input rasters onto every tile.
    Inputs,
    /// Compute the indices.
    Features,
    /// Read or burn the reference labels.
    Reference,
    /// Draw each tile's samples.
    Sample,
    /// Merge the tiles' samples into the training table.
    Merge,
    /// Train the pixel model and score it on the test split.
    Train,
    /// Predict every tile.
    Predict,
    /// Merge the predictions into one COG per UTM zone, through QC, and publish them.
    Export,
}

impl Stage {
    /// Every stage, in run order.
    pub const ALL: [Stage; 9] = [
        Stage::Grid,
        Stage::Inputs,
        Stage::Features,
        Stage::Reference,
        Stage::Sample,
        Stage::Merge,
        Stage::Train,
        Stage::Predict,
        Stage::Export,
    ];

    /// Its name in configs, flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Grid => "grid",
            Stage::Inputs => "inputs",
            Stage::Features => "features",
            Stage::Reference => "reference",
            Stage::Sample => "sample",
            Stage::Merge => "merge",
            Stage::Train => "train",
            Stage::Predict => "predict",
            Stage::Export => "export",
        }
    }

    /// Whether it works tile by tile (and so can be split with `--shard` and limited with `-t`).
    pub fn per_tile(self) -> bool {
        matches!(self, Stage::Inputs | Stage::Features | Stage::Reference | Stage::Sample | Stage::Predict)
    }
}

impl StageReport {
    /// A stage that has done nothing yet.
    fn new(stage: Stage) -> Self {
        Self {
            stage,
            seconds: 0.0,
            done: 0,
            skipped: 0,
            empty: 0,
            failed: Vec::new(),
            outputs: serde_json::Value::Null,
        }
    }
}

impl std::str::FromStr for Stage {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Stage::ALL.into_iter().find(|st| st.name() == s.trim()).ok_or_else(|| {
            let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
            Error::Usage(format!("unknown stage `{s}` (stages: {})", names.join(", ")))
        })
    }
}

/// Where a run reports its progress (a terminal's progress bars, or nothing).
pub trait Progress: Sync {
    /// A stage starts over `total` units (tiles or zones).
    fn start(&self, stage: &str, total: u64);
    /// One unit is finished.
    fn advance(&self);
    /// The stage is over.
    fn finish(&self);
}

/// No progress display.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The stages (empty: all of them, in order).
    pub stages: Vec<Stage>,
    /// Limit tile stages to these tiles: names, or indices in the grid's order (`-t`).
    pub tiles: Vec<String>,
    /// This process's part of the tiles (round robin over the selected tiles).
    pub shard: Option<ShardSpec>,
    /// Raised to stop after the tiles in flight.
    pub stop: Option<Arc<AtomicBool>>,
    /// Options for `s3://` stores, inputs and export destinations.
    pub store: eoforge_storage::StoreOptions,
    /// Replace maps published with other options.
    pub force: bool,
    /// The git revision of the binary running the pipeline, recorded in a trained network's `run.json` (empty:
    /// unknown).
    pub revision: String,
}

/// One tile (or zone) a stage could not finish, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Failure {
    /// The tile's (or zone's) name.
    pub tile: String,
    /// The error.
    pub reason: String,
}

/// What a stage did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StageReport {
    /// The stage.
    pub stage: Stage,
    /// Wall seconds.
    pub seconds: f64,
    /// Tiles (or zones) written.
    pub done: usize,
    /// Tiles already in the store.
    pub skipped: usize,
    /// Tiles with no data (written as nodata).
    pub empty: usize,
    /// Tiles that failed, with reasons.
    pub failed: Vec<Failure>,
    /// The stage's own figures (table rows, model scores, published maps).
    pub outputs: serde_json::Value,
}

/// A run's report (`report.json`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RunReport {
    /// The run's folder (`<store>/runs/<id>`): a path, or a URL for a store on object storage.
    pub dir: String,
    /// The config it ran.
    pub config: AreaConfig,
    /// Tiles in the grid.
    pub grid_tiles: usize,
    /// Tiles this run worked on (after `-t` and `--shard`).
    pub selected_tiles: usize,
    /// The shard, as `i/n`.
    pub shard: Option<String>,
    /// Each stage run, in order.
    pub stages: Vec<StageReport>,
    /// Whether it stopped on request.
    pub stopped: bool,
    /// Wall seconds.
    pub seconds: f64,
}

impl RunReport {
    /// Failed tiles over all stages.
    pub fn failures(&self) -> usize {
        self.stages.iter().map(|s| s.failed.len()).sum()
    }
}

/// Runs `options.stages` of `config`. Tile failures do not stop the run: they are in the report (check
/// [`RunReport::failures`]). A stage that cannot run at all (no model to predict with, a map that fails QC) is an
/// error, after the report so far is written.
pub fn run(config: &AreaConfig, options: &RunOptions, progress: &dyn Progress) -> Result<RunReport> {
    let started = Instant::now();
    let stages: Vec<Stage> = if options.stages.is_empty() {
        Stage::ALL.into_iter().filter(|s| configured(config, *s)).collect()
    } else {
        let stages: Vec<Stage> = options.stages.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
        if let Some(missing) = stages.iter().find(|s| !configured(config, **s)) {
            return Err(Error::Usage(format!(
                "stage `{}` is not configured: the config has no {}",
                missing.name(),
                section(*missing)
            )));
        }
        stages
    };
    if let Some(shard) = options.shard.filter(|s| s.count > 1)
        && let Some(global) = stages.iter().find(|s| matches!(s, Stage::Merge | Stage::Train))
    {
        return Err(Error::Usage(format!(
            "stage `{}` works on the whole area and cannot run as part {}/{} (run it once, without --shard)",
            global.name(),
            shard.index,
            shard.count
        )));
    }
    if !options.tiles.is_empty() && stages.contains(&Stage::Export) {
        return Err(Error::Usage("export maps whole zones: run it without -t".into()));
    }
    let store = TileStore::open(&config.store, &options.store)?;
    let aoi = Aoi::read(Path::new(&config.area.aoi))?;
    if stages.contains(&Stage::Inputs) {
        for input in &config.inputs {
            check_covers(&input.raster, &aoi, &options.store)?;
        }
    }
    if let Some(raster) =
        config.reference.as_ref().and_then(|r| r.raster.as_ref()).filter(|_| stages.contains(&Stage::Reference))
    {
        check_covers(raster, &aoi, &options.store)?;
    }
    if let Some(crate::inputs::ReferenceSpec { vector: Some(vector), attribute: Some(attribute), layer, .. }) =
        config.reference.as_ref().filter(|_| stages.contains(&Stage::Reference))
    {
        // Once, not once per tile.
        crate::inputs::check_vector_reference(vector, layer.as_deref(), attribute)?;
    }
    let spec = config.area.grid_spec();
    let grid_started = Instant::now();
    let grid_cache = crate::grid::grid_cache_path(&store.root.join("grid"), &aoi, &spec);
    if !options.tiles.is_empty() && !store.exists(&grid_cache) {
        // A wrong `-t` on a new store is refused before the store is created.
        select_tiles(&crate::grid::build_grid(&aoi, &spec)?, &options.tiles, None)?;
    }
    store.fetch(&grid_cache)?;
    let (grid, cached) = load_or_build_grid(&store.root.join("grid"), &aoi, &spec)?;
    if !cached {
        store.publish(&grid_cache)?;
    }
    let grid_seconds = grid_started.elapsed().as_secs_f64();
    let selected = select_tiles(&grid, &options.tiles, options.shard)?;
    let dir = run_dir(&store.root, options.shard)?;
    let mut report = RunReport {
        dir: store.location_of(&dir),
        config: config.clone(),
        grid_tiles: grid.tiles.len(),
        selected_tiles: selected.len(),
        shard: options.shard.map(|s| format!("{}/{}", s.index, s.count)),
        stages: Vec::new(),
        stopped: false,
        seconds: 0.0,
    };
    let mut failed_before: BTreeMap<String, Stage> = BTreeMap::new();
    let context = Context { config, store: &store, grid: &grid, aoi: &aoi, options, progress };
    for stage in stages {
        let stage_started = Instant::now();
        let result = if stage == Stage::Grid {
            let zones: Vec<String> = grid.zones().iter().map(|z| z.label()).collect();
            Ok(StageReport {
                stage,
                seconds: grid_seconds,
                done: grid.tiles.len(),
                skipped: 0,
                empty: 0,
                failed: Vec::new(),
                outputs: serde_json::json!({ "tiles": grid.tiles.len(), "zones": zones, "cached": cached }),
            })
        } else if stage.per_tile() {
            context.tile_stage(stage, &selected, &mut failed_before)
        } else {
            context.global_stage(stage, &selected)
        };
        match result {
            Ok(mut stage_report) => {
                if stage != Stage::Grid {
                    stage_report.seconds = stage_started.elapsed().as_secs_f64();
                }
                report.stages.push(stage_report);
            }
            Err(e) => {
                report.seconds = started.elapsed().as_secs_f64();
                write_report(&report, &store, &dir)?;
                // Name the first stage that failed: a later stage's complaint (no samples) is its consequence.
                if let Some(first) = report.stages.iter().find(|s| !s.failed.is_empty()) {
                    return Err(Error::Failed(format!(
                        "stage {} failed: {}; first, {} tile(s) failed at stage {} (see {}/failure.log): {}",
                        stage.name(),
                        e,
                        first.failed.len(),
                        first.stage.name(),
                        report.dir,
                        first.failed[0].reason
                    )));
                }
                return Err(e);
            }
        }
        if options.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            report.stopped = true;
            break;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    write_report(&report, &store, &dir)?;
    if report.stopped {
        return Err(Error::Stopped(format!(
            "finished tiles are in the store; rerun the same command to continue (report: {}/report.json)",
            report.dir
        )));
    }
    Ok(report)
}

/// Whether the config has what `stage` needs (a default run skips the stages it does not describe).
fn configured(config: &AreaConfig, stage: Stage) -> bool {
    match stage {
        Stage::Grid => true,
        Stage::Inputs => !config.inputs.is_empty(),
        Stage::Features => !config.indices.is_empty(),
        Stage::Reference => config.reference.is_some(),
        Stage::Sample | Stage::Merge => config.sampling.is_some(),
        Stage::Train => config.model.as_ref().is_some_and(|m| m.run.is_none()),
        Stage::Predict => config.model.is_some(),
        Stage::Export => config.export.is_some(),
    }
}

/// The config section a stage reads.
fn section(stage: Stage) -> &'static str {
    match stage {
        Stage::Grid => "[area]",
        Stage::Inputs => "[[inputs]]",
        Stage::Features => "[[indices]]",
        Stage::Reference => "[reference]",
        Stage::Sample | Stage::Merge => "[sampling]",
        Stage::Train => "[model] to train (a `run` is trained already, by eoforge-train)",
        Stage::Predict => "[model]",
        Stage::Export => "[export]",
    }
}

/// Refuses, before anything is written, a raster whose footprint misses the AOI: every tile would be nodata.
fn check_covers(location: &str, aoi: &Aoi, storage: &eoforge_storage::StoreOptions) -> Result<()> {
    use geo::BoundingRect;
    let raster = eoforge_raster::Raster::open_with(location, storage)?;
    let (Some(transform), Some(crs)) = (raster.geo_transform(), raster.crs()) else {
        return Err(Error::Input {
            path: location.to_owned(),
            reason: "not georeferenced (no geotransform or CRS)".into(),
        });
    };
    let grid = eoforge_raster::Grid { width: raster.width(), height: raster.height(), transform };
    let footprint = eoforge_raster::reproject_bounds(&grid.bounds(), &crs, &eoforge_raster::Crs::wgs84()?)?;
    let Some(rect) = aoi.polygons.bounding_rect() else { return Ok(()) };
    let area = eoforge_raster::Bounds::new(rect.min().x, rect.min().y, rect.max().x, rect.max().y);
    if footprint.intersection(&area).is_none() {
        return Err(Error::Input {
            path: location.to_owned(),
            reason: format!(
                "its footprint (lon {:.4}..{:.4}, lat {:.4}..{:.4}) misses the AOI `{}` (lon {:.4}..{:.4}, lat {:.4}..{:.4})",
                footprint.min_x,
                footprint.max_x,
                footprint.min_y,
                footprint.max_y,
                aoi.source,
                area.min_x,
                area.max_x,
                area.min_y,
                area.max_y
            ),
        });
    }
    Ok(())
}

/// The tiles a run works on: `-t` names or indices (all when empty), then this shard's part of them.
fn select_tiles<'g>(grid: &'g TileGrid, wanted: &[String], shard: Option<ShardSpec>) -> Result<Vec<&'g Tile>> {
    let mut tiles: Vec<&Tile> = if wanted.is_empty() {
        grid.tiles.iter().collect()
    } else {
        let mut picked = BTreeSet::new();
        for w in wanted {
            let index = match w.parse::<usize>() {
                Ok(i) if i < grid.tiles.len() => i,
                Ok(i) => {
                    return Err(Error::Usage(format!(
                        "-t {i}: the grid has {} tiles (0–{})",
                        grid.tiles.len(),
                        grid.tiles.len().saturating_sub(1)
                    )));
                }
                Err(_) => grid.tiles.iter().position(|t| t.name == *w).ok_or_else(|| {
                    let examples: Vec<&str> = grid.tiles.iter().take(3).map(|t| t.name.as_str()).collect();
                    Error::Usage(format!("-t {w}: no such tile in the grid (names look like {})", examples.join(", ")))
                })?,
            };
            picked.insert(index);
        }
        picked.into_iter().map(|i| &grid.tiles[i]).collect()
    };
    if let Some(shard) = shard {
        tiles = tiles.into_iter().enumerate().filter(|(n, _)| shard.owns(*n)).map(|(_, t)| t).collect();
    }
    Ok(tiles)
}

/// `<store>/runs/<UTC time>-<pid>[-shard-i-of-n]`, created.
fn run_dir(root: &Path, shard: Option<ShardSpec>) -> Result<PathBuf> {
    let stamp: String = eoforge_profile::utc_now().chars().filter(|c| !matches!(c, '-' | ':')).collect();
    let mut name = format!("{stamp}-{}", std::process::id());
    if let Some(s) = shard.filter(|s| s.count > 1) {
        name = format!("{name}-shard-{}-of-{}", s.index, s.count);
    }
    let dir = root.join("runs").join(name);
    std::fs::create_dir_all(&dir).map_err(crate::store::io("create", &dir))?;
    Ok(dir)
}

/// A pipeline run's `profile.json`: stage seconds under `stages`, as in every eoforge profile, and what each stage
/// got through.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct AreaProfile {
    /// Wall seconds of the run.
    pub total_s: f64,
    /// Peak resident memory in MiB.
    pub peak_rss_mib: f64,
    /// Worker threads.
    pub threads: usize,
    /// Tiles selected.
    pub tiles: usize,
    /// Seconds per stage.
    pub stages: eoforge_profile::Stages,
    /// Units (tiles or zones) per stage.
    pub units: std::collections::BTreeMap<String, StageUnits>,
}

/// What a stage got through.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StageUnits {
    /// Units the stage had: written, skipped (already done) or failed.
    pub units: usize,
    /// Units written (empty ones included).
    pub written: usize,
    /// Units written per second.
    pub written_per_s: f64,
}

/// Writes `report.json`, `failure.log` (one `stage<TAB>tile<TAB>reason` line per failure) and `profile.json` into
/// the run's folder `dir` of `store`.
fn write_report(report: &RunReport, store: &TileStore, dir: &Path) -> Result<()> {
    let put = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        write_file(&path, bytes)?;
        store.publish(&path)
    };
    let json = serde_json::to_vec_pretty(report).map_err(|e| Error::Grid(e.to_string()))?;
    put("report.json", &json)?;
    let log: String = report
        .stages
        .iter()
        .flat_map(|stage| {
            stage
                .failed
                .iter()
                .map(|f| format!("{}\t{}\t{}\n", stage.stage.name(), f.tile, f.reason.replace('\n', " ")))
        })
        .collect();
    put("failure.log", log.as_bytes())?;
    let mut profile = AreaProfile {
        total_s: report.seconds,
        peak_rss_mib: eoforge_profile::peak_rss_mib(),
        threads: rayon::current_num_threads(),
        tiles: report.selected_tiles,
        ..AreaProfile::default()
    };
    for s in &report.stages {
        let name = s.stage.name();
        profile.stages.add(name, s.seconds);
        let written = s.done + s.empty;
        profile.units.insert(
            name.to_owned(),
            StageUnits {
                units: written + s.skipped + s.failed.len(),
                written,
                written_per_s: if s.seconds > 0.0 { written as f64 / s.seconds } else { 0.0 },
            },
        );
    }
    let json = serde_json::to_vec_pretty(&profile).map_err(|e| Error::Grid(e.to_string()))?;
    put("profile.json", &json)
}

/// What the predict stage maps tiles with: the trained pixel model, or a segmentation run.
#[derive(Clone, Copy)]
struct Predictor<'a> {
    pixel: Option<&'a PixelModel>,
    patch: Option<&'a PatchModel>,
}

struct Context<'a> {
    config: &'a AreaConfig,
    store: &'a TileStore,
    grid: &'a TileGrid,
    aoi: &'a Aoi,
    options: &'a RunOptions,
    progress: &'a dyn Progress,
}

impl Context<'_> {
    fn stopped(&self) -> bool {
        self.options.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Runs a tile stage over `tiles` in parallel; tiles that failed in an earlier stage of this run are not tried.
    fn tile_stage(
        &self,
        stage: Stage,
        tiles: &[&Tile],
        failed_before: &mut BTreeMap<String, Stage>,
    ) -> Result<StageReport> {
        let patch = match (stage, self.config.model.as_ref()) {
            (Stage::Predict, Some(section)) if section.run.is_some() || section.network.is_some() => {
                let run = if let Some(run) = &section.run {
                    PathBuf::from(run)
                } else {
                    let run = network_run_path(self.store);
                    self.store.fetch_dir(&run)?;
                    if !run.join("area.json").is_file() {
                        return Err(Error::Usage(format!(
                            "predict needs the network trained at `{}`: run the train stage first",
                            self.store.location_of(&run)
                        )));
                    }
                    run
                };
                Some(PatchModel::open(&run, &self.grid.spec, section.window, section.halo)?)
            }
            _ => None,
        };
        let model = match stage {
            Stage::Predict if patch.is_none() => {
                let path = model_path(self.store);
                if !self.store.fetch(&path)? {
                    return Err(Error::Usage(format!(
                        "predict needs a trained model at `{}`: run the train stage first",
                        self.store.location_of(&path)
                    )));
                }
                Some(PixelModel::load(&path)?)
            }
            _ => None,
        };
        let sample_options = match stage {
            Stage::Sample => Some(self.config.sample_options().map_err(Error::Usage)?),
            _ => None,
        };
        if stage == Stage::Reference && self.config.reference.is_none() {
            return Err(Error::Usage("the config has no [reference] section".into()));
        }
        self.progress.start(stage.name(), tiles.len() as u64);
        let one = |tile: &&Tile| {
            if let Some(earlier) = failed_before.get(&tile.name) {
                return (tile.name.clone(), Err(format!("not run: failed in stage {}", earlier.name())));
            }
            if self.stopped() {
                return (tile.name.clone(), Ok(None));
            }
            let outcome = self
                .tile(stage, tile, Predictor { pixel: model.as_ref(), patch: patch.as_ref() }, sample_options.as_ref())
                .map(Some)
                .map_err(|e| crate::error::chain(&e));
            self.progress.advance();
            (tile.name.clone(), outcome)
        };
        // A segmentation run is one network whose engine and backend use every core: tiles go through it one at a
        // time (running tiles in parallel would only queue on it, and a rayon worker waiting on it could be asked
        // to run another tile that waits too). Other tile work runs tiles in parallel.
        let outcomes: Vec<(String, std::result::Result<Option<TileOutcome>, String>)> =
            if patch.is_some() { tiles.iter().map(one).collect() } else { tiles.par_iter().map(one).collect() };
        self.progress.finish();
        let mut report = StageReport::new(stage);
        let mut not_started = 0;
        // The same error on many tiles is logged once, with the count (tile names in it made generic).
        let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (tile, outcome) in outcomes {
            match outcome {
                Ok(Some(TileOutcome::Done)) => report.done += 1,
                Ok(Some(TileOutcome::Skipped)) => report.skipped += 1,
                Ok(Some(TileOutcome::Empty)) => report.empty += 1,
                Ok(None) => not_started += 1,
                Err(reason) => {
                    reasons.entry(reason.replace(&tile, "<tile>")).or_default().push(tile.clone());
                    failed_before.entry(tile.clone()).or_insert(stage);
                    report.failed.push(Failure { tile, reason });
                }
            }
        }
        for (reason, tiles) in &reasons {
            let shown: Vec<&str> = tiles.iter().take(3).map(String::as_str).collect();
            tracing::warn!(
                stage = stage.name(),
                tiles = tiles.len(),
                "{reason} ({} tile(s): {}{})",
                tiles.len(),
                shown.join(", "),
                if tiles.len() > shown.len() { ", …" } else { "" }
            );
        }
        report.outputs = serde_json::json!({ "not_started": not_started });
        Ok(report)
    }

    /// One tile of a tile stage.
    fn tile(
        &self,
        stage: Stage,
        tile: &Tile,
        predictor: Predictor<'_>,
        sample_options: Option<&crate::samples::SampleOptions>,
    ) -> Result<TileOutcome> {
        let (config, store, spec) = (self.config, self.store, &self.grid.spec);
        let skip = config.skip_existing;
        let combine = |outcomes: Vec<TileOutcome>| {
            if outcomes.iter().all(|o| *o == TileOutcome::Skipped) {
                TileOutcome::Skipped
            } else if outcomes.iter().all(|o| *o != TileOutcome::Done) {
                TileOutcome::Empty
            } else {
                TileOutcome::Done
            }
        };
        match stage {
            Stage::Inputs => {
                let outcomes = config
                    .inputs
                    .iter()
                    .map(|i| read_input_with(store, tile, spec, i, skip, &self.options.store))
                    .collect::<Result<Vec<_>>>()?;
                Ok(combine(outcomes))
            }
            Stage::Features => {
                let outcomes = config
                    .indices
                    .iter()
                    .map(|i| compute_index(store, tile, spec, i, skip))
                    .collect::<Result<Vec<_>>>()?;
                Ok(combine(outcomes))
            }
            Stage::Reference => match &config.reference {
                Some(reference) => reference.read(store, tile, spec, skip, &self.options.store),
                None => Err(Error::Usage("the config has no [reference] section".into())),
            },
            Stage::Sample => {
                let path = samples_path(store, &tile.name);
                if skip && store.exists(&path) {
                    return Ok(TileOutcome::Skipped);
                }
                let Some(options) = sample_options else { return Err(Error::Usage("no sampling options".into())) };
                let (columns, samples) = sample_tile(store, tile, spec, options)?;
                write_table(&path, &columns, &samples)?;
                store.publish(&path)?;
                Ok(if samples.is_empty() { TileOutcome::Empty } else { TileOutcome::Done })
            }
            Stage::Predict => match predictor {
                Predictor { patch: Some(patch), .. } => patch.predict_tile(store, tile, spec, skip),
                Predictor { pixel: Some(model), .. } => {
                    predict_tile(store, tile, spec, model, &config.sample_features(), skip)
                }
                _ => Err(Error::Usage("no model".into())),
            },
            other => Err(Error::Usage(format!("stage `{}` is not a tile stage", other.name()))),
        }
    }

    fn global_stage(&self, stage: Stage, tiles: &[&Tile]) -> Result<StageReport> {
        let mut report = StageReport::new(stage);
        match stage {
            Stage::Merge => report.outputs = self.merge(tiles)?,
            Stage::Train => {
                let network = self.config.model.as_ref().is_some_and(|m| m.network.is_some());
                let (outputs, skipped) = if network { self.train_network(tiles)? } else { self.train()? };
                report.outputs = outputs;
                report.skipped = usize::from(skipped);
            }
            Stage::Export => {
                let (outputs, failed) = self.export()?;
                report.done = outputs.len();
                report.outputs = serde_json::Value::Array(outputs);
                report.failed = failed;
            }
            other => return Err(Error::Usage(format!("stage `{}` is a tile stage", other.name()))),
        }
        if report.stage != Stage::Export && report.skipped == 0 {
            report.done = 1;
        }
        Ok(report)
    }

    /// Merges the selected tiles' sample tables into `<store>/training/samples.parquet`.
    fn merge(&self, tiles: &[&Tile]) -> Result<serde_json::Value> {
        let missing: Vec<&str> = tiles
            .iter()
            .filter(|t| !self.store.exists(&samples_path(self.store, &t.name)))
            .map(|t| t.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Error::Usage(format!(
                "merge: {} tile(s) have no samples ({}{}): run the sample stage first",
                missing.len(),
                missing.iter().take(5).copied().collect::<Vec<_>>().join(", "),
                if missing.len() > 5 { ", …" } else { "" }
            )));
        }
        let mut columns: Option<Vec<String>> = None;
        let mut all = Vec::new();
        for tile in tiles {
            let path = samples_path(self.store, &tile.name);
            self.store.fetch(&path)?;
            let (cols, samples) = read_table(&path)?;
            if samples.is_empty() {
                continue;
            }
            match &columns {
                Some(c) if *c != cols => {
                    return Err(Error::Input {
                        path: self.store.location_of(&path),
                        reason: format!("columns {cols:?}, other tiles have {c:?}: resample it"),
                    });
                }
                Some(_) => {}
                None => columns = Some(cols),
            }
            all.extend(samples);
        }
        let columns = columns.unwrap_or_else(|| self.config.sample_features());
        let path = table_path(self.store);
        write_table(&path, &columns, &all)?;
        self.store.publish(&path)?;
        let count = |split: Split| all.iter().filter(|s| s.split == split).count();
        Ok(serde_json::json!({
            "table": self.store.location_of(&path),
            "rows": all.len(),
            "columns": columns,
            "train": count(Split::Train),
            "validation": count(Split::Validation),
            "test": count(Split::Test),
        }))
    }

    /// Trains on the training table's train split and scores on its test split (with the majority class as the
    /// baseline of a classifier); writes `<store>/model/model.json` and `metrics.json`. With skip-existing, a model
    /// trained from the same table bytes with the same `[model]` section is kept (returns its metrics and `true`).
    fn train(&self) -> Result<(serde_json::Value, bool)> {
        let model_config =
            self.config.model.clone().ok_or_else(|| Error::Usage("the config has no [model] section".into()))?;
        let path = table_path(self.store);
        if !self.store.fetch(&path)? {
            return Err(Error::Usage(format!(
                "train needs the training table `{}`: run merge first",
                self.store.location_of(&path)
            )));
        }
        let table_sha256 = file_sha256(&path)?;
        let dir = self.store.root.join("model");
        let metrics_path = dir.join("metrics.json");
        if self.config.skip_existing && self.store.fetch(&model_path(self.store))? && self.store.fetch(&metrics_path)? {
            let text = std::fs::read(&metrics_path).map_err(crate::store::io("read", &metrics_path))?;
            let previous: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| Error::Input { path: self.store.location_of(&metrics_path), reason: e.to_string() })?;
            // As `metrics` records it below (f32 parameters widened to f64 the same way).
            let config = serde_json::to_value(&model_config).map_err(|e| Error::Grid(e.to_string()))?;
            // The model's own digest too: a run cut off between writing the model and its metrics leaves a model
            // the metrics do not describe.
            if previous["table_sha256"] == table_sha256.as_str()
                && previous["config"] == config
                && previous["model_sha256"] == file_sha256(&model_path(self.store))?.as_str()
            {
                return Ok((previous, true));
            }
        }
        let (columns, samples) = read_table(&path)?;
        let part = |split: Split| samples.iter().filter(|s| s.split == split).collect::<Vec<&Sample>>();
        let (train, test) = (part(Split::Train), part(Split::Test));
        if train.is_empty() || test.is_empty() {
            return Err(Error::Input {
                path: self.store.location_of(&path),
                reason: format!("{} train and {} test samples: both are needed", train.len(), test.len()),
            });
        }
        let rows = |s: &[&Sample]| s.iter().map(|s| s.values.clone()).collect::<Vec<_>>();
        let labels: Vec<f64> = train.iter().map(|s| f64::from(s.label)).collect();
        let model = PixelModel::fit(model_config.task, &columns, &rows(&train), &labels, &model_config.pixel_config())?;
        let predicted = model.predict(&rows(&test))?;
        let truth: Vec<u32> = test.iter().map(|s| s.label).collect();
        let scores = match model_config.task {
            PixelTask::Classification => {
                let predicted: Vec<u32> = predicted.iter().map(|p| *p as u32).collect();
                let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
                for s in &train {
                    *counts.entry(s.label).or_default() += 1;
                }
                let majority = counts.iter().max_by_key(|(_, n)| **n).map_or(0, |(c, _)| *c);
                let baseline = classification_report(&truth, &vec![majority; truth.len()]);
                serde_json::json!({
                    "model": classification_report(&truth, &predicted),
                    "majority_class": majority,
                    "majority_baseline": baseline,
                })
            }
            PixelTask::Regression => {
                let truth: Vec<f64> = truth.iter().map(|t| f64::from(*t)).collect();
                let mean = labels.iter().sum::<f64>() / labels.len() as f64;
                serde_json::json!({
                    "model": regression_report(&truth, &predicted),
                    "mean_baseline": regression_report(&truth, &vec![mean; truth.len()]),
                })
            }
        };
        std::fs::create_dir_all(&dir).map_err(crate::store::io("create", &dir))?;
        model.save(&model_path(self.store))?;
        self.store.publish(&model_path(self.store))?;
        let metrics = serde_json::json!({
            "task": model_config.task,
            "columns": columns,
            "classes": model.classes,
            "config": model_config,
            "table_sha256": table_sha256,
            "model_sha256": file_sha256(&model_path(self.store))?,
            "train_samples": train.len(),
            "test_samples": test.len(),
            "test": scores,
        });
        let bytes = serde_json::to_vec_pretty(&metrics).map_err(|e| Error::Grid(e.to_string()))?;
        write_file(&metrics_path, &bytes)?;
        self.store.publish(&metrics_path)?;
        Ok((metrics, false))
    }

    /// Cuts the selected tiles' samples into a shard set (`<store>/training/patches`) and trains the `[model]`
    /// network on it into `<store>/model/run`; with skip-existing, a run trained on the same windows with the same
    /// settings is kept (returns its record and `true`).
    fn train_network(&self, tiles: &[&Tile]) -> Result<(serde_json::Value, bool)> {
        let section = self.config.model.as_ref().ok_or_else(|| Error::Usage("no [model] section".into()))?;
        let block = self.config.sampling.as_ref().map_or(1, |s| s.block);
        let channels = self.config.sample_features();
        let patches = self.store.root.join("training").join("patches");
        let set = crate::network::write_patch_set(self.store, tiles, &channels, block, &patches)?;
        let fit = section.fit_config(channels.len(), set.classes)?;
        if let Some(multiple) = fit.model.size_multiple()
            && !block.is_multiple_of(multiple)
        {
            return Err(Error::Usage(format!(
                "[sampling] block {block}: the network takes windows of a multiple of {multiple} pixels"
            )));
        }
        let run = network_run_path(self.store);
        self.store.fetch_dir(&run)?;
        // Trained from the store's copy of the windows, so that a run resumed on another node, or from another local
        // folder, reads the same shard set.
        self.store.publish_dir(&patches)?;
        let source = self.store.location_of(&patches);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|source| {
            Error::Io { operation: "start an I/O runtime for", path: patches.display().to_string(), source }
        })?;
        let shards = runtime
            .block_on(eoforge_train::ShardSet::open(&source, &self.options.store))
            .map_err(|e| Error::Input { path: source.clone(), reason: e.to_string() })?;
        let stop = self.options.stop.as_deref();
        let skip = self.config.skip_existing;
        let call = eoforge_train::CallRecord {
            data: source,
            device: "cpu".into(),
            command: std::env::args().collect(),
            eoforge_version: env!("CARGO_PKG_VERSION").into(),
            git_revision: if self.options.revision.is_empty() {
                "unknown".into()
            } else {
                self.options.revision.clone()
            },
        };
        let trained = crate::network::train_network(self.store, &shards, &set, &fit, &run, &call, skip, stop);
        if let Err(Error::Stopped(_)) = &trained {
            // The checkpoint goes to the store too, so the next run resumes from it on whichever node it runs.
            self.store.publish_dir(&run)?;
        }
        let (record, skipped) = trained?;
        if !skipped {
            self.store.publish_dir(&run)?;
        }
        Ok((record, skipped))
    }

    /// One COG per zone, through QC, published atomically; a zone that fails QC is a failure of the stage.
    fn export(&self) -> Result<(Vec<serde_json::Value>, Vec<Failure>)> {
        let export =
            self.config.export.clone().ok_or_else(|| Error::Usage("the config has no [export] section".into()))?;
        let dest_root = export.dest.clone().unwrap_or_else(|| format!("{}/maps", self.store.location()));
        // Zones are independent maps: a part of the run exports its share of them (zone i, i + n, …).
        let zones: Vec<_> = self
            .grid
            .zones()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.options.shard.is_none_or(|s| s.owns(*i)))
            .map(|(_, zone)| zone)
            .collect();
        self.progress.start("export", zones.len() as u64);
        let mut outputs = Vec::new();
        let mut failed = Vec::new();
        for zone in zones {
            if self.stopped() {
                break;
            }
            let dest = format!("{}/{}_{}.tif", dest_root.trim_end_matches('/'), export.name, zone.label());
            match crate::export::publish_zone(self.store, self.grid, zone, self.aoi, self.config, &dest, self.options) {
                Ok((output, None)) => outputs.push(output),
                Ok((output, Some(reason))) => {
                    outputs.push(output);
                    failed.push(Failure { tile: zone.label(), reason });
                }
                Err(e) => failed.push(Failure { tile: zone.label(), reason: crate::error::chain(&e) }),
            }
            self.progress.advance();
        }
        self.progress.finish();
        Ok((outputs, failed))
    }
}

/// The SHA-256 of a file's bytes, in hexadecimal.
fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(crate::store::io("read", path))?;
    Ok(crate::store::hex(&sha2::Sha256::digest(&bytes)))
}

/// A tile's sample table.
fn samples_path(store: &TileStore, tile: &str) -> PathBuf {
    store.tile_dir(tile).join("samples.parquet")
}

/// The merged training table.
pub fn table_path(store: &TileStore) -> PathBuf {
    store.root.join("training").join("samples.parquet")
}

/// The network the train stage trains (`[model] network`).
fn network_run_path(store: &TileStore) -> PathBuf {
    store.root.join("model").join("run")
}

/// The trained model.
pub fn model_path(store: &TileStore) -> PathBuf {
    store.root.join("model").join("model.json")
}
