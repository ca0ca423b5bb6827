//! Users' label conventions end to end: the real eo-learn land-use labels rewritten as users' rasters come —
//! nodata 255 beside a real class 0, sparse ids (10…80), ids above 255 (UInt16) — each cut into windows whose
//! class table holds exactly the values present, trained, scored with the run's own table, and mapped by
//! `predict` into a class map holding only those values (UInt8 while they and a nodata value fit, else UInt16)
//! that QC passes.

#[path = "../../../crates/train/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use burn::backend::{Autodiff, Flex};
use eoforge_models::{NormKind, UNetConfig};
use eoforge_raster::{DataType, Raster, Window};
use eoforge_train::{
    FitConfig, Loader, LoaderConfig, ModelConfig, Report, Scores, StopWhen, TrainedRun, evaluate, fit, task_of,
};

fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-infer"))
        .args(args)
        .env_remove("EOFORGE_S3_ENDPOINT")
        .output()
        .expect("run eoforge-infer")
}

/// One label convention: how land-use value `v` is written, in which type, with which nodata; and the class map
/// `predict` must write.
struct Case {
    name: &'static str,
    map: fn(u8) -> u16,
    uint16: bool,
    nodata: f64,
    map_dtype: DataType,
    map_nodata: u16,
}

fn train_score_and_map(case: &Case) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(labels) = common::relabelled_land_use(dir.path(), "labels.tif", case.map, case.uint16, case.nodata) else {
        return;
    };
    let shards = dir.path().join("shards");
    let report = common::land_use_windows_with(&labels, &shards).expect("fixtures");
    let set = common::open(&shards);
    let table = set.class_table().expect("class table");
    let present: BTreeSet<u16> = report.class_pixels.values().flat_map(|h| h.keys().copied()).collect();
    assert!(!present.contains(&(case.nodata as u16)), "{}: nodata is no class", case.name);
    assert_eq!(table.values(), present.iter().copied().collect::<Vec<_>>(), "{}: the values present", case.name);
    let originals: Vec<u16> = [1, 2, 3, 4, 8].into_iter().map(case.map).collect();
    assert!(table.values().iter().all(|v| originals.contains(v)), "{}: {:?}", case.name, table.values());
    assert!(table.len() >= 3, "{}: {:?}", case.name, table.values());

    let run = dir.path().join("run");
    let config = FitConfig {
        batch_size: 8,
        epochs: 3,
        lr: 5e-3,
        warmup_steps: 3,
        checkpoint_every: 100,
        seed: 4,
        ..FitConfig::new(ModelConfig::Unet(UNetConfig {
            depth: 2,
            base_width: 8,
            norm: NormKind::Batch,
            ..UNetConfig::new(68, table.len())
        }))
    };
    let device = burn::backend::flex::FlexDevice;
    fit::<Autodiff<Flex>>(&set, &config, &run, &device, &StopWhen::default()).expect("fit");
    let trained = TrainedRun::open(&run).expect("run");
    assert_eq!(trained.data.classes, table, "{}: the run records the class table", case.name);
    assert!(trained.state.finished);

    // Scored with the run's own table: one row per class, whatever the label values.
    let loader = Loader::for_run(
        set.clone(),
        LoaderConfig {
            split: "validation".into(),
            batch_size: 8,
            shuffle_buffer: 0,
            input: trained.data.input.clone(),
            ..LoaderConfig::default()
        },
        &trained.data,
    )
    .expect("loader");
    let task = task_of(&trained.config, &trained.data, &set);
    let scores = Scores::for_model(&trained.config.model, &task);
    let Report::Segmentation(scored) =
        evaluate(&trained.unet::<Flex>(&device).expect("weights"), &loader, &task, scores, &device).expect("eval")
    else {
        panic!("a segmentation report");
    };
    assert_eq!(scored.confusion.len(), table.len(), "{}", case.name);
    assert!(scored.pixels > 0 && scored.pixel_accuracy > 0.0, "{}: {scored:?}", case.name);

    let scene = eoforge_testkit::fixture("labels/eolearn_TestEOPatch_NDVI_68dates.tif").expect("fixture");
    let scene = scene.display().to_string();
    let dest = dir.path().join("out/classes.tif");
    let (dest_arg, run_arg) = (dest.display().to_string(), run.display().to_string());
    let out = infer(&["predict", &scene, &dest_arg, "--model", &run_arg, "--window", "32", "--halo", "8"]);
    assert!(out.status.success(), "{}: predict failed: {}", case.name, String::from_utf8_lossy(&out.stderr));
    let product = Raster::open(&dest_arg).expect("open product");
    assert_eq!(product.dtype(1).expect("dtype"), case.map_dtype, "{}", case.name);
    assert_eq!(product.nodata(1).expect("nodata"), Some(f64::from(case.map_nodata)), "{}", case.name);
    let pixels = product.read_window::<f64>(Window::full(product.width(), product.height()), None).expect("read");
    let values: BTreeSet<u16> = pixels.iter().map(|v| *v as u16).filter(|v| *v != case.map_nodata).collect();
    assert!(!values.is_empty(), "{}: an empty map", case.name);
    assert!(values.is_subset(&present), "{}: {values:?} holds values that are not classes {present:?}", case.name);
    let metadata = product.metadata().expect("metadata");
    let names = metadata.bands[0].items.iter().find(|(k, _)| k == "CLASS_NAMES").expect("CLASS_NAMES");
    for v in &present {
        assert!(names.1.split(';').any(|e| e.starts_with(&format!("{v}="))), "{}: {}", case.name, names.1);
    }
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dest_arg}.qc.json")).expect("qc report")).expect("json");
    assert_eq!(qc["passed"], true, "{}: {qc}", case.name);
}

#[test]
fn nodata_255_beside_a_real_class_0() {
    train_score_and_map(&Case {
        name: "nodata 255, class 0",
        map: |v| match v {
            0 => 255,
            8 => 4,
            v => u16::from(v) - 1,
        },
        uint16: false,
        nodata: 255.0,
        map_dtype: DataType::UInt8,
        map_nodata: 255,
    });
}

#[test]
fn sparse_class_ids() {
    train_score_and_map(&Case {
        name: "sparse ids",
        map: |v| u16::from(v) * 10,
        uint16: false,
        nodata: 0.0,
        map_dtype: DataType::UInt8,
        map_nodata: 255,
    });
}

#[test]
fn class_ids_above_255() {
    train_score_and_map(&Case {
        name: "ids above 255",
        map: |v| if v == 0 { 0 } else { 1000 + u16::from(v) * 100 },
        uint16: true,
        nodata: 0.0,
        map_dtype: DataType::UInt16,
        map_nodata: 65535,
    });
}
