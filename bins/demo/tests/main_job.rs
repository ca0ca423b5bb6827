//! The main job end to end through the binaries, on real Sentinel-2 bands: with the scene's real label raster
//! (SCL) on a local store, and with labels derived from the scene on a real S3 server; the report opens in a real
//! headless browser with every image loaded; a failing stage stops the job and the report says which.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eoforge_testkit::{S3Server, browser, fixture, gdal_cog_validator, gdal_tool, workspace_root};

fn demo(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-demo")).args(args).envs(env.iter().copied()).output().expect("run")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A 276 × 276 crop (B02, B03, B04, B08 at the fixture's 100 m) of the 29RKH scene where its SCL holds bare
/// soil, clouds and cirrus, as a 4-band GeoTIFF; `None` without the fixtures.
fn scene(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let bands: Vec<String> = ["B02", "B03", "B04", "B08"]
        .iter()
        .map(|b| fixture(&format!("s2-l2a-29RKH/{b}.tif")).map(|p| p.display().to_string()))
        .collect::<Option<_>>()?;
    let scl = fixture("s2-l2a-29RKH/SCL.tif")?;
    let vrt = dir.join("stack.vrt").display().to_string();
    let mut args = vec!["-q", "-separate", vrt.as_str()];
    args.extend(bands.iter().map(String::as_str));
    gdal_tool("gdalbuildvrt", &args);
    let tif = dir.join("scene.tif");
    gdal_tool("gdal_translate", &["-q", "-srcwin", "822", "0", "276", "276", &vrt, &tif.display().to_string()]);
    Some((tif, scl))
}

fn report_json(out: &Path) -> serde_json::Value {
    let path = out.join("report/report.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("report.json")
}

/// Opens the report in headless Chromium: it renders, every image loads.
fn check_in_browser(report: &Path) {
    let Some((chromium, driver)) = browser() else { return };
    let shot = report.with_file_name("screenshot.png");
    let out = Command::new("/usr/bin/python3")
        .arg(workspace_root().join("scripts/check-report.py"))
        .args([report, &shot])
        .arg("--chromium")
        .arg(&chromium)
        .arg("--chromedriver")
        .arg(&driver)
        .output()
        .expect("run check-report.py");
    assert!(out.status.success(), "the report does not render in Chromium: {}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["broken_images"].as_array().map(Vec::len), Some(0), "{summary}");
    assert!(summary["images"].as_u64().unwrap_or(0) >= 6, "previews of input, labels, predictions, maps: {summary}");
    assert!(summary["screenshot_bytes"].as_u64().unwrap_or(0) > 10_000, "{summary}");
    for section in ["Input", "Maps", "Model quality (validation split)", "Quality control", "Stages", "Outputs"] {
        assert!(summary["sections"].as_array().is_some_and(|s| s.iter().any(|h| h == section)), "{section}: {summary}");
    }
}

const STAGES_WITH_LABELS: [&str; 10] = [
    "ingest",
    "describe",
    "ingest-labels",
    "catalog",
    "preflight",
    "windows",
    "train",
    "evaluate",
    "predict",
    "derived-maps",
];

#[test]
fn the_main_job_runs_on_a_real_scene_with_its_label_raster_and_the_report_renders_in_a_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((scene, scl)) = scene(dir.path()) else { return };
    let out = dir.path().join("out");
    let store = dir.path().join("store");
    let args = [
        "--scene",
        &scene.display().to_string(),
        "--labels",
        &scl.display().to_string(),
        "--store",
        &store.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--reflectance-scale",
        "0.0001",
        "--epochs",
        "10",
        "--scene-note",
        "Sentinel-2 L2A 29RKH (fixture crop)",
    ];
    let run = demo(&args, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let report = report_json(&out);
    assert_eq!(report["ok"], true);
    let names: Vec<&str> =
        report["stages"].as_array().expect("stages").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, STAGES_WITH_LABELS);
    for stage in report["stages"].as_array().expect("stages") {
        // Every stage's numbers come from the process's own run record.
        assert!(stage["peak_rss_mib"].as_f64().is_some_and(|m| m > 1.0), "{stage}");
        assert!(stage["cpu_s"].as_f64().is_some() && stage["wall_s"].as_f64().is_some_and(|w| w > 0.0), "{stage}");
        assert!(stage["command"].as_str().is_some_and(|c| c.starts_with("eoforge-")), "{stage}");
    }
    assert!(report["labels"].as_str().is_some_and(|l| l.contains("reference label raster")), "{}", report["labels"]);
    let metrics = report["metrics"].as_array().expect("metrics");
    assert_eq!(metrics.len(), 3);
    for m in metrics {
        for side in ["model", "baseline"] {
            assert!(m[side].as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)), "{m}");
        }
    }
    // QC: every product passed and carries every check; the class map is a COG with overviews in the scene's CRS.
    let qc = report["qc"].as_array().expect("qc");
    assert_eq!(qc.len(), 5);
    assert!(qc.iter().all(|q| q["passed"] == true && q["checks"].as_array().is_some_and(|c| c.len() >= 8)), "{qc:?}");
    let classes = store.join("maps/classes.tif");
    let (valid, msg) = gdal_cog_validator(&classes);
    assert!(valid, "{msg}");
    let info = eoforge_raster::Raster::open(&classes.display().to_string()).expect("open").info().expect("info");
    assert!(info.bands[0].overviews >= 1, "overviews: {info:?}");
    let source = eoforge_raster::Raster::open(&scene.display().to_string()).expect("scene");
    assert!(
        eoforge_raster::Raster::open(&classes.display().to_string())
            .expect("open")
            .crs()
            .expect("crs")
            .is_same(&source.crs().expect("crs"))
    );
    // Every output the report lists that is a local file exists; nothing half-written is left.
    for product in [
        "maps/scene.tif",
        "maps/scene_ndvi.tif",
        "maps/scene_evi.tif",
        "maps/scene_rgb.tif",
        "catalog.parquet",
        "preflight.json",
        "shards/index.json",
    ] {
        assert!(store.join(product).is_file(), "{product}");
    }
    assert!(!out.join(".report.partial").exists());
    assert!(out.join("report/profile.json").is_file() && out.join("run/model.mpk").is_file());
    check_in_browser(&out.join("report/index.html"));
}

/// Users' label convention: the same crop with SCL rewritten as nodata 255 beside a real class 0 (no data → 255,
/// bare soil, the crop's main class, → 0; the other values kept). The job completes, the class table holds the values present (0 among them, 255 never),
/// the class map holds only those values with nodata 255, and the model beats the trivial baseline.
#[test]
fn the_main_job_takes_labels_with_nodata_255_beside_a_real_class_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((scene, scl)) = scene(dir.path()) else { return };
    let labels = dir.path().join("labels255.tif");
    gdal_tool(
        "gdal_calc.py",
        &[
            "--quiet",
            "-A",
            &scl.display().to_string(),
            "--outfile",
            &labels.display().to_string(),
            "--calc",
            "where(A == 0, 255, where(A == 5, 0, A))",
            "--type",
            "Byte",
            "--NoDataValue",
            "255",
        ],
    );
    let (out, store) = (dir.path().join("out"), dir.path().join("store"));
    let args = [
        "--scene",
        &scene.display().to_string(),
        "--labels",
        &labels.display().to_string(),
        "--store",
        &store.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--reflectance-scale",
        "0.0001",
        "--epochs",
        "10",
    ];
    let run = demo(&args, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let report = report_json(&out);
    assert_eq!(report["ok"], true);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("shards/index.json")).expect("index")).expect("json");
    assert_eq!(index["ignore"], 255);
    let values: Vec<u64> =
        index["classes"].as_array().expect("classes").iter().filter_map(|c| c["value"].as_u64()).collect();
    assert!(values.contains(&0) && !values.contains(&255) && values.len() >= 3, "{values:?}");
    let map = eoforge_raster::Raster::open(&store.join("maps/classes.tif").display().to_string()).expect("map");
    assert_eq!(map.nodata(1).expect("nodata"), Some(255.0));
    let pixels = map.read_window::<u8>(eoforge_raster::Window::full(map.width(), map.height()), None).expect("read");
    assert!(pixels.iter().all(|v| *v == 255 || values.contains(&u64::from(*v))), "only the table's values");
    let metrics = report["metrics"].as_array().expect("metrics");
    let accuracy = metrics.iter().find(|m| m["name"] == "pixel accuracy").expect("pixel accuracy");
    let (model, baseline) = (accuracy["model"].as_f64().expect("model"), accuracy["baseline"].as_f64().expect("b"));
    eprintln!("nodata 255 + class 0: pixel accuracy {model:.3} vs the trivial baseline's {baseline:.3}; {metrics:?}");
    assert!(model > baseline, "the model beats the trivial baseline: {model} vs {baseline}");
}

#[test]
fn the_main_job_runs_against_a_real_s3_server_with_labels_derived_from_the_scene() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((scene, _)) = scene(dir.path()) else { return };
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("demo");
    let endpoint = server.endpoint();
    let env = [
        ("AWS_ACCESS_KEY_ID", server.access_key()),
        ("AWS_SECRET_ACCESS_KEY", server.secret_key()),
        ("EOFORGE_S3_ENDPOINT", endpoint.as_str()),
    ];
    let out = dir.path().join("out");
    let args = [
        "--scene",
        &scene.display().to_string(),
        "--store",
        "s3://demo/job",
        "--out",
        &out.display().to_string(),
        "--reflectance-scale",
        "0.0001",
        "--epochs",
        "1",
        "--vegetation-ndvi",
        "0.1",
    ];
    let run = demo(&args, &env);
    assert!(run.status.success(), "{}", text(&run));
    let report = report_json(&out);
    assert_eq!(report["ok"], true);
    assert!(
        report["labels"].as_str().is_some_and(|l| l.contains("DERIVED FROM THE SCENE ITSELF")),
        "{}",
        report["labels"]
    );
    let stages: Vec<&str> =
        report["stages"].as_array().expect("stages").iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(stages.contains(&"labels") && !stages.contains(&"ingest-labels"), "{stages:?}");
    let commands: Vec<&str> =
        report["stages"].as_array().expect("stages").iter().filter_map(|s| s["command"].as_str()).collect();
    assert!(commands.iter().any(|c| c.contains("s3://demo/job/maps/classes.tif")), "{commands:?}");

    let mut options = eoforge_storage::StoreOptions::default();
    options.s3.endpoint = Some(endpoint.clone());
    options.s3.access_key_id = Some(server.access_key().into());
    options.s3.secret_access_key = Some(eoforge_storage::Secret::new(server.secret_key()));
    let store = eoforge_storage::Store::open_with("s3://demo/job", &options).expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let keys: Vec<String> = rt.block_on(store.list("")).expect("list").into_iter().map(|o| o.key).collect();
    for key in [
        "input/labels_from_indices.tif",
        "catalog.parquet",
        "shards/index.json",
        "maps/classes.tif",
        "maps/classes.tif.qc.json",
        "maps/scene_ndvi.tif",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
    }
    // The secret key is in the environment the stages inherit, never in a command line, log, record or report.
    let secret = server.secret_key();
    for entry in walk(&out) {
        let bytes = std::fs::read(&entry).expect("read");
        assert!(!String::from_utf8_lossy(&bytes).contains(secret), "{} holds the secret key", entry.display());
    }
    check_in_browser(&out.join("report/index.html"));
}

#[test]
fn a_failing_stage_stops_the_job_and_the_report_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((scene, _)) = scene(dir.path()) else { return };
    let out = dir.path().join("out");
    let store = dir.path().join("store");
    let missing = dir.path().join("no-such-labels.tif");
    let args = [
        "--scene",
        &scene.display().to_string(),
        "--labels",
        &missing.display().to_string(),
        "--store",
        &store.display().to_string(),
        "--out",
        &out.display().to_string(),
    ];
    let run = demo(&args, &[]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let err = text(&run);
    assert!(err.contains("ingest-labels") && err.contains("no-such-labels.tif"), "{err}");
    let report = report_json(&out);
    assert_eq!(report["ok"], false);
    let last = report["stages"].as_array().and_then(|s| s.last()).expect("stages");
    assert_eq!(last["name"], "ingest-labels");
    assert!(last["error"].as_str().is_some_and(|e| e.contains("no-such-labels.tif")), "{last}");
    assert!(!store.join("maps").exists(), "nothing is published after a failed stage");
    let html = std::fs::read_to_string(out.join("report/index.html")).expect("html");
    assert!(html.contains("FAILED") && html.contains("failed: "), "the page shows the failure");

    // Usage errors exit 2 and name the flag.
    let run = demo(&["--scene", "x.tif", "--band-roles", "red=3"], &[]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("--band-roles"), "{}", text(&run));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}
