//! U-Nets as an area pipeline's model, on the real 29RKH scene with SCL labels:
//! - trained by `eoforge-train fit` on 64 px windows: `[model] run = DIR` maps every tile through the tiled engine
//!   from the features named after the run's channels, and the zone map is exported through QC;
//! - trained by the area pipeline itself (`[model] network = "unet"`) on 16 px blocks sampled from every tile,
//!   kept on a rerun, and mapped the same way.

// The U-Net's validation score is printed beside the majority class's.
#![allow(clippy::print_stderr)]

#[path = "../../../crates/train/tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::process::Command;

use eoforge_raster::{Raster, Window};
use eoforge_testkit::{fixture, fixtures, gdal_cog_validator, workspace_root};

#[test]
fn a_trained_unet_maps_every_tile_and_the_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(_) = common::scene_windows(dir.path(), &shards) else { return };
    let set = common::open(&shards);
    let run = dir.path().join("run");
    common::fit_small_unet(&set, &run);

    let scene = fixtures().expect("fixtures").join("s2-l2a-29RKH");
    let mut inputs = String::new();
    for b in ["B02", "B03", "B04", "B08"] {
        let raster = scene.join(format!("{b}.tif"));
        let _ = write!(
            inputs,
            "[[inputs]]\nname = \"{b}\"\nraster = \"{}\"\nresampling = \"nearest\"\n\n",
            raster.display()
        );
    }
    let area_config = dir.path().join("unet.toml");
    std::fs::write(
        &area_config,
        format!(
            "store = \"store\"\n[area]\naoi = \"{}\"\ntile_px = 64\nresolution = 100.0\nbuffer_px = 4\n\n{inputs}[model]\nrun = \"run\"\nhalo = 8\n\n[export]\nname = \"unet\"\n",
            workspace_root().join("examples/area/29rkh_aoi.geojson").display()
        ),
    )
    .expect("config");
    let area = |extra: &[&str]| {
        let mut args = vec!["run", area_config.to_str().expect("utf-8")];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_eoforge-area")).args(&args).env_remove("EOFORGE_SHARD").output().expect("run")
    };
    let out = area(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("predict") && !stdout.contains("train "), "no train stage with a trained run: {stdout}");

    let map_path = dir.path().join("store/maps/unet_29N.tif");
    let (valid, report) = gdal_cog_validator(&map_path);
    assert!(valid, "{report}");
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("store/maps/unet_29N.tif.qc.json")).expect("qc"))
            .expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    let map = Raster::open(&map_path.display().to_string()).expect("map");
    assert_eq!(map.nodata(1).expect("nodata"), Some(255.0));
    let pixels = map.read_window::<u8>(Window::full(map.width(), map.height()), None).expect("read");
    assert!(pixels.iter().all(|v| (1..11).contains(v) || *v == 255), "SCL classes, never the ignored 0, or nodata");
    let mapped = pixels.iter().filter(|v| **v != 255).count();
    assert!(mapped > pixels.len() / 2, "{mapped} of {} pixels mapped", pixels.len());

    // The run's channels must be features of the tiles: a run reading other names is refused, naming them.
    let renamed = std::fs::read_to_string(&area_config).expect("config").replace("name = \"B08\"", "name = \"NIR\"");
    let other = dir.path().join("renamed.toml");
    std::fs::write(&other, renamed.replace("store = \"store\"", "store = \"store2\"")).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_eoforge-area"))
        .args(["run", other.to_str().expect("utf-8"), "--stages", "inputs,predict"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("B08.tif"), "{stderr}");
}

/// A stage's (done, skipped, failed) in a report.
fn counts(report: &serde_json::Value, stage: &str) -> (u64, u64, usize) {
    let s = report["stages"].as_array().expect("stages").iter().find(|s| s["stage"] == stage).expect("stage");
    (
        s["done"].as_u64().expect("done"),
        s["skipped"].as_u64().expect("skipped"),
        s["failed"].as_array().map_or(0, Vec::len),
    )
}

#[test]
fn the_pipeline_trains_a_unet_on_its_blocks_and_maps_the_area() {
    let Some(_) = fixture("s2-l2a-29RKH/SCL.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = workspace_root().join("examples/area/29rkh_unet.toml");
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_eoforge-area"))
            .args(["run", config.to_str().expect("utf-8"), "--var", &format!("out={}", dir.path().display())])
            .env("EOFORGE_FIXTURES", fixtures().expect("fixtures"))
            .env_remove("EOFORGE_SHARD")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let path = stdout.lines().find_map(|l| l.strip_prefix("report: ")).expect("report").to_owned();
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(path).expect("report")).expect("json")
    };
    let first = run();
    assert_eq!(counts(&first, "train"), (1, 0, 0));
    let tiles = first["grid_tiles"].as_u64().expect("tiles");
    assert_eq!(counts(&first, "predict"), (tiles, 0, 0));
    let store = dir.path().join("29rkh_unet");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("training/patches/index.json")).expect("index"))
            .expect("json");
    assert_eq!(index["channels"], serde_json::json!(["B02", "B03", "B04", "B08", "NDVI"]));
    assert_eq!(index["ignore"], 0);
    let windows = index["splits"]["train"]["samples"].as_u64().expect("train windows");
    assert!(windows > 100, "{windows} training windows");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("model/run/area.json")).expect("record")).expect("json");
    // Better than the majority class on the validation tiles: its IoU is its share of pixels, that of every other
    // class 0.
    let pixels = index["class_pixels"]["validation"].as_object().expect("validation pixels");
    let counts_of: Vec<f64> = pixels.values().map(|v| v.as_f64().expect("count")).collect();
    let majority =
        counts_of.iter().copied().fold(0.0, f64::max) / counts_of.iter().sum::<f64>() / counts_of.len() as f64;
    let best = record["best"]["score"].as_f64().expect("best mean IoU");
    eprintln!("validation mean IoU {best:.3} (majority class {majority:.3}), {windows} training windows");
    assert!(record["metric"] == "mean_iou" && best > majority + 0.1, "{record}");
    // The network's run directory is an `eoforge-train fit` run like any other: who made it, its profile, pictures.
    let run_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("model/run/run.json")).expect("run.json")).expect("json");
    assert!(run_json.to_string().contains("eoforge-area"), "{run_json}");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("model/run/profile.json")).expect("profile")).expect("json");
    assert!(profile["stages"]["training"].as_f64().is_some_and(|s| s > 0.0) && profile["finished"] == true);
    assert!(store.join("model/run/samples.png").is_file());

    let map_path = store.join("maps/scl_unet_29N.tif");
    let (valid, report) = gdal_cog_validator(&map_path);
    assert!(valid, "{report}");
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("maps/scl_unet_29N.tif.qc.json")).expect("qc")).expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    let map = Raster::open(&map_path.display().to_string()).expect("map");
    let pixels = map.read_window::<u8>(Window::full(map.width(), map.height()), None).expect("read");
    assert!(pixels.iter().all(|v| (1..12).contains(v) || *v == 255), "SCL classes, never the ignored 0, or nodata");
    let mapped = pixels.iter().filter(|v| **v != 255).count();
    assert!(mapped > pixels.len() / 2, "{mapped} of {} pixels mapped", pixels.len());

    // A rerun keeps the network trained on the same windows with the same settings, and every tile's map.
    let again = run();
    assert_eq!(counts(&again, "train"), (0, 1, 0));
    assert_eq!(counts(&again, "predict"), (0, tiles, 0));
}
