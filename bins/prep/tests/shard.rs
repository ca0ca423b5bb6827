//! `eoforge-prep shard` end to end: killed at six points seen on disk and stopped once by SIGTERM (exit 75), then
//! rerun, the final shards are byte-identical to an uninterrupted run and no partial shard is ever visible; the same
//! job through a real S3 server. (The same conversion as a SLURM array job: `bins/slurm/tests/cluster.rs`.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use eoforge_catalog::{Catalog, scan_bigearthnet_v1, write_parquet};
use eoforge_storage::{Secret, Store, StoreOptions};
use eoforge_testkit::{S3Server, fixture};

fn prep_cmd(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eoforge-prep"));
    cmd.args(args).env_remove("SLURM_ARRAY_TASK_ID").env_remove("SLURM_ARRAY_TASK_COUNT").env_remove("EOFORGE_SHARD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn prep(args: &[&str], env: &[(&str, &str)]) -> Output {
    prep_cmd(args, env).output().expect("run eoforge-prep")
}

/// A catalog of the real patches replicated to `n` distinct ids, written as Parquet at `path`.
fn replicated_catalog(path: &Path, n: usize, root: Option<&str>) -> Option<()> {
    let s2 = fixture("bigearthnet/s2")?;
    let store = Store::open(&s2.display().to_string()).expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let base = rt.block_on(scan_bigearthnet_v1(&store, None, 4)).expect("scan");
    let mut records = Vec::new();
    for i in 0..n {
        let mut r = base.records[i % 2].clone();
        if let Some(root) = root {
            for url in r.paths.values_mut() {
                let local = url.trim_start_matches("file://").to_owned();
                let rel = local
                    .strip_prefix(&s2.display().to_string())
                    .expect("under the fixtures")
                    .trim_start_matches('/')
                    .to_owned();
                *url = format!("{root}/{rel}");
            }
        }
        r.patch_id = format!("{}_copy{i:05}", r.patch_id);
        records.push(r);
    }
    let catalog = Catalog { source: "replicated".into(), records };
    std::fs::write(path, write_parquet(&[catalog.to_batch().expect("batch")]).expect("parquet")).expect("write");
    Some(())
}

/// Files under `dir` (except profiles), with their bytes; staging files of interrupted writes are listed apart.
fn tree(dir: &Path) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let (mut files, mut staging) = (BTreeMap::new(), Vec::new());
    if !dir.exists() {
        return (files, staging);
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list") {
            let p = entry.expect("entry").path();
            let rel = p.strip_prefix(dir).expect("inside").display().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if rel.contains('#') {
                staging.push(rel);
            } else if !rel.starts_with("profile/") {
                files.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    (files, staging)
}

/// Files published under `dir` (staging files, named with `#`, and profiles left out), counted without reading them.
fn published(dir: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            let rel = p.strip_prefix(dir).map(|r| r.display().to_string()).unwrap_or_default();
            if p.is_dir() {
                stack.push(p);
            } else if !rel.contains('#') && !rel.starts_with("profile/") {
                count += 1;
            }
        }
    }
    count
}

#[test]
fn killed_at_six_points_and_rerun_gives_identical_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = dir.path().join("meta.parquet");
    if replicated_catalog(&meta, 160, None).is_none() {
        return;
    }
    let meta = meta.display().to_string();
    let run = |out: &Path| -> Vec<String> {
        vec![
            "shard".into(),
            "--meta".into(),
            meta.clone(),
            "--out".into(),
            out.display().to_string(),
            "--target-shard-mb".into(),
            "2".into(),
            "--threads".into(),
            "2".into(),
        ]
    };
    let reference = dir.path().join("reference");
    let out = prep(&run(&reference).iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (want, staging) = tree(&reference);
    assert!(staging.is_empty() && want.contains_key("index.json") && want.contains_key("stats.json"));

    let target = dir.path().join("killed");
    let args = run(&target);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Killed (SIGKILL) as soon as each run publishes one more file than the last: at six different points of the
    // job, seen on disk, never after a guessed delay.
    let mut kills = 0;
    while kills < 6 {
        let before = published(&target);
        let mut child = prep_cmd(&args, &[]).stderr(std::process::Stdio::null()).spawn().expect("spawn");
        let finished = loop {
            if published(&target) > before {
                break false;
            }
            if child.try_wait().expect("poll").is_some() {
                break true;
            }
            std::thread::yield_now();
        };
        assert!(!finished, "the job finished after {kills} kills, before it could be killed six times");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        kills += 1;
        // Whatever is visible after a kill is complete: every published file equals the reference's.
        let (seen, _) = tree(&target);
        for (name, bytes) in &seen {
            assert_eq!(Some(bytes), want.get(name), "{name} is visible but differs from the uninterrupted run");
        }
    }
    // A stop request (SIGTERM, as SLURM sends before a time limit): the shard being written is finished and
    // recorded, no other starts, and the run exits 75.
    let before = published(&target);
    let mut child = prep_cmd(&args, &[]).stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    eoforge_testkit::wait_for(&mut child, "one more published file", || published(&target) > before);
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(term.success());
    let stopped = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("stopped on request") && stderr.contains("run the same command to continue"), "{stderr}");
    let (seen, staging) = tree(&target);
    assert!(staging.is_empty(), "a stopped run leaves no staging file: {staging:?}");
    assert!(!seen.contains_key("index.json"), "the set is not complete yet");
    for (name, bytes) in &seen {
        assert_eq!(Some(bytes), want.get(name), "{name} is visible but differs from the uninterrupted run");
    }
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join("profile/conversion-0-of-1.json")).expect("profile"))
            .expect("json");
    assert_eq!(profile["stopped"], true, "{profile}");

    let out = prep(&args, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (got, staging) = tree(&target);
    assert!(staging.is_empty(), "staging files left after the final run: {staging:?}");
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    assert!(got == want, "final shards differ from the uninterrupted run");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join("profile/conversion-0-of-1.json")).expect("profile"))
            .expect("json");
    assert!(profile["splits"]["train"]["shards_resumed"].as_u64().unwrap_or(0) > 0, "{profile}");
}

#[test]
fn slurm_array_variables_pick_the_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = dir.path().join("meta.parquet");
    if replicated_catalog(&meta, 24, None).is_none() {
        return;
    }
    let out = dir.path().join("out").display().to_string();
    let args = [
        "shard",
        "--meta",
        &meta.display().to_string(),
        "--out",
        &out,
        "--target-shard-mb",
        "1",
        "--format",
        "webdataset",
    ];
    for id in ["4", "5"] {
        let o =
            prep(&args, &[("SLURM_ARRAY_TASK_ID", id), ("SLURM_ARRAY_TASK_COUNT", "2"), ("SLURM_ARRAY_TASK_MIN", "4")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (files, _) = tree(Path::new(&out));
    assert!(files.contains_key("index.json"), "both halves together complete the job");
    assert!(Path::new(&out).join("profile/conversion-1-of-2.json").is_file());
    let bad = prep(&["shard", "--meta", "x", "--out", &out, "--shard", "2/2"], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2/2"));
}

#[test]
fn converts_from_and_to_a_real_s3_server() {
    let Some(patches) = fixture("bigearthnet/s2") else { return };
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("ben-shards");
    let endpoint = server.endpoint();
    let env = [("AWS_ACCESS_KEY_ID", server.access_key()), ("AWS_SECRET_ACCESS_KEY", server.secret_key())];
    let dir = tempfile::tempdir().expect("tempdir");
    let out = prep(
        &["--s3-endpoint", &endpoint, "cp", "-r", &patches.display().to_string(), "s3://ben-shards/BigEarthNet-v1.0"],
        &env,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s3_meta = dir.path().join("s3.parquet");
    replicated_catalog(&s3_meta, 20, Some("s3://ben-shards/BigEarthNet-v1.0")).expect("catalog");
    let local_meta = dir.path().join("local.parquet");
    replicated_catalog(&local_meta, 20, None).expect("catalog");

    let args = [
        "--s3-endpoint",
        &endpoint,
        "shard",
        "--meta",
        &s3_meta.display().to_string(),
        "--out",
        "s3://ben-shards/shards",
        "--target-shard-mb",
        "2",
    ];
    let out = prep(&args, &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let local = dir.path().join("local");
    let out = prep(
        &[
            "shard",
            "--meta",
            &local_meta.display().to_string(),
            "--out",
            &local.display().to_string(),
            "--target-shard-mb",
            "2",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Reading bands through S3 and writing shards to S3 gives the same bytes as the local run.
    let mut options = StoreOptions::default();
    options.s3.endpoint = Some(endpoint.clone());
    options.s3.access_key_id = Some(server.access_key().into());
    options.s3.secret_access_key = Some(Secret::new(server.secret_key()));
    let store = Store::open_with("s3://ben-shards/shards", &options).expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (want, _) = tree(&local);
    let listed: Vec<String> = rt
        .block_on(store.list(""))
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .filter(|k| !k.starts_with("profile/"))
        .collect();
    assert_eq!(listed, want.keys().cloned().collect::<Vec<_>>());
    for (key, bytes) in &want {
        assert!(&rt.block_on(store.get(key)).expect("get")[..] == bytes.as_slice(), "{key} differs");
    }
}
