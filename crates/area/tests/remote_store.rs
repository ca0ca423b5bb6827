//! A store on object storage (an in-memory one here; SeaweedFS through the binary in `bins/area/tests`): a whole
//! pipeline over the real 29RKH scene keeps every file in the object store, and a later run — with an empty local
//! folder, as on another node — redoes nothing (the model trained from the same table is kept), while an object
//! removed from the store is redone alone and another `[model]` section trains anew.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use eoforge_area::{Aoi, AreaConfig, NoProgress, RunOptions, RunReport, Stage, build_grid, run};
use eoforge_storage::Store;
use eoforge_testkit::{fixture, workspace_root};

const ROOT: &str = "memory://area-remote/run";

fn counts(report: &RunReport, stage: Stage) -> (usize, usize, usize, usize) {
    let s = report.stages.iter().find(|s| s.stage == stage).unwrap_or_else(|| panic!("no {stage:?}"));
    (s.done, s.skipped, s.empty, s.failed.len())
}

#[test]
fn a_store_on_object_storage_holds_every_file_and_a_fresh_folder_redoes_nothing() {
    let (Some(b04), Some(b08), Some(scl)) =
        (fixture("s2-l2a-29RKH/B04.tif"), fixture("s2-l2a-29RKH/B08.tif"), fixture("s2-l2a-29RKH/SCL.tif"))
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("remote.toml");
    let aoi = workspace_root().join("examples/area/29rkh_aoi.geojson");
    std::fs::write(
        &path,
        format!(
            r#"store = "{ROOT}"
[area]
aoi = "{}"
tile_px = 64
resolution = 200.0
buffer_px = 2

[[inputs]]
name = "B04"
raster = "{}"

[[inputs]]
name = "B08"
raster = "{}"

[[indices]]
kind = "normalized_difference"
name = "NDVI"
a = {{ feature = "B08" }}
b = {{ feature = "B04" }}

[reference]
raster = "{}"

[sampling]
count = 60
seed = 3
split_by = "tile"
train = 0.6
validation = 0.2
test = 0.2

[model]
task = "classification"
iterations = 10
max_depth = 3

[export]
name = "scl"
clip_to_aoi = true
"#,
            aoi.display(),
            b04.display(),
            b08.display(),
            scl.display()
        ),
    )
    .expect("config");
    let config = AreaConfig::load(&path, &BTreeMap::new()).expect("config");
    let grid = build_grid(&Aoi::read(&aoi).expect("aoi"), &config.area.grid_spec()).expect("grid");
    let tiles = grid.tiles.len();
    assert!(tiles >= 8, "{tiles} tiles");

    let first = run(&config, &RunOptions::default(), &NoProgress).expect("first run");
    assert_eq!(first.failures(), 0, "{first:?}");
    assert!(first.dir.starts_with(&format!("{ROOT}/runs/")), "{}", first.dir);
    assert_eq!(counts(&first, Stage::Inputs), (tiles, 0, 0, 0));

    let store = Store::open(ROOT).expect("store");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let keys: BTreeSet<String> = runtime.block_on(store.list("")).expect("list").into_iter().map(|o| o.key).collect();
    let mut expected: Vec<String> =
        ["training/samples.parquet", "model/model.json", "model/metrics.json"].into_iter().map(str::to_owned).collect();
    expected.extend(["scl_29N.tif", "scl_29N.tif.qc.json"].map(|name| format!("maps/{name}")));
    let run_id = first.dir.trim_start_matches(&format!("{ROOT}/"));
    expected.extend(["report.json", "failure.log", "profile.json"].map(|name| format!("{run_id}/{name}")));
    for tile in &grid.tiles {
        for file in
            ["B04.tif", "B08.tif", "NDVI.tif", "reference.tif", "samples.parquet", "prediction.tif", "meta.json"]
        {
            expected.push(format!("tiles/{}/{file}", tile.name));
        }
    }
    let missing: Vec<&String> = expected.iter().filter(|k| !keys.contains(*k)).collect();
    assert!(missing.is_empty(), "not in the store: {missing:?}");
    assert!(keys.iter().any(|k| k.starts_with("grid/grid-") && k.ends_with(".geojson")), "{keys:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&runtime.block_on(store.get(&format!("{run_id}/report.json"))).expect("report"))
            .expect("JSON");
    assert_eq!(report["selected_tiles"], tiles);

    // Another run, as on another node: its local folder is empty, the store says what is done.
    let second = run(&config, &RunOptions::default(), &NoProgress).expect("second run");
    for stage in [Stage::Inputs, Stage::Features, Stage::Reference, Stage::Sample, Stage::Predict] {
        assert_eq!(counts(&second, stage), (0, tiles, 0, 0), "{stage:?}");
    }
    assert_eq!(counts(&second, Stage::Train), (0, 1, 0, 0), "the same table and [model]: the model is kept");
    let export = second.stages.iter().find(|s| s.stage == Stage::Export).expect("export");
    assert_eq!(export.outputs[0]["published"], "already_there", "{}", export.outputs);

    // An index removed from the store is computed again for that tile alone, from bands fetched from the store.
    let victim = &grid.tiles[tiles / 2].name;
    runtime.block_on(store.delete(&format!("tiles/{victim}/NDVI.tif"))).expect("delete");
    let options = RunOptions { stages: vec![Stage::Features], ..RunOptions::default() };
    let third = run(&config, &options, &NoProgress).expect("third run");
    assert_eq!(counts(&third, Stage::Features), (1, tiles - 1, 0, 0));
    assert!(runtime.block_on(store.exists(&format!("tiles/{victim}/NDVI.tif"))).expect("head"));

    // Another [model] section trains anew.
    let mut other = config.clone();
    other.model.as_mut().expect("model").iterations = 12;
    let options = RunOptions { stages: vec![Stage::Train], ..RunOptions::default() };
    let retrained = run(&other, &options, &NoProgress).expect("retrain");
    assert_eq!(counts(&retrained, Stage::Train), (1, 0, 0, 0));
    assert_eq!(counts(&run(&other, &options, &NoProgress).expect("kept"), Stage::Train), (0, 1, 0, 0));

    // A model that its metrics do not describe (here, one byte more) is trained anew.
    let mut model = runtime.block_on(store.get("model/model.json")).expect("model").to_vec();
    model.push(b' ');
    runtime.block_on(store.put("model/model.json", model.into())).expect("put");
    assert_eq!(counts(&run(&other, &options, &NoProgress).expect("retrain"), Stage::Train), (1, 0, 0, 0));
}

#[test]
fn a_network_trained_into_a_store_on_object_storage_is_kept_and_applied_from_it() {
    if fixture("s2-l2a-29RKH/SCL.tif").is_none() {
        return;
    }
    let config = workspace_root().join("examples/area/29rkh_unet.toml");
    let vars = BTreeMap::from([("out".to_owned(), "memory://area-network".to_owned())]);
    let config = AreaConfig::load(&config, &vars).expect("config");
    assert_eq!(config.store, "memory://area-network/29rkh_unet");
    let first = run(&config, &RunOptions::default(), &NoProgress).expect("first run");
    assert_eq!(first.failures(), 0, "{first:?}");
    assert_eq!(counts(&first, Stage::Train), (1, 0, 0, 0));
    let store = Store::open("memory://area-network/29rkh_unet").expect("store");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let keys: Vec<String> = runtime.block_on(store.list("")).expect("list").into_iter().map(|o| o.key).collect();
    for key in [
        "model/run/area.json",
        "model/run/config.toml",
        "model/run/model.mpk",
        "training/patches/index.json",
        "maps/scl_unet_29N.tif",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not in the store");
    }
    // Predict alone, from an empty local folder: the network comes from the store.
    let tiles = first.selected_tiles;
    runtime.block_on(store.delete(&format!("tiles/{}/prediction.tif", config_first_tile(&first)))).expect("delete");
    let options = RunOptions { stages: vec![Stage::Train, Stage::Predict], ..RunOptions::default() };
    let again = run(&config, &options, &NoProgress).expect("again");
    assert_eq!(counts(&again, Stage::Train), (0, 1, 0, 0), "kept");
    assert_eq!(counts(&again, Stage::Predict), (1, tiles - 1, 0, 0));

    // Other settings train afresh; stopped (as by SIGTERM), the training leaves its checkpoint in the store and the
    // next run, from an empty local folder again, resumes from it.
    let mut longer = config.clone();
    longer.model.as_mut().expect("model").epochs = Some(9);
    let flag = Arc::new(AtomicBool::new(false));
    let stopped = RunOptions { stages: vec![Stage::Train], stop: Some(flag.clone()), ..RunOptions::default() };
    let done = AtomicBool::new(false);
    let err = std::thread::scope(|scope| {
        // Visible progress: a checkpoint of the 9-epoch run in its local working folder (not one of the replaced
        // 8-epoch run, fetched first); then the stop, as SIGTERM's.
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                let checkpointed = std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten().any(|e| {
                    let run = e.path().join("model/run");
                    e.file_name().to_string_lossy().starts_with("eoforge-area-")
                        && std::fs::read_to_string(run.join("config.toml")).is_ok_and(|c| c.contains("epochs = 9"))
                        && run.join("checkpoints/latest").is_file()
                });
                if checkpointed {
                    flag.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::yield_now();
            }
        });
        let err = run(&longer, &stopped, &NoProgress).expect_err("stopped");
        done.store(true, Ordering::SeqCst);
        err
    });
    assert!(matches!(err, eoforge_area::Error::Stopped(_)), "{err}");
    assert!(runtime.block_on(store.exists("model/run/checkpoints/latest")).expect("head"));
    let resumed = run(&longer, &RunOptions { stages: vec![Stage::Train], ..RunOptions::default() }, &NoProgress)
        .expect("resumed");
    let record = &resumed.stages[0].outputs;
    assert!(record["resumed_from"].as_u64().is_some_and(|step| step > 0), "{record}");
}

/// The first tile of a run's grid (from its report's config).
fn config_first_tile(report: &RunReport) -> String {
    let aoi = Aoi::read(std::path::Path::new(&report.config.area.aoi)).expect("aoi");
    build_grid(&aoi, &report.config.area.grid_spec()).expect("grid").tiles[0].name.clone()
}
