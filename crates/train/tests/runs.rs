//! A run on users' terms: it normalises with its own statistics whatever set it scores (a set without a training
//! split too), an
//! unfinished run is refused unless allowed, a configuration file takes the defaults for what it leaves out, a
//! refused resume names the field, a finished run extends with more epochs, and splits follow the ground, not
//! the file name. All on the real eo-learn patch (68-date NDVI series, land-use labels).

mod common;

use std::path::Path;

use burn::backend::{Autodiff, Flex};
use eoforge_models::{NormKind, UNetConfig};
use eoforge_train::{
    FitConfig, Loader, LoaderConfig, ModelConfig, Report, Scores, ShardSet, StopWhen, TrainedRun, evaluate, fit,
    task_of,
};

type AD = Autodiff<Flex>;
const CPU: burn::backend::flex::FlexDevice = burn::backend::flex::FlexDevice;

fn unet(classes: usize) -> ModelConfig {
    ModelConfig::Unet(UNetConfig { depth: 2, base_width: 8, norm: NormKind::Batch, ..UNetConfig::new(68, classes) })
}

fn config(classes: usize) -> FitConfig {
    FitConfig {
        batch_size: 8,
        epochs: 2,
        lr: 5e-3,
        warmup_steps: 3,
        checkpoint_every: 2,
        seed: 3,
        ..FitConfig::new(unet(classes))
    }
}

fn land_use(dir: &Path) -> Option<ShardSet> {
    let shards = dir.join("shards");
    common::land_use_windows(&shards)?;
    Some(common::open(&shards))
}

/// The run's scores on `split` of `set`, with the run's own statistics and class table.
fn score(run: &TrainedRun, set: &ShardSet, split: &str) -> eoforge_train::SegmentationReport {
    let loader = Loader::for_run(
        set.clone(),
        LoaderConfig {
            split: split.into(),
            batch_size: 8,
            shuffle_buffer: 0,
            input: run.data.input.clone(),
            ..LoaderConfig::default()
        },
        &run.data,
    )
    .expect("loader");
    let task = task_of(&run.config, &run.data, set);
    let scores = Scores::for_model(&run.config.model, &task);
    match evaluate(&run.unet::<Flex>(&CPU).expect("weights"), &loader, &task, scores, &CPU).expect("eval") {
        Report::Segmentation(report) => report,
        other => panic!("{other:?}"),
    }
}

/// Copies the shard set at `from` to `to` with `edit` applied to its `stats.json` and `index.json`.
fn copy_set(from: &Path, to: &Path, edit: impl Fn(&mut serde_json::Value, &mut serde_json::Value)) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in walk(from) {
        let target = to.join(entry.strip_prefix(from).expect("prefix"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&entry, &target).expect("copy");
    }
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(to.join(name)).expect("read")).expect("json")
    };
    let (mut stats, mut index) = (read("stats.json"), read("index.json"));
    edit(&mut stats, &mut index);
    std::fs::write(to.join("stats.json"), serde_json::to_vec(&stats).expect("json")).expect("write");
    std::fs::write(to.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("write");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn a_run_scores_any_set_with_its_own_normalisation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(set) = land_use(dir.path()) else { return };
    let classes = set.class_table().expect("table").len();
    let run_dir = dir.path().join("run");
    fit::<AD>(&set, &config(classes), &run_dir, &CPU, &StopWhen::default()).expect("fit");
    let run = TrainedRun::open(&run_dir).expect("run");
    let own = score(&run, &set, "validation");

    // The same windows with other stored statistics score the same: the run's statistics are used.
    let shards = dir.path().join("shards");
    let shifted = dir.path().join("shifted");
    copy_set(&shards, &shifted, |stats, _| {
        for m in stats["mean"].as_array_mut().expect("mean") {
            *m = serde_json::json!(m.as_f64().expect("number") + 0.5);
        }
    });
    let shifted = common::open(&shifted);
    assert_eq!(score(&run, &shifted, "validation"), own);

    // A test-only set (no training split, so no statistics of its own) is scored as well, under any split name.
    let test_only = dir.path().join("test-only");
    copy_set(&shards, &test_only, |stats, index| {
        for key in ["mean", "std", "min", "max", "count"] {
            if stats.get(key).is_some() {
                stats[key] = serde_json::json!([]);
            }
        }
        index["splits"].as_object_mut().expect("splits").remove("train");
    });
    let test_only = common::open(&test_only);
    assert_eq!(score(&run, &test_only, "validation"), own);
    let err = Loader::new(test_only, LoaderConfig { split: "validation".into(), ..LoaderConfig::default() })
        .expect_err("no statistics of its own");
    assert!(err.to_string().contains("stats.json"), "{err}");
}

#[test]
fn an_unfinished_run_is_refused_unless_allowed_and_a_finished_run_extends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(set) = land_use(dir.path()) else { return };
    let classes = set.class_table().expect("table").len();
    let run_dir = dir.path().join("run");
    let cfg = config(classes);
    let stop = StopWhen { max_steps: Some(3), ..StopWhen::default() };
    let outcome = fit::<AD>(&set, &cfg, &run_dir, &CPU, &stop).expect("fit");
    assert!(!outcome.finished);
    let err = TrainedRun::open(&run_dir).expect_err("unfinished").to_string();
    assert!(err.contains("unfinished (epoch ") && err.contains(" of 2, step ") && err.contains("--allow-unfinished"));
    let any = TrainedRun::open_any(&run_dir).expect("allowed");
    assert!(!any.state.finished && any.weights().is_file(), "{:?}", any.state);

    fit::<AD>(&set, &cfg, &run_dir, &CPU, &StopWhen::default()).expect("finish");
    let run = TrainedRun::open(&run_dir).expect("finished");
    assert_eq!((run.state.finished, run.state.epoch), (true, 2));

    // Another setting is refused naming it; more epochs extend the run from its last checkpoint.
    let other = FitConfig { lr: 1e-2, ..cfg.clone() };
    let err = fit::<AD>(&set, &other, &run_dir, &CPU, &StopWhen::default()).expect_err("another lr");
    assert!(err.to_string().contains("(lr differs)"), "{err}");
    let longer = FitConfig { epochs: 3, ..cfg };
    let outcome = fit::<AD>(&set, &longer, &run_dir, &CPU, &StopWhen::default()).expect("extend");
    assert!(outcome.finished && outcome.resumed_from > 0, "{outcome:?}");
    assert_eq!(TrainedRun::open(&run_dir).expect("run").state.epoch, 3);
}

#[test]
fn a_config_file_takes_the_defaults_for_what_it_leaves_out() {
    let unet_default = || Ok(unet(5));
    let short = FitConfig::from_toml("epochs = 3\n[model]\nkind = \"unet\"\nin_channels = 68\nclasses = 5\n", || {
        Err("not needed".into())
    })
    .expect("parsed");
    let defaults = FitConfig::new(ModelConfig::Unet(UNetConfig::new(68, 5)));
    assert_eq!(short, FitConfig { epochs: 3, ..defaults.clone() });
    assert!(short.loss.balance, "without [loss] a segmentation run balances its classes, as without a file");
    // Without [model], or a [model] without classes, the data's: the class table's size.
    let bare = FitConfig::from_toml("lr = 0.01\n[loss]\ndice_weight = 0.5\n", unet_default).expect("parsed");
    assert_eq!((bare.model.classes(), bare.lr, bare.loss.balance, bare.loss.dice_weight), (5, 0.01, true, 0.5));
    let partial = FitConfig::from_toml("[model]\nkind = \"unet\"\ndepth = 2\n", unet_default).expect("parsed");
    assert_eq!((partial.model.classes(), partial.model.in_channels()), (5, 68));
    // Another segmentation network under the data's U-Net default takes them too.
    let segformer = FitConfig::from_toml("[model]\nkind = \"segformer\"\n", unet_default).expect("parsed");
    assert_eq!((segformer.model.classes(), segformer.model.in_channels()), (5, 68));
    assert!(matches!(segformer.model, ModelConfig::Segformer(_)));
    let err = FitConfig::from_toml("epochs = 3\nbatch = 4\n", unet_default).expect_err("unknown field");
    assert!(err.contains("batch"), "{err}");
}

#[test]
fn splits_follow_the_ground_not_the_file_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(ndvi) = eoforge_testkit::fixture("labels/eolearn_TestEOPatch_NDVI_68dates.tif") else { return };
    let lulc = eoforge_testkit::fixture("labels/eolearn_TestEOPatch_LULC.tif").expect("fixture");
    let mut splits = Vec::new();
    for name in ["2019-05-01.tif", "re-export_of_the_same_scene.tif"] {
        let scene = dir.path().join(name);
        std::fs::copy(&ndvi, &scene).expect("copy");
        let out = dir.path().join(name.replace(".tif", ""));
        let options = eoforge_convert::WindowOptions {
            out: out.display().to_string(),
            size: 16,
            stride: 16,
            block: 2,
            ratios: eoforge_sampling::SplitRatios { train: 0.5, validation: 0.5, test: 0.0 },
            samples_per_shard: 64,
            seed: 9,
            ignore: Some(0),
            ..eoforge_convert::WindowOptions::default()
        };
        eoforge_convert::convert_windows(
            &scene.display().to_string(),
            Some(&lulc.display().to_string()),
            &options,
            &|| {},
        )
        .expect("windows");
        let set = common::open(&out);
        let mut placed = Vec::new();
        for split in ["train", "validation"] {
            let loader = Loader::new(
                set.clone(),
                LoaderConfig { split: split.into(), shuffle_buffer: 0, input: "image".into(), ..Default::default() },
            );
            let Ok(loader) = loader else { continue };
            for batch in loader.epoch(0) {
                for key in batch.expect("batch").keys {
                    // The position part of the key: `<stem>_rNNNNN_cNNNNN`.
                    placed.push((split, key[key.len() - 14..].to_owned()));
                }
            }
        }
        placed.sort();
        splits.push(placed);
    }
    assert!(splits[0].iter().any(|p| p.0 == "train") && splits[0].iter().any(|p| p.0 == "validation"));
    assert_eq!(splits[0], splits[1], "the same ground lands in the same split whatever the file is called");
}

#[test]
fn two_processes_cannot_train_into_one_run_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(set) = land_use(dir.path()) else { return };
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).expect("mkdir");
    // Another process's lock (an open file description of its own).
    let other = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(run_dir.join(".lock"));
    let other = other.expect("lock file");
    other.lock().expect("locked");
    let classes = set.class_table().expect("table").len();
    let err = fit::<AD>(&set, &config(classes), &run_dir, &CPU, &StopWhen::default()).expect_err("locked");
    assert!(err.to_string().contains("another process is training into this run directory"), "{err}");
    other.unlock().expect("unlock");
    fit::<AD>(&set, &config(classes), &run_dir, &CPU, &StopWhen::default()).expect("then it trains");
}
