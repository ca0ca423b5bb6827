//! The main job: a scene (and a label raster, or labels derived from the scene's spectral indices) through every
//! stage — ingest, catalog, preflight, windows to shards, U-Net training, evaluation, tiled inference into a COG
//! with overviews, derived maps, QC and publish — each stage a child process of the eoforge binaries, ending with
//! the report.

use std::path::{Path, PathBuf};

use eoforge_storage::{Store, StoreOptions};

use crate::error::{Error, Result};
use crate::metrics::{ConfusionSummary, baseline_confusion};
use crate::report::{Figure, MetricRow, QcVerdict, Report, render_html};
use crate::stage::{Stage, StageRecord, run_stage};
use eoforge_raster::preview::{class_preview, ramp, ramp_preview, rgb_preview};

/// Which scene bands (1-based) hold which part of the spectrum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BandRoles {
    /// Blue.
    pub blue: usize,
    /// Green.
    pub green: usize,
    /// Red.
    pub red: usize,
    /// Near infrared.
    pub nir: usize,
}

/// What the main job runs on and where it writes.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The scene: a multi-band raster, path or URL.
    pub scene: String,
    /// Where the scene comes from and its licence, for the report.
    pub scene_note: String,
    /// A label raster covering the scene; `None` derives labels from the scene's spectral indices.
    pub labels: Option<String>,
    /// Label value meaning "no label" (default: 0 for derived labels, else the label raster's nodata).
    pub ignore: Option<u16>,
    /// Root for data and products (path, `file://` or `s3://` URL).
    pub store: String,
    /// Local folder for the training run, the stage logs and the report.
    pub out: PathBuf,
    /// Folder holding `eoforge-prep`, `eoforge-train` and `eoforge-infer`.
    pub bins: PathBuf,
    /// Band roles of the scene.
    pub roles: BandRoles,
    /// Derived labels: water where NDWI exceeds this.
    pub water_ndwi: f32,
    /// Derived labels: vegetation where NDVI exceeds this.
    pub vegetation_ndvi: f32,
    /// Reflectance = value × this (for EVI and the true-colour map).
    pub reflectance_scale: f64,
    /// Training window side in pixels.
    pub window: usize,
    /// Training epochs.
    pub epochs: u64,
    /// Seed of splits, weights and data order.
    pub seed: u64,
    /// S3 flags passed on to every stage.
    pub s3_flags: Vec<String>,
    /// Store settings for reading outputs back.
    pub store_options: StoreOptions,
}

/// Where the job's report lies, and whether everything passed.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoOutcome {
    /// The HTML report.
    pub report: PathBuf,
    /// Every stage ran and every product passed QC.
    pub ok: bool,
}

/// Runs the main job and writes `out/report/index.html` (with `report.json` and the PNGs beside it). A stage
/// that fails stops the job; the report is still written, showing the failure, and the error is returned.
pub fn run_demo(options: &DemoOptions) -> Result<DemoOutcome> {
    let mut job = Job::new(options)?;
    let result = job.run();
    let report_dir = options.out.join("report");
    let outcome = job.write_report(&report_dir, result.is_ok());
    result?;
    outcome
}

/// Stages of the job (with a label raster, `ingest-labels` takes the place of `labels`).
const STAGES: usize = 10;

struct Job<'a> {
    o: &'a DemoOptions,
    logs: PathBuf,
    assets: PathBuf,
    stages: Vec<StageRecord>,
    report: Report,
    store_root: String,
    input: String,
    labels: String,
    scene_size: (usize, usize),
}

impl<'a> Job<'a> {
    fn new(o: &'a DemoOptions) -> Result<Self> {
        for bin in ["eoforge-prep", "eoforge-train", "eoforge-infer"] {
            if !o.bins.join(bin).is_file() {
                return Err(Error::Options(format!(
                    "{} not found in {}; build the binaries first (cargo build --workspace --bins) or pass --bin-dir",
                    bin,
                    o.bins.display()
                )));
            }
        }
        if o.window < 16 || o.epochs == 0 {
            return Err(Error::Options("--window must be at least 16 and --epochs at least 1".into()));
        }
        // The job's own folders start empty, so a rerun never resumes or mixes with an older run.
        for dir in ["run", "logs", "report", ".report.partial"] {
            let path = o.out.join(dir);
            if path.exists() {
                std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        let assets = o.out.join(".report.partial");
        std::fs::create_dir_all(&assets).map_err(|e| Error::io(&assets, e))?;
        let store_root = o.store.trim_end_matches('/').to_owned();
        let name = file_name(&o.scene);
        let input = format!("{store_root}/input/{name}");
        let labels = match &o.labels {
            Some(l) => format!("{store_root}/input/{}", file_name(l)),
            None => format!("{store_root}/input/labels_from_indices.tif"),
        };
        let report = Report {
            title: format!("eoforge main job: {name}"),
            created: eoforge_profile::utc_now(),
            ok: false,
            input: vec![],
            labels: String::new(),
            figures: vec![],
            metrics: vec![],
            classes: vec![],
            confusion: None,
            training_figures: vec![],
            qc: vec![],
            stages: vec![],
            outputs: vec![],
            notes: vec![],
        };
        Ok(Self {
            o,
            logs: o.out.join("logs"),
            assets,
            stages: vec![],
            report,
            store_root,
            input,
            labels,
            scene_size: (0, 0),
        })
    }

    fn stage(&mut self, name: &str, what: &str, bin: &str, args: Vec<String>) -> Result<usize> {
        let mut args = args;
        args.extend(self.o.s3_flags.iter().cloned());
        let stage = Stage { name: name.into(), what: what.into(), program: self.o.bins.join(bin), args };
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "== [{}/{STAGES}] {name}: {}",
                self.stages.len() + 1,
                crate::stage::command_line(&stage.program, &stage.args)
            );
        }
        let record = run_stage(&stage, &self.logs)?;
        let failed = record.error.clone().filter(|_| record.exit_code != 0);
        self.stages.push(record);
        if let Some(message) = failed {
            let r = &self.stages[self.stages.len() - 1];
            return Err(Error::Stage {
                stage: name.into(),
                command: r.command.clone(),
                status: format!("exit {}", r.exit_code),
                message,
            });
        }
        Ok(self.stages.len() - 1)
    }

    fn run(&mut self) -> Result<()> {
        let opts = self.o;
        let (input, labels, root) = (self.input.clone(), self.labels.clone(), self.store_root.clone());
        let s = |v: &str| v.to_owned();

        // Ingest: the scene (and labels) into the store, where every later stage reads them.
        let i = self.stage(
            "ingest",
            "copy the scene into the store",
            "eoforge-prep",
            vec![s("cp"), opts.scene.clone(), input.clone()],
        )?;
        let bytes = self.size_of(&input)?;
        self.stages[i].set_work(bytes as f64 / 1e6, "MB/s");
        let info = self.stage(
            "describe",
            "read the scene's metadata (header only)",
            "eoforge-prep",
            vec![s("info"), input.clone()],
        )?;
        let info = self.stages[info].stdout_json()?;
        self.describe_input(&info);
        let pixels = (self.scene_size.0 * self.scene_size.1) as f64 / 1e6;

        if let Some(given) = &opts.labels {
            let i = self.stage(
                "ingest-labels",
                "copy the label raster into the store",
                "eoforge-prep",
                vec![s("cp"), given.clone(), labels.clone()],
            )?;
            let bytes = self.size_of(&labels)?;
            self.stages[i].set_work(bytes as f64 / 1e6, "MB/s");
            self.report.labels = format!("reference label raster {given} (its classes, names and colours as given).");
        } else {
            let r = opts.roles;
            let i = self.stage(
                "labels",
                "derive labels from spectral-index thresholds (no reference labels given)",
                "eoforge-prep",
                vec![
                    s("labels"),
                    s("--scene"),
                    input.clone(),
                    s("--out"),
                    labels.clone(),
                    s("--green"),
                    r.green.to_string(),
                    s("--red"),
                    r.red.to_string(),
                    s("--nir"),
                    r.nir.to_string(),
                    s("--water-ndwi"),
                    opts.water_ndwi.to_string(),
                    s("--vegetation-ndvi"),
                    opts.vegetation_ndvi.to_string(),
                ],
            )?;
            self.stages[i].set_work(pixels, "Mpx/s");
            let rule = self.stages[i].stdout_json()?["rule"].as_str().unwrap_or_default().to_owned();
            self.report.labels = format!(
                "DERIVED FROM THE SCENE ITSELF, not surveyed reference data: {rule}. The model therefore learns to \
                 reproduce these index thresholds from all bands; its scores measure agreement with the rule, not \
                 with ground truth."
            );
            self.report.notes.push(
                "No reference label raster was given (LABELS=… / --labels), so labels come from NDWI/NDVI thresholds."
                    .into(),
            );
        }

        let catalog = format!("{root}/catalog.parquet");
        let scene_id = Path::new(&file_name(&opts.scene))
            .file_stem()
            .map_or_else(|| s("scene"), |n| n.to_string_lossy().into_owned());
        let i = self.stage(
            "catalog",
            "catalog the scene's rasters (Parquet, one row per raster)",
            "eoforge-prep",
            vec![
                s("catalog"),
                s("--scene-id"),
                scene_id,
                s("--out"),
                catalog.clone(),
                format!("image={input}"),
                format!("labels={labels}"),
            ],
        )?;
        self.stages[i].set_work(2.0, "rasters/s");
        let preflight = format!("{root}/preflight.json");
        let i = self.stage(
            "preflight",
            "check that every catalogued object exists",
            "eoforge-prep",
            vec![s("check"), s("--meta"), catalog.clone(), s("--out"), preflight.clone()],
        )?;
        self.stages[i].set_work(2.0, "objects/s");

        let shards = format!("{root}/shards");
        let mut args = vec![
            s("windows"),
            s("--scene"),
            input.clone(),
            s("--labels"),
            labels.clone(),
            s("--size"),
            opts.window.to_string(),
            s("--block"),
            s("1"),
            s("--split-ratios"),
            s("0.7,0.3,0"),
            s("--seed"),
            opts.seed.to_string(),
            s("--out"),
            shards.clone(),
        ];
        if let Some(ignore) = opts.ignore.or(opts.labels.is_none().then_some(0)) {
            args.extend([s("--ignore"), ignore.to_string()]);
        }
        let i = self.stage(
            "windows",
            "cut the scene and labels into training windows (WebDataset shards)",
            "eoforge-prep",
            args,
        )?;
        let windows = self.stages[i].stdout_json()?;
        let count = |split: &str| windows["written"][split].as_u64().unwrap_or(0);
        let (train_n, val_n) = (count("train"), count("validation"));
        self.stages[i].set_work((train_n + val_n) as f64, "windows/s");
        if train_n == 0 || val_n == 0 {
            return Err(Error::Output {
                path: shards,
                reason: format!(
                    "{train_n} training and {val_n} validation windows: the scene is too small for --window {}",
                    opts.window
                ),
            });
        }

        let run = opts.out.join("run");
        let i = self.stage(
            "train",
            "train a small U-Net on the CPU",
            "eoforge-train",
            vec![
                s("fit"),
                s("--data"),
                shards.clone(),
                s("--out"),
                run.display().to_string(),
                s("--epochs"),
                opts.epochs.to_string(),
                s("--seed"),
                opts.seed.to_string(),
            ],
        )?;
        self.stages[i].set_work((train_n * opts.epochs) as f64, "samples/s");
        let i = self.stage(
            "evaluate",
            "score the trained model on the validation split",
            "eoforge-train",
            vec![
                s("eval"),
                s("--data"),
                shards.clone(),
                s("--run"),
                run.display().to_string(),
                s("--split"),
                s("validation"),
            ],
        )?;
        self.stages[i].set_work(val_n as f64, "samples/s");
        let metrics = self.stages[i].stdout_json()?;
        let index = self.read_json(&format!("{shards}/index.json"))?;
        self.add_metrics(&metrics, &index)?;

        let classes_map = format!("{root}/maps/classes.tif");
        let i = self.stage(
            "predict",
            "tiled inference over the whole scene with the trained model → class-map COG with overviews → QC → publish",
            "eoforge-infer",
            vec![
                s("predict"),
                input.clone(),
                classes_map.clone(),
                s("--model"),
                run.display().to_string(),
                s("--window"),
                s("64"),
                s("--halo"),
                s("8"),
                s("--blocksize"),
                s("128"),
                s("--force"),
            ],
        )?;
        self.stages[i].set_work(pixels, "Mpx/s");
        let r = opts.roles;
        let scene_map = format!("{root}/maps/scene.tif");
        let i = self.stage(
            "derived-maps",
            "the scene as a COG with NDVI, EVI and true-colour maps from the same tiles → QC → publish",
            "eoforge-infer",
            vec![
                s("predict"),
                input.clone(),
                scene_map.clone(),
                s("--model"),
                s("identity"),
                s("--derivatives"),
                s("ndvi,evi,rgb"),
                s("--band-roles"),
                format!("blue={},green={},red={},nir={}", r.blue, r.green, r.red, r.nir),
                s("--reflectance-scale"),
                opts.reflectance_scale.to_string(),
                s("--blocksize"),
                s("128"),
                s("--force"),
            ],
        )?;
        self.stages[i].set_work(pixels, "Mpx/s");

        let derived = |kind: &str| scene_map.replace("scene.tif", &format!("scene_{kind}.tif"));
        self.report.outputs = vec![
            (s("scene (copy in the store)"), input.clone()),
            (s("labels"), labels.clone()),
            (s("catalog"), catalog),
            (s("preflight report"), preflight),
            (s("training shards (index.json, stats.json)"), shards),
            (s("training run (weights, config, metrics, profile)"), run.display().to_string()),
            (s("class map (COG)"), classes_map.clone()),
            (s("class map QC report / profile"), format!("{classes_map}.qc.json, {classes_map}.profile.json")),
            (s("scene (COG)"), scene_map.clone()),
            (s("NDVI, EVI, true colour (COGs)"), [derived("ndvi"), derived("evi"), derived("rgb")].join(", ")),
            (s("stage logs and run records"), self.logs.display().to_string()),
            (s("this report"), opts.out.join("report").join("index.html").display().to_string()),
        ];
        for product in [classes_map.clone(), scene_map.clone(), derived("ndvi"), derived("evi"), derived("rgb")] {
            let qc = self.read_json(&format!("{product}.qc.json"))?;
            self.report.qc.push(QcVerdict {
                product: product.clone(),
                passed: qc["passed"].as_bool().unwrap_or(false),
                checks: qc["checks"]
                    .as_array()
                    .map(|checks| {
                        checks
                            .iter()
                            .map(|c| {
                                let f = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
                                (f("name"), f("status"), f("detail"))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        self.previews(&classes_map, &derived("ndvi"), &derived("evi"), &derived("rgb"), &index)?;
        self.copy_training_pictures(&run);
        self.report.notes.push(format!(
            "EVI and the true-colour map read reflectance as value × {} (--reflectance-scale); for uncalibrated \
             digital numbers they are indicative only. NDVI does not depend on the scale.",
            opts.reflectance_scale
        ));
        Ok(())
    }

    fn describe_input(&mut self, info: &serde_json::Value) {
        let (w, h) = (info["width"].as_u64().unwrap_or(0), info["height"].as_u64().unwrap_or(0));
        self.scene_size = (w as usize, h as usize);
        let bands = info["bands"].as_array().map_or(0, Vec::len);
        let dtype = info["bands"][0]["dtype"].as_str().unwrap_or("?");
        let crs = info["crs"]["epsg"].as_u64().map_or_else(
            || info["crs"]["wkt"].as_str().and_then(|w| w.split('"').nth(1)).unwrap_or("no CRS").to_owned(),
            |e| format!("EPSG:{e}"),
        );
        let res = info["geo_transform"][1].as_f64().map_or_else(String::new, |r| format!(", {r:.1} m pixels"));
        self.report.input = vec![
            self.o.scene_note.clone(),
            format!(
                "{}: {w} × {h} pixels, {bands} bands of {dtype}, {crs}{res}. Band roles: blue {}, green {}, red {}, NIR {}.",
                self.o.scene, self.o.roles.blue, self.o.roles.green, self.o.roles.red, self.o.roles.nir
            ),
        ];
    }

    fn add_metrics(&mut self, metrics: &serde_json::Value, index: &serde_json::Value) -> Result<()> {
        let bad = |reason: String| Error::Output { path: "eval".into(), reason };
        let confusion: Vec<Vec<u64>> = serde_json::from_value(metrics["confusion"].clone())
            .map_err(|e| bad(format!("no confusion matrix in the evaluation: {e}")))?;
        // The confusion matrix is over class indices: the class table's order (`index.json`'s `classes`, the
        // ignore value never one), whatever label values the classes have.
        let ignore = index["ignore"].as_u64();
        let classes: Vec<(u64, String, [u8; 3])> = index["classes"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter(|c| c["value"].as_u64() != ignore)
                    .map(|c| {
                        let color = serde_json::from_value(c["color"].clone()).unwrap_or([128, 128, 128]);
                        (c["value"].as_u64().unwrap_or(0), c["name"].as_str().unwrap_or("?").to_owned(), color)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let counts = |split: &str| -> Vec<u64> {
            let mut v = vec![0u64; confusion.len()];
            if let Some(map) = index["class_pixels"][split].as_object() {
                for (k, n) in map {
                    if let (Ok(k), Some(n)) = (k.parse::<u64>(), n.as_u64())
                        && let Some(i) = classes.iter().position(|c| c.0 == k)
                        && i < v.len()
                    {
                        v[i] = n;
                    }
                }
            }
            v
        };
        let train = counts("train");
        let majority = (0..train.len()).max_by_key(|&c| train[c]).unwrap_or(0);
        let model = ConfusionSummary::new(&confusion, None);
        let baseline = ConfusionSummary::new(&baseline_confusion(&counts("validation"), majority), None);
        let name = |i: usize| classes.get(i).map_or_else(|| format!("class {i}"), |c| c.1.clone());
        self.report.metrics = vec![
            MetricRow { name: "pixel accuracy".into(), model: model.accuracy, baseline: baseline.accuracy },
            MetricRow { name: "mean IoU".into(), model: model.mean_iou, baseline: baseline.mean_iou },
            MetricRow { name: "macro F1".into(), model: model.macro_f1, baseline: baseline.macro_f1 },
        ];
        self.report.notes.push(format!(
            "Trivial baseline: \"{}\" (the training split's most frequent class) everywhere.",
            name(majority)
        ));
        self.report.classes = model
            .classes
            .iter()
            .map(|c| {
                let color = classes.get(c.class).map_or([128, 128, 128], |k| k.2);
                (name(c.class), color, c.iou, c.f1, c.reference)
            })
            .collect();
        let shown: Vec<usize> = (0..confusion.len()).collect();
        self.report.confusion = Some((
            shown.iter().map(|&c| name(c)).collect(),
            shown.iter().map(|&r| shown.iter().map(|&c| confusion[r][c]).collect()).collect(),
        ));
        Ok(())
    }

    fn previews(
        &mut self,
        classes_map: &str,
        ndvi: &str,
        evi: &str,
        rgb_map: &str,
        index: &serde_json::Value,
    ) -> Result<()> {
        let o = self.o;
        let so = &o.store_options;
        let legend: Vec<(String, [u8; 3])> = index["classes"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter(|c| c["value"].as_u64() != index["ignore"].as_u64())
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or("?").to_owned(),
                            serde_json::from_value(c["color"].clone()).unwrap_or([128, 128, 128]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let fallback: Vec<[u8; 3]> = (0..256)
            .map(|v| {
                index["classes"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["value"].as_u64() == Some(v)))
                    .and_then(|c| serde_json::from_value(c["color"].clone()).ok())
                    .unwrap_or([128, 128, 128])
            })
            .collect();
        let r = o.roles;
        let png = |name: &str| self.assets.join(name);
        rgb_preview(&self.input, [r.red, r.green, r.blue], &png("input_rgb.png"), so)?;
        class_preview(&self.labels, &fallback, &png("labels.png"), so)?;
        class_preview(classes_map, &fallback, &png("predictions.png"), so)?;
        ramp_preview(ndvi, (-0.5, 0.8), &png("ndvi.png"), so)?;
        ramp_preview(evi, (-0.5, 0.8), &png("evi.png"), so)?;
        rgb_preview(rgb_map, [1, 2, 3], &png("rgb_map.png"), so)?;
        let ramp_legend =
            vec![("-0.5".to_owned(), ramp(0.0)), ("0.15".to_owned(), ramp(0.5)), ("0.8".to_owned(), ramp(1.0))];
        let fig = |title: &str, file: &str, caption: String, legend: Vec<(String, [u8; 3])>| Figure {
            title: title.into(),
            file: file.into(),
            caption,
            legend,
        };
        self.report.figures = vec![
            fig(
                "Input (true colour)",
                "input_rgb.png",
                format!(
                    "Bands {}, {}, {} as red, green, blue; each stretched between its 2nd and 98th percentile.",
                    r.red, r.green, r.blue
                ),
                vec![],
            ),
            fig(
                "Labels",
                "labels.png",
                if o.labels.is_some() {
                    "The reference label raster.".into()
                } else {
                    "Derived from NDWI/NDVI thresholds (see Labels above).".into()
                },
                legend.clone(),
            ),
            fig(
                "Predictions (trained U-Net)",
                "predictions.png",
                format!("The class-map product {classes_map}, from tiled inference over the whole scene."),
                legend,
            ),
            fig(
                "NDVI",
                "ndvi.png",
                "(NIR − red) / (NIR + red), derived from the same tiles as the scene COG.".into(),
                ramp_legend.clone(),
            ),
            fig("EVI", "evi.png", "2.5 (NIR − red) / (NIR + 6 red − 7.5 blue + 1) on reflectance.".into(), ramp_legend),
            fig(
                "True-colour map",
                "rgb_map.png",
                "The RGB product: reflectance 0–0.3 stretched to 1–255.".into(),
                vec![],
            ),
        ];
        Ok(())
    }

    fn copy_training_pictures(&mut self, run: &Path) {
        for (file, title, caption) in [
            ("curves.png", "Training curves", "Loss and validation metric per step, from the run directory."),
            (
                "samples.png",
                "Validation samples",
                "Input, labels and prediction of validation windows, from the run directory.",
            ),
        ] {
            if std::fs::copy(run.join(file), self.assets.join(file)).is_ok() {
                self.report.training_figures.push(Figure {
                    title: title.into(),
                    file: file.into(),
                    caption: caption.into(),
                    legend: vec![],
                });
            }
        }
    }

    fn read_json(&self, url: &str) -> Result<serde_json::Value> {
        let (store, key) = Store::open_object(url, &self.o.store_options)?;
        let bytes = runtime()?.block_on(store.get(&key))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Output { path: url.to_owned(), reason: format!("not JSON: {e}") })
    }

    fn size_of(&self, url: &str) -> Result<u64> {
        let (store, key) = Store::open_object(url, &self.o.store_options)?;
        Ok(runtime()?.block_on(store.head(&key))?.size)
    }

    fn write_report(&mut self, dir: &Path, ran: bool) -> Result<DemoOutcome> {
        let start = std::time::Instant::now();
        self.report.ok = ran && !self.report.qc.is_empty() && self.report.qc.iter().all(|q| q.passed);
        self.report.stages.clone_from(&self.stages);
        let html = render_html(&self.report);
        let write = |name: &str, data: &[u8]| {
            let path = self.assets.join(name);
            std::fs::write(&path, data).map_err(|e| Error::io(&path, e))
        };
        write("index.html", html.as_bytes())?;
        let json = serde_json::to_vec_pretty(&self.report)
            .map_err(|e| Error::Output { path: "report.json".into(), reason: e.to_string() })?;
        write("report.json", &json)?;
        let profile = serde_json::json!({
            "stages": self.stages.iter().map(|s| serde_json::json!({
                "stage": s.name, "wall_s": s.wall_s, "cpu_s": s.cpu_s, "peak_rss_mib": s.peak_rss_mib, "throughput": s.throughput,
            })).collect::<Vec<_>>(),
            "total_wall_s": self.stages.iter().map(|s| s.wall_s).sum::<f64>(),
            "report_s": start.elapsed().as_secs_f64(),
            "report_peak_rss_mib": eoforge_profile::peak_rss_mib(),
        });
        write("profile.json", &serde_json::to_vec_pretty(&profile).unwrap_or_default())?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::rename(&self.assets, dir).map_err(|e| Error::io(dir, e))?;
        Ok(DemoOutcome { report: dir.join("index.html"), ok: self.report.ok })
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Error::io("tokio runtime", e))
}

fn file_name(url: &str) -> String {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url).to_owned()
}
