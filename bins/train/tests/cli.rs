//! `eoforge-train` as a user runs it: fit from a TOML config on shards of the real BigEarthNet patches, SIGTERM
//! (as SLURM sends before wall time) writes a checkpoint and exits 75, the same command continues to the end,
//! eval scores the run; SIGKILL at random moments and reruns reach the same weights and losses bit for bit as an
//! uninterrupted run; a segmentation set trains a U-Net by default and leaves records and pictures; bad configs
//! and shard sets are named.

#[path = "../../../crates/train/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::shard_set;

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-train")).args(args).output().expect("run eoforge-train")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const CONFIG: &str = r#"
batch_size = 4
shuffle_buffer = 4
augment = true
epochs = 12
lr = 0.01
warmup_steps = 2
min_lr = 0.0001
weight_decay = 0.0001
clip_norm = 1.0
checkpoint_every = 1
seed = 3

[model]
kind = "classifier"
in_channels = 12
classes = 19
widths = [4, 8]
"#;

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("run.toml");
    std::fs::write(&path, text).expect("config");
    path.display().to_string()
}

#[test]
fn fit_stops_on_sigterm_resumes_and_evaluates() {
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("shards");
    let Some(_) = shard_set(&data, 28) else { return };
    let data = data.display().to_string();
    let config = write_config(work.path(), CONFIG);
    let run = work.path().join("run");
    let run_s = run.display().to_string();
    let args = ["fit", "--data", &data, "--out", &run_s, "--config", &config];

    let mut child = Command::new(env!("CARGO_BIN_EXE_eoforge-train"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    eoforge_testkit::wait_for(&mut child, "the first checkpoint", || run.join("checkpoints/latest").is_file());
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(i32::from(eoforge_train_cli::EXIT_STOPPED)), "{}", text(&out.stderr));
    assert_eq!(eoforge_train_cli::EXIT_STOPPED, 75);
    assert!(text(&out.stderr).contains("checkpoint written"), "{}", text(&out.stderr));
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("profile.json")).expect("profile")).expect("json");
    assert_eq!(profile["finished"], false);

    let out = train(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary json");
    assert!(summary["validation"]["macro_map"].as_f64().is_some(), "{summary}");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("profile.json")).expect("profile")).expect("json");
    assert!(profile["resumed_from_step"].as_u64().is_some_and(|s| s > 0), "{profile}");
    assert!(profile["samples_per_s"].as_f64().is_some_and(|s| s > 0.0) && profile["peak_rss_mib"].as_f64().is_some());
    for file in ["config.toml", "metrics.jsonl", "model.mpk"] {
        assert!(run.join(file).is_file(), "{file} missing from the run directory");
    }

    let out = train(&["eval", "--data", &data, "--run", &run_s, "--split", "test"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report json");
    assert!(report["macro_map"].as_f64().is_some_and(|m| (0.0..=1.0).contains(&m)), "{report}");

    // The run directory belongs to its configuration.
    let other = write_config(work.path(), &CONFIG.replace("seed = 3", "seed = 4"));
    let out = train(&["fit", "--data", &data, "--out", &run_s, "--config", &other]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("another configuration"), "{}", text(&out.stderr));
}

#[test]
fn bad_configs_and_shard_sets_are_named() {
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("shards");
    let Some(_) = shard_set(&data, 12) else { return };
    let data_s = data.display().to_string();
    let run = work.path().join("run").display().to_string();

    let typo = write_config(work.path(), &CONFIG.replace("epochs = 12", "epoch = 12"));
    let out = train(&["fit", "--data", &data_s, "--out", &run, "--config", &typo]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("run.toml") && err.contains("epoch"), "{err}");

    let out = train(&["fit", "--data", &data_s, "--out", &run, "--batch", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = train(&["fit", "--data", &data_s, "--out", &run, "--device", "tpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--device tpu"), "{}", text(&out.stderr));

    std::fs::remove_file(data.join("stats.json")).expect("remove");
    let out = train(&["fit", "--data", &data_s, "--out", &format!("{run}2")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("stats.json"), "{}", text(&out.stderr));
}

/// Outputs of a run's final model on a fixed input, as bits.
fn output_bits(run: &Path) -> Vec<u32> {
    use burn::backend::Flex;
    use burn::tensor::{Tensor, TensorData};
    let device = burn::backend::flex::FlexDevice;
    let model = eoforge_train::TrainedRun::open(run).expect("run").classifier::<Flex>(&device).expect("model");
    let input = Tensor::<Flex, 4>::from_data(
        TensorData::new((0..2 * 12 * 16 * 16).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>(), [2, 12, 16, 16]),
        &device,
    );
    let out: Vec<f32> = model.forward(input).into_data().to_vec().expect("f32");
    out.into_iter().map(f32::to_bits).collect()
}

#[test]
fn sigkill_at_random_moments_then_rerun_reaches_the_same_weights() {
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("shards");
    let Some(_) = shard_set(&data, 28) else { return };
    let data = data.display().to_string();
    let config = write_config(
        work.path(),
        &CONFIG.replace("epochs = 12", "epochs = 4").replace("checkpoint_every = 1", "checkpoint_every = 3"),
    );
    let whole = work.path().join("whole");
    let whole_s = whole.display().to_string();
    let out = train(&["fit", "--data", &data, "--out", &whole_s, "--config", &config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let steps = |run: &Path| std::fs::read_to_string(run.join("losses.jsonl")).map_or(0, |t| t.lines().count());
    let total = steps(&whole);

    let killed = work.path().join("killed");
    let killed_s = killed.display().to_string();
    let args = ["fit", "--data", &data, "--out", &killed_s, "--config", &config];
    // Each kill waits for a random number of further steps (visible in losses.jsonl), then SIGKILLs.
    for r in eoforge_testkit::seeded_u64s(11, 3) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eoforge-train"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let target = (steps(&killed) + 1 + (r % 5) as usize).min(total - 1);
        eoforge_testkit::wait_for(&mut child, "more steps", || steps(&killed) >= target);
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
    }
    let out = train(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let losses = |run: &Path| std::fs::read_to_string(run.join("losses.jsonl")).expect("losses");
    assert_eq!(losses(&whole), losses(&killed), "every step's loss is the same after kills and reruns");
    assert_eq!(output_bits(&whole), output_bits(&killed), "the final weights give the same outputs, bit for bit");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(killed.join("run.json")).expect("run.json")).expect("json");
    assert_eq!(record["calls"].as_array().map(Vec::len), Some(4), "every call is recorded: {record}");
    assert!(record["git_revision"].as_str().is_some_and(|r| !r.is_empty()), "{record}");
}

#[test]
fn a_segmentation_set_trains_a_unet_with_records_and_pictures() {
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("shards");
    let Some(()) = common::land_use_windows(&data) else { return };
    let data = data.display().to_string();
    let run = work.path().join("run");
    let run_s = run.display().to_string();
    let config = write_config(
        work.path(),
        "batch_size = 4\nshuffle_buffer = 8\naugment = true\nepochs = 2\nlr = 0.01\nwarmup_steps = 2\nmin_lr = 0.0001\n\
         weight_decay = 0.0001\ncheckpoint_every = 100\nseed = 1\n\n[loss]\nbalance = true\ndice_weight = 0.5\n\n\
         [model]\nkind = \"unet\"\nin_channels = 68\ndepth = 2\nbase_width = 8\n",
    );
    let out = train(&["fit", "--data", &data, "--out", &run_s, "--config", &config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary json");
    assert!(summary["validation"]["mean_iou"].as_f64().is_some(), "{summary}");
    assert_eq!(summary["best"]["metric"], "mean_iou", "{summary}");
    for file in ["run.json", "data.json", "curves.png", "samples.png", "profile.json", "best/model.mpk"] {
        assert!(run.join(file).is_file(), "{file} missing from the run directory");
    }
    let out = train(&["eval", "--data", &data, "--run", &run_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report json");
    // One row per class of the class table: the land-use values present (1, 2, 3, 4, 8).
    assert!(report["confusion"].as_array().is_some_and(|c| c.len() == 5), "{report}");

    // Weights out as safetensors and back into a new run directory: the same scores.
    let weights = work.path().join("unet.safetensors").display().to_string();
    let out = train(&["export", "--run", &run_s, "--out", &weights]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported: serde_json::Value = serde_json::from_slice(&out.stdout).expect("export json");
    assert!(exported["tensors"].as_u64().is_some_and(|n| n > 20), "{exported}");
    // Its model card says how to feed the weights and what they give: the run's channels, normalisation and
    // class table, as `predict` reads cards.
    let card_path = format!("{weights}.json");
    let card =
        eoforge_card::ModelCard::parse(&std::fs::read_to_string(&card_path).expect("card"), Path::new(&card_path))
            .expect("a card predict reads");
    assert_eq!(card.output, eoforge_card::OutputKind::Classes);
    assert_eq!(card.classes.iter().map(|c| c.value).collect::<Vec<_>>(), [1, 2, 3, 4, 8]);
    assert_eq!((card.bands.len(), card.normalization.as_ref().map(|n| n.divide.len())), (68, Some(68)));
    let imported = work.path().join("imported").display().to_string();
    let out = train(&["import", "--weights", &weights, "--out", &imported]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let import: serde_json::Value = serde_json::from_slice(&out.stdout).expect("import json");
    assert_eq!(import["applied"].as_u64(), exported["tensors"].as_u64(), "{import}");
    assert_eq!(import["missing"], serde_json::json!([]), "{import}");
    let out = train(&["eval", "--data", &data, "--run", &imported]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report json");
    assert_eq!(again, report, "the imported run scores as the trained one");
    // Weights written by Python under PyTorch's names with a `model.` prefix, in half precision: --like gives
    // the architecture and the data record, --remap the names; PyTorch's num_batches_tracked is reported unused.
    if let Some(python) = eoforge_testkit::python_with(&["numpy", "safetensors"]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/models/tests/python/unet_reference.py");
        let cfg = work.path().join("unet.json");
        let unet = r#"{"in_channels": 68, "classes": 5, "depth": 2, "base_width": 8, "norm": {"kind": "batch"}}"#;
        std::fs::write(&cfg, unet).expect("config");
        let torch = work.path().join("torch.safetensors").display().to_string();
        let status = Command::new(python)
            .arg(script)
            .args(["init", &cfg.display().to_string(), "5", &torch, "model.", "float16"])
            .status()
            .expect("python");
        assert!(status.success(), "python init");
        let from_torch = work.path().join("from-torch").display().to_string();
        let out = train(&["import", "--weights", &torch, "--out", &from_torch]);
        assert_eq!(out.status.code(), Some(1), "no eoforge header and no --like: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("--like"), "{}", text(&out.stderr));
        let like = ["import", "--weights", &torch, "--out", &from_torch, "--like", &run_s];
        let out = train(&[&like[..], &["--remap", r"^model\.="]].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        let import: serde_json::Value = serde_json::from_slice(&out.stdout).expect("import json");
        assert_eq!(import["applied"].as_u64(), exported["tensors"].as_u64(), "{import}");
        assert_eq!(import["unused"].as_array().map(Vec::len), Some(10), "{import}");
        let out = train(&["eval", "--data", &data, "--run", &from_torch]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = train(&["import", "--weights", &weights, "--out", &imported]);
    assert_eq!(out.status.code(), Some(1), "an existing run directory is not overwritten");
    assert!(text(&out.stderr).contains("exists"), "{}", text(&out.stderr));
    let out = train(&["import", "--weights", &weights, "--out", &format!("{imported}2"), "--remap", "up[=x"]);
    assert_eq!(out.status.code(), Some(2), "a bad pattern is a usage error: {}", text(&out.stderr));
    let out = train(&["import", "--weights", &weights, "--out", &format!("{imported}2"), "--remap", "^up_blocks=x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("up_blocks.0.conv1.weight"), "{}", text(&out.stderr));
    assert!(!Path::new(&format!("{imported}2")).exists() && !Path::new(&format!("{imported}2.partial")).exists());

    // Devices and replicas that cannot work are usage errors.
    for bad in
        [&["--device", "cpu,cuda:1"][..], &["--device", "cpu,cpu"], &["--replicas", "0"], &["--lr-scaling", "cubic"]]
    {
        let fresh = work.path().join("never").display().to_string();
        let mut args = vec!["fit", "--data", &data, "--out", &fresh, "--config", &config];
        args.extend_from_slice(bad);
        let out = train(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
    }

    // A failure is kept in the run's errors.log.
    std::fs::remove_file(
        Path::new(&data).join("validation").read_dir().expect("dir").next().expect("shard").expect("entry").path(),
    )
    .expect("remove a shard");
    let fresh = work.path().join("broken");
    std::fs::create_dir_all(&fresh).expect("mkdir");
    let out = train(&["fit", "--data", &data, "--out", &fresh.display().to_string(), "--config", &config]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(fresh.join("errors.log")).expect("errors.log");
    assert!(log.contains("validation-"), "{log}");
}

#[test]
fn features_reproduce_terratorch_prithvi_vit_block_by_block() {
    let Some(dir) = eoforge_testkit::fixture("models/prithvi_tiny") else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("features");
    let path = |name: &str| dir.join(name).display().to_string();
    let (weights, config, input) = (path("weights.safetensors"), path("config.json"), path("input.npy"));
    let (temporal, location) = (path("temporal_coords.npy"), path("location_coords.npy"));
    let out_s = out.display().to_string();
    let run = train(&[
        "features",
        "--weights",
        &weights,
        "--config",
        &config,
        "--input",
        &input,
        "--temporal-coords",
        &temporal,
        "--location-coords",
        &location,
        "--out",
        &out_s,
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    for i in 0..2 {
        let read = |p: &Path| eoforge_shards::npy::from_npy::<f32>(&std::fs::read(p).expect("npy")).expect("decode");
        let (got, want) = (read(&out.join(format!("block{i}.npy"))), read(&dir.join(format!("features_block{i}.npy"))));
        assert_eq!(got.shape(), want.shape());
        let worst = got.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "block {i}: max |Δ| {worst}");
    }
    // A PrithviMAE-style checkpoint (the encoder under `encoder.`, a decoder beside it) loads with --remap; the
    // decoder's tensors are reported unused, and without the remap the encoder's are missing.
    if let Some(python) = eoforge_testkit::python_with(&["safetensors", "numpy"]) {
        let mae = work.path().join("mae.safetensors").display().to_string();
        let script = "import sys\nfrom safetensors.numpy import load_file, save_file\nimport numpy as np\n\
                      w = {'encoder.' + k: v for k, v in load_file(sys.argv[1]).items()}\n\
                      w['decoder.mask_token'] = np.zeros((1, 1, 32), np.float32)\nsave_file(w, sys.argv[2])\n";
        let status = Command::new(python).args(["-c", script, &weights, &mae]).status().expect("python");
        assert!(status.success());
        let args = ["features", "--weights", &mae, "--config", &config, "--input", &input, "--out", &out_s];
        let remapped = train(&[&args[..], &["--remap", r"^encoder\.="]].concat());
        assert!(remapped.status.success(), "{}", text(&remapped.stderr));
        let report: serde_json::Value = serde_json::from_slice(&remapped.stdout).expect("json");
        assert_eq!(report["unused"], serde_json::json!(["decoder.mask_token"]), "{report}");
        let plain = train(&args);
        assert!(!plain.status.success() && text(&plain.stderr).contains("lacks"), "{}", text(&plain.stderr));
    }
    // A weights file that is no safetensors is refused naming it; an input of another size names `img_size`.
    let bad = train(&["features", "--weights", &input, "--config", &config, "--input", &input, "--out", &out_s]);
    assert!(!bad.status.success() && text(&bad.stderr).contains("input.npy"), "{}", text(&bad.stderr));
    let odd = work.path().join("x.npy");
    std::fs::write(&odd, eoforge_shards::npy::to_npy(&ndarray::ArrayD::<f32>::zeros(vec![1, 6, 3, 20, 20]).view()))
        .expect("write");
    let wrong = train(&[
        "features",
        "--weights",
        &weights,
        "--config",
        &config,
        "--input",
        &odd.display().to_string(),
        "--out",
        &out_s,
    ]);
    assert!(!wrong.status.success() && text(&wrong.stderr).contains("img_size"), "{}", text(&wrong.stderr));
}
