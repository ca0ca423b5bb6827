//! [`Plan`]: a model applied to scenes — one, or a list shared among workers — each product written through the
//! tiled engine into a working folder beside its destination, checked against its source (CRS, grid, nodata) and
//! published only when QC passes.

use std::path::PathBuf;

use eoforge_engine::{EngineOptions, EngineProfile, Model};
use eoforge_products::{Existing, Notice, Outcome, ProductSet, Verdict, WorkDir, existing};
use eoforge_profile::{Stages, error_chain};
use eoforge_qc::{QcConfig, SourceReference};
use eoforge_raster::{CogWriterOptions, Crs, GeoTransform, Raster, RasterInfo, Window};
use eoforge_sampling::ShardSpec;
use eoforge_stac::{SceneQuery, StacItem, search_scene};
use eoforge_storage::{Store, StoreOptions};

use crate::error::{Error, Result};
use crate::options::{ModelSource, PredictOptions};

/// A model applied to scenes with fixed options.
#[derive(Debug)]
pub struct Plan {
    options: PredictOptions,
    store: StoreOptions,
    /// An ONNX model loaded for an earlier scene of a list: its session and probe are not made again.
    onnx: OnnxCache,
}

/// The ONNX model of the last scene, with the input band count it was opened for.
#[derive(Default)]
struct OnnxCache(std::sync::Mutex<Option<(usize, crate::onnx::OnnxModel)>>);

impl std::fmt::Debug for OnnxCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnnxCache")
    }
}

/// What became of one scene.
#[derive(Debug)]
pub struct Made {
    /// QC reports and what publishing did.
    pub outcome: Outcome,
    /// The engine's figures (windows, throughput, busy time per stage).
    pub engine: EngineProfile,
}

/// One scene of a list, as it is handled.
#[derive(Debug)]
pub enum SceneEvent<'a> {
    /// Scene `index` (from 0) starts.
    Started {
        /// Its position in the list.
        index: usize,
        /// Input.
        source: &'a str,
        /// Product.
        dest: &'a str,
    },
    /// Already published with these options and a passing report.
    Skipped {
        /// Its position in the list.
        index: usize,
        /// Product.
        dest: &'a str,
    },
    /// Made (published, or rejected by QC).
    Made {
        /// Its position in the list.
        index: usize,
        /// The result.
        made: &'a Made,
    },
    /// Failed.
    Failed {
        /// Its position in the list.
        index: usize,
        /// Why.
        reason: String,
    },
}

/// What a worker did with its share of a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOutcome {
    /// Scenes in the list.
    pub scenes: usize,
    /// Scenes of this worker.
    pub mine: usize,
    /// Published.
    pub done: usize,
    /// Already current.
    pub skipped: usize,
    /// `scene N (SOURCE): reason` per failure.
    pub failed: Vec<String>,
}

impl Plan {
    /// A plan with `options`, reading and writing through `store`.
    pub fn new(options: PredictOptions, store: StoreOptions) -> Self {
        Self { options, store, onnx: OnnxCache::default() }
    }

    /// The options.
    pub fn options(&self) -> &PredictOptions {
        &self.options
    }

    /// The ONNX model an earlier scene opened for `bands` input bands, taken out of the cache.
    pub(crate) fn take_onnx(&self, bands: usize) -> Option<crate::onnx::OnnxModel> {
        let mut cache = self.onnx.0.lock().ok()?;
        match cache.take() {
            Some((b, model)) if b == bands => Some(model),
            _ => None,
        }
    }

    /// Keeps `model` (opened for `bands` input bands) for the next scene.
    pub(crate) fn keep_onnx(&self, bands: usize, model: crate::onnx::OnnxModel) {
        if let Ok(mut cache) = self.onnx.0.lock() {
            *cache = Some((bands, model));
        }
    }

    /// Makes the product of `source` at `dest` (QC decides whether it is published: see [`Outcome::gate`]).
    pub fn predict(&self, source: &str, dest: &str) -> Result<Made> {
        self.predict_source(&SceneSource::raster(source), dest)
    }

    /// Makes the product of the STAC Item `item`'s `assets` (by key or band name, stacked in that order and read in
    /// place) at `dest`; the product's own Item links `item` as its source and takes its datetime.
    pub fn predict_item(&self, item: &str, assets: &[String], dest: &str) -> Result<Made> {
        self.predict_stac(&StacItem::read(item, &self.store)?, assets, dest)
    }

    /// Makes the product of the Item a STAC API search finds (see [`eoforge_stac::search_scene`]) at `dest`.
    pub fn predict_search(&self, api: &str, query: &SceneQuery, assets: &[String], dest: &str) -> Result<Made> {
        self.predict_stac(&search_scene(api, query)?, assets, dest)
    }

    /// Makes the product of `item`'s `assets` at `dest`.
    pub fn predict_stac(&self, item: &StacItem, assets: &[String], dest: &str) -> Result<Made> {
        let scene = item.scene(assets, &self.store)?;
        let source = SceneSource {
            pixels: scene.path.display().to_string(),
            name: item.location().to_owned(),
            datetime: item.datetime().map(str::to_owned),
        };
        self.predict_source(&source, dest)
    }

    /// [`Self::predict`] for a scene whose pixels and provenance differ (a STAC Item's assets stacked in a VRT).
    /// Each webhook of the options' notifier hears what became of it.
    pub fn predict_source(&self, scene_source: &SceneSource, dest: &str) -> Result<Made> {
        let started = std::time::Instant::now();
        let made = self.make(scene_source, dest);
        if !self.options.notify.webhooks.is_empty() {
            let notice = notice(&made, &scene_source.name, dest, started.elapsed().as_secs_f64());
            if let Ok(runtime) = runtime() {
                runtime.block_on(self.options.notify.send(&notice));
            }
        }
        made
    }

    fn make(&self, scene_source: &SceneSource, dest: &str) -> Result<Made> {
        eoforge_raster::set_gdal_cache_mib(128);
        let mut stages = Stages::default();
        let source = scene_source.name.as_str();
        let raster = Raster::open_with(&scene_source.pixels, &self.store)?;
        let crop = match &self.options.aoi {
            Some(aoi) => {
                let bounds = eoforge_raster::Bounds::new(aoi.min_lon, aoi.min_lat, aoi.max_lon, aoi.max_lat);
                Some(raster.window_for(&bounds, &Crs::wgs84()?)?)
            }
            None => None,
        };
        let info = raster.info()?;
        let scene = Scene {
            plan: self,
            source_url: source,
            pixels: &scene_source.pixels,
            datetime: scene_source.datetime.as_deref(),
            dest,
            crop,
            info,
        };
        match &self.options.model {
            ModelSource::Run(dir) => crate::trained::predict(&scene, raster, dir, &mut stages),
            ModelSource::Onnx(file) => crate::onnx_product::predict(&scene, raster, file, &mut stages),
            ModelSource::Identity | ModelSource::Upsample => crate::builtin::predict(&scene, raster, &mut stages),
        }
    }

    /// This worker's share (`shard`) of the scene list `list` (`SOURCE DEST` per line): scenes already published
    /// with these options and a passing report are skipped unless `force`; one scene's failure does not stop the
    /// others. `on_event` hears of each scene.
    pub fn predict_list(
        &self,
        list: &str,
        shard: ShardSpec,
        on_event: &mut dyn FnMut(SceneEvent<'_>),
    ) -> Result<ListOutcome> {
        let rt = runtime()?;
        let scenes = rt.block_on(eoforge_products::read_scene_list(list, &self.store))?;
        let mine: Vec<(usize, &eoforge_products::Scene)> =
            scenes.iter().enumerate().filter(|(i, _)| shard.owns(*i)).collect();
        let mut outcome = ListOutcome { scenes: scenes.len(), mine: mine.len(), ..ListOutcome::default() };
        let recorded = self.options.recorded();
        for (index, scene) in mine {
            let (source, dest) = (scene.source.as_str(), scene.dest.as_str());
            let fail = |reason: String, outcome: &mut ListOutcome, on_event: &mut dyn FnMut(SceneEvent<'_>)| {
                outcome.failed.push(format!("scene {} ({source}): {reason}", index + 1));
                on_event(SceneEvent::Failed { index, reason });
            };
            if !self.options.force {
                let (store, key) = Store::open_object(dest, &self.store)?;
                match rt.block_on(existing(&store, &key, &recorded))? {
                    Existing::Current(_) => {
                        on_event(SceneEvent::Skipped { index, dest });
                        outcome.skipped += 1;
                        continue;
                    }
                    Existing::OptionsChanged(differences) => {
                        let reason = format!(
                            "{dest} holds a product made with other options ({differences}); pass --force to \
                             replace it"
                        );
                        fail(reason, &mut outcome, on_event);
                        continue;
                    }
                    Existing::Stale(why) => tracing::info!(dest, why, "replacing"),
                    Existing::Missing => {}
                }
            }
            on_event(SceneEvent::Started { index, source, dest });
            match self.predict(source, dest) {
                Ok(made) => {
                    on_event(SceneEvent::Made { index, made: &made });
                    match made.outcome.gate() {
                        Ok(()) => outcome.done += 1,
                        Err(e) => fail(e.to_string(), &mut outcome, on_event),
                    }
                }
                Err(e) => fail(error_chain(&e), &mut outcome, on_event),
            }
        }
        Ok(outcome)
    }
}

/// The message about one product made from `source` at `dest` in `wall_s` seconds: its verdict, the files published
/// (product, derived maps, STAC Item, QC report), the engine's timings and throughput.
pub fn notice(made: &Result<Made>, source: &str, dest: &str, wall_s: f64) -> Notice {
    let (verdict, products, stages, throughput) = match made {
        Ok(made) if made.outcome.published.is_some() => {
            let files =
                eoforge_products::published_files(dest, made.outcome.derived_reports.iter().map(|r| r.path.clone()));
            (Verdict::Published, files, engine_stages(made), engine_throughput(made))
        }
        Ok(made) => {
            let mut failed: Vec<String> = Vec::new();
            for report in std::iter::once(&made.outcome.report).chain(&made.outcome.derived_reports) {
                if !report.passed {
                    failed.push(format!("{}: {}", report.path, report.failures()));
                }
            }
            let files = vec![eoforge_products::rejected_report_key(dest)];
            (Verdict::Rejected { failed_checks: failed }, files, engine_stages(made), engine_throughput(made))
        }
        Err(e) => {
            let verdict = Verdict::Failed { stage: e.stage().to_owned(), error: error_chain(e) };
            (verdict, Vec::new(), serde_json::json!({}), serde_json::json!({}))
        }
    };
    Notice { subject: dest.to_owned(), source: source.to_owned(), verdict, products, stages, wall_s, throughput }
}

fn engine_stages(made: &Made) -> serde_json::Value {
    serde_json::to_value(&made.engine.busy_s).unwrap_or_default()
}

fn engine_throughput(made: &Made) -> serde_json::Value {
    let e = &made.engine;
    serde_json::json!({ "windows": e.windows, "windows_per_s": e.windows_per_s, "output_mb_per_s": e.output_mb_per_s })
}

/// A scene to make a product of: where its pixels are read, what the product records it was made from, and when
/// it was acquired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneSource {
    /// The raster read (path or URL; a VRT for a STAC Item's assets).
    pub pixels: String,
    /// What the product was made from, in messages and its STAC Item's `derived_from` link.
    pub name: String,
    /// Acquisition time (RFC 3339), when known.
    pub datetime: Option<String>,
}

impl SceneSource {
    /// A raster that is its own provenance.
    pub fn raster(location: &str) -> Self {
        Self { pixels: location.to_owned(), name: location.to_owned(), datetime: None }
    }
}

/// One scene being made.
pub(crate) struct Scene<'a> {
    pub plan: &'a Plan,
    pub source_url: &'a str,
    /// Where the pixels are read (the source itself, or a VRT of a STAC Item's assets).
    pub pixels: &'a str,
    pub datetime: Option<&'a str>,
    pub dest: &'a str,
    pub crop: Option<Window>,
    pub info: RasterInfo,
}

impl Scene<'_> {
    /// The options.
    pub(crate) fn options(&self) -> &PredictOptions {
        &self.plan.options
    }

    /// The engine options every model shares: windows, batch, blending, crop, COG layout, store and stitching
    /// memory; each model sets what its output is.
    pub(crate) fn engine_options(&self) -> EngineOptions {
        let o = &self.plan.options;
        EngineOptions {
            window: o.window,
            halo: o.halo,
            batch: o.batch,
            blend: o.blend,
            crop: self.crop,
            cog: CogWriterOptions {
                block_size: o.blocksize,
                compression: o.compression,
                ..CogWriterOptions::default()
            },
            store: self.plan.store.clone(),
            stitch_memory_mib: o.stitch_memory_mib,
            quality_band: o.quality_band,
            ..EngineOptions::default()
        }
    }

    /// The input bands: `--input-bands`, or all.
    pub(crate) fn picked(&self) -> Vec<usize> {
        self.plan.options.input_bands.clone().unwrap_or_else(|| (1..=self.info.band_count).collect())
    }

    /// An error about this scene.
    pub(crate) fn error(&self, reason: impl Into<String>) -> Error {
        Error::scene(self.source_url, reason)
    }

    /// Runs `model` through the engine into a working folder beside the destination, then checks the product
    /// (and its derived maps) against the source and publishes it when QC passes.
    pub(crate) fn make(
        &self,
        model: &mut dyn Model,
        engine_options: &EngineOptions,
        source: SourceGrid,
        product: ProductFacts,
        stages: &mut Stages,
    ) -> Result<Made> {
        let work = WorkDir::for_dest(self.dest)?;
        let tmp = work.path().join("product.tif");
        let engine = stages
            .time("infer", || eoforge_engine::run(self.pixels, &tmp, model, engine_options))
            .map_err(|e| at_dest(&e, work.path(), self.dest))?;
        let derived: Vec<(PathBuf, String)> = engine_options
            .derivatives
            .kinds
            .iter()
            .map(|&kind| {
                (eoforge_engine::derivative_path(&tmp, kind), eoforge_products::derived_dest(self.dest, kind.name()))
            })
            .collect();
        let o = &self.plan.options;
        let crop_origin = self.crop.map_or((0.0, 0.0), |w| (w.col as f64, w.row as f64));
        let reference = SourceReference {
            location: self.source_url.to_owned(),
            crs: source.crs,
            geo_transform: source
                .geo_transform
                .map(|g| g.shifted(crop_origin.0, crop_origin.1).scaled(product.scale as f64)),
            nodata_fraction: engine.source_nodata_fraction.clone(),
            nodata_tolerance: o.nodata_tolerance,
        };
        let set = ProductSet {
            source: self.source_url.to_owned(),
            product: tmp,
            dest: self.dest.to_owned(),
            derived,
            options: o.recorded(),
            force: o.force,
            datetime: self.datetime.map(str::to_owned),
            collection: o.stac_collection.clone(),
            stac_api: o.stac_publish.clone(),
            // True colour from the band roles (the derived maps' too), for an image of at least three bands.
            preview_rgb: match (&product.class_values, o.derivatives.roles) {
                (None, eoforge_engine::BandRoles { red: Some(r), green: Some(g), blue: Some(b), .. })
                    if engine.output.2 >= 3 =>
                {
                    Some([r, g, b])
                }
                _ => None,
            },
        };
        let qc = QcConfig {
            source: Some(reference),
            class_values: product.class_values,
            clipped_pixels: product.clipped.then_some(engine.clipped_pixels),
            quality_band: engine.quality_counts.map(|_| engine.output.2),
            ..o.qc.clone()
        };
        let figures = serde_json::json!({ "engine": engine, "model": product.record });
        let outcome = runtime()?.block_on(set.check_and_publish(&qc, &self.plan.store, stages, figures))?;
        drop(work);
        Ok(Made { outcome, engine })
    }
}

/// The source's grid, taken before the source is closed.
pub(crate) struct SourceGrid {
    pub crs: Option<Crs>,
    pub geo_transform: Option<GeoTransform>,
}

impl SourceGrid {
    pub(crate) fn of(raster: &Raster) -> Self {
        Self { crs: raster.crs(), geo_transform: raster.geo_transform() }
    }
}

/// What QC must know of a product beyond its options.
pub(crate) struct ProductFacts {
    /// Output pixels per input pixel.
    pub scale: usize,
    /// A class map's values (QC checks the map holds only these).
    pub class_values: Option<Vec<f64>>,
    /// Whether values were clipped to the output type (the count goes to QC).
    pub clipped: bool,
    /// The model, for the product's profile.
    pub record: serde_json::Value,
}

/// A stage's error told in terms of the destination: the working files (`<work>/product.tif`, its derived maps
/// `<work>/product_ndvi.tif`, their `.partial`s) are named by where they were going, not by a hidden folder.
fn at_dest(e: &eoforge_engine::Error, work: &std::path::Path, dest: &str) -> Error {
    Error::Product(error_chain(e).replace(&format!("{}/product", work.display()), eoforge_products::product_stem(dest)))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io { path: "tokio runtime".into(), source: e })
}
