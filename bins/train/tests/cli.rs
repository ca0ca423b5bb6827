//! `eoforge-train` as a user runs it: fit from a TOML config on shards of the real BigEarthNet patches, SIGTERM
//! (as SLURM sends before wall time) writes a checkpoint and exits 143, the same command continues to the end,
//! eval scores the run; bad configs and shard sets are named.

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

const CONFIG: &str = r"
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
in_channels = 12
classes = 19
widths = [4, 8]
";

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
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
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
