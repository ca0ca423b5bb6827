//! `eoforge-train suite` as a user runs it: one "pretrained" Prithvi-style backbone fine-tuned on a segmentation
//! task (29RKH windows with SCL) and a regression task (NDVI from the visible bands of the same scene), with a third
//! task whose data is missing: that one fails alone (error.txt, exit 1), the others train; suite.json holds each
//! task's metric beside its trivial baseline, time, memory, parameters and content hashes; index.html shows them;
//! a rerun skips the finished tasks; `suite compare` prints zero deltas for a suite against itself.

#[path = "../../../crates/train/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use eoforge_raster::{Compression, Raster, RasterSpec, TiffOptions, TiledWriter, Window};
use eoforge_sampling::SplitRatios;

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-train")).args(args).output().expect("run eoforge-train")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// NDVI of the 29RKH stack (B02, B03, B04, B08) as a Float32 GeoTIFF, NaN where the scene has no data.
fn ndvi(stack: &Path, out: &Path) {
    let scene = Raster::open(&stack.display().to_string()).expect("stack");
    let bands = scene.read_window::<f64>(Window::full(scene.width(), scene.height()), None).expect("read");
    let values =
        ndarray::Zip::from(bands.index_axis(ndarray::Axis(0), 2))
            .and(bands.index_axis(ndarray::Axis(0), 3))
            .map_collect(|&red, &nir| {
                if red == 0.0 || nir == 0.0 { f32::NAN } else { eoforge_raster::normalized_difference(nir, red) }
            });
    let spec = RasterSpec {
        width: scene.width(),
        height: scene.height(),
        bands: 1,
        geo_transform: scene.geo_transform(),
        crs: scene.crs(),
        band_descriptions: vec!["NDVI".into()],
        ..RasterSpec::default()
    };
    let options = TiffOptions { compression: Compression::None, ..TiffOptions::default() };
    let mut w = TiledWriter::<f32>::create(out, &spec, &options).expect("create");
    w.write_window(Window::full(spec.width, spec.height), values.view().insert_axis(ndarray::Axis(0))).expect("write");
    w.finish(None).expect("finish");
}

fn windows(stack: &Path, labels: Option<&Path>, target: Option<&Path>, out: &Path) {
    let options = eoforge_convert::WindowOptions {
        out: out.display().to_string(),
        size: 32,
        stride: 64,
        bands: Some(vec![1, 2, 3]),
        block: 2,
        ratios: SplitRatios { train: 0.75, validation: 0.25, test: 0.0 },
        samples_per_shard: 32,
        ignore: labels.map(|_| 0),
        target: target.map(|t| t.display().to_string()),
        ..eoforge_convert::WindowOptions::default()
    };
    let labels = labels.map(|l| l.display().to_string());
    eoforge_convert::convert_windows(&stack.display().to_string(), labels.as_deref(), &options, &|| {})
        .expect("windows");
}

#[test]
fn a_suite_fine_tunes_each_task_reports_them_and_skips_finished_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(stack) = common::scene_stack(dir.path()) else { return };
    let Some(scl) = eoforge_testkit::fixture("s2-l2a-29RKH/SCL.tif") else { return };
    let target = dir.path().join("ndvi.tif");
    ndvi(&stack, &target);
    windows(&stack, Some(&scl), None, &dir.path().join("scl-windows"));
    windows(&stack, None, Some(&target), &dir.path().join("ndvi-windows"));
    // The backbone: TerraTorch's PrithviViT arguments and its weights under TerraTorch's names.
    let config = serde_json::json!({
        "img_size": 32, "patch_size": [1, 8, 8], "num_frames": 1, "in_chans": 3, "embed_dim": 32, "depth": 4,
        "num_heads": 2, "mlp_ratio": 2.0
    });
    std::fs::write(dir.path().join("backbone.json"), config.to_string()).expect("config");
    let encoder: eoforge_models::VitConfig = serde_json::from_value(config).expect("encoder");
    let weights = encoder.init::<burn::backend::Flex>(&burn::backend::flex::FlexDevice).expect("encoder");
    eoforge_models::save_safetensors(
        &weights,
        &dir.path().join("backbone.safetensors"),
        &std::collections::BTreeMap::default(),
    )
    .expect("weights");
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        r#"
[backbone]
weights = "backbone.safetensors"
config = "backbone.json"

[defaults]
batch_size = 8
lr = 0.003
warmup_steps = 4
checkpoint_every = 1000

[[task]]
name = "scene-classes"
kind = "segmentation"
data = "scl-windows"
decoder = "upernet"
decoder_channels = 16
freeze = true
epochs = 2

[[task]]
name = "ndvi"
kind = "regression"
data = "ndvi-windows"
decoder_channels = 16
epochs = 3

[[task]]
name = "missing"
kind = "classification"
data = "no-such-set"
epochs = 1
"#,
    )
    .expect("suite");
    let suite = suite.display().to_string();
    let out = train(&["suite", &suite]);
    assert_eq!(out.status.code(), Some(1), "one task failed: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 of 3 tasks failed (missing)"), "{}", text(&out.stderr));
    let results = dir.path().join("suite");
    let error = std::fs::read_to_string(results.join("missing/error.txt")).expect("error.txt");
    assert!(error.contains("no-such-set"), "{error}");
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("suite.json")).expect("suite.json")).expect("json");
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3);
    for (row, metric) in rows[..2].iter().zip(["mean_iou", "r2"]) {
        assert_eq!(row["status"], "trained", "{row}");
        assert_eq!(row["metric"], metric);
        assert!(row["value"].is_number() && row["baseline"].is_number(), "{row}");
        assert!(row["wall_s"].as_f64().unwrap_or(0.0) > 0.0 && row["peak_rss_mib"].as_f64().unwrap_or(0.0) > 0.0);
        assert_eq!(row["data_sha256"].as_str().map(str::len), Some(64));
        assert!(row["run"]["git_revision"].is_string());
    }
    // A frozen encoder trains the decoder only; a trained one trains everything.
    assert!(rows[0]["params_frozen"].as_u64() > Some(0) && rows[0]["params_trained"].as_u64() > Some(0));
    assert_eq!(rows[1]["params_frozen"], 0);
    assert!(rows[1]["baseline_scores"]["rmse"].as_f64() > rows[1]["scores"]["rmse"].as_f64(), "{}", rows[1]);
    assert_eq!(rows[2]["status"], "failed");
    let page = std::fs::read_to_string(results.join("index.html")).expect("page");
    assert!(page.contains("scene-classes") && page.contains("ndvi/scatter.png") && page.contains("no-such-set"));
    assert!(results.join("ndvi/scatter.png").is_file() && results.join("scene-classes/samples.png").is_file());

    // A rerun trains nothing that finished: the runs' records are untouched.
    let before = std::fs::read(results.join("ndvi/run.json")).expect("run.json");
    let again = train(&["suite", &suite]);
    assert_eq!(again.status.code(), Some(1));
    assert!(!text(&again.stderr).contains("task ndvi"), "{}", text(&again.stderr));
    assert_eq!(std::fs::read(results.join("ndvi/run.json")).expect("run.json"), before);

    let results = results.display().to_string();
    let compared = train(&["suite", "compare", &results, &results]);
    assert!(compared.status.success(), "{}", text(&compared.stderr));
    let lines: Vec<serde_json::Value> =
        text(&compared.stdout).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert!(lines.iter().any(|l| l["task"] == "ndvi" && l["metric"] == "r2"));
    assert!(lines.iter().all(|l| l["delta"] == 0.0), "{lines:?}");
}
