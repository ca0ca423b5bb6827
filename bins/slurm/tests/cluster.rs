//! `eoforge-slurm` on a real single-node SLURM cluster (`scripts/slurm.sh`: slurmctld, slurmd, munge, slurmdbd on
//! MariaDB), with the real stages:
//! - an emitted 4-task array converts the BigEarthNet fixtures; a task made to fail is reported by `status` with
//!   the exact `--array=` to resubmit, and after the fix the resubmitted task completes a set byte-identical to one
//!   local run;
//! - a three-stage chain (windows → a short CPU training → predict) runs in order; its training is sent SIGTERM
//!   mid-run, requeues itself and ends with weights byte-identical to an uninterrupted run;
//! - a many-scene window set (embedding tiles over CDL) as a 2-task array plus a merge stage: both tasks are stopped
//!   mid-scene by SLURM's signal, requeue, resume, and the set equals a one-process build byte for byte;
//! - a failed first stage cancels the rest of its chain;
//! - an area pipeline over 29RKH runs as arrays of tile tasks around its merge-and-train job and gives the map,
//!   model and scores of one local run, byte for byte;
//! - planted secrets, passed by name, appear in no emitted script, log, record or profile.
//!
//! The daemons listen on fixed ports, so everything runs in one test on one cluster, stopped by pid at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eoforge_catalog::{Catalog, scan_bigearthnet_v1, write_parquet};
use eoforge_storage::Store;
use eoforge_testkit::{SlurmCluster, embedding_tiles, files_under as tree, fixture};

const AWS_SECRET: &str = "planted-aws-secret-W7x2Qp";
const DATABASE_URL: &str = "postgres://eoforge:planted-db-password-9Kd@db.example.org/eo";

/// Another binary of the workspace, built beside this package's (`cargo test --workspace` builds them all).
fn bin(name: &str) -> String {
    let path = Path::new(env!("CARGO_BIN_EXE_eoforge-slurm")).with_file_name(name);
    assert!(path.is_file(), "{} is not built: run `cargo test --workspace`", path.display());
    path.display().to_string()
}

/// `eoforge-slurm` against the cluster, with the planted secrets in its environment (as a user's shell has them).
fn slurm(cluster: &SlurmCluster, args: &[&str]) -> Output {
    cluster
        .command(env!("CARGO_BIN_EXE_eoforge-slurm"))
        .args(args)
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("DATABASE_URL", DATABASE_URL)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .output()
        .expect("run eoforge-slurm")
}

/// `eoforge-slurm emit --pipeline FILE --submit --wait` into `jobs`.
fn emit_submit_wait(cluster: &SlurmCluster, jobs: &Path, file: &Path) -> Output {
    let (jobs, file) = (jobs.to_str().expect("utf-8"), file.to_str().expect("utf-8"));
    slurm(cluster, &["emit", "--out", jobs, "--pipeline", file, "--submit", "--wait"])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn status(cluster: &SlurmCluster, dir: &Path) -> serde_json::Value {
    let o = slurm(cluster, &["status", "--json", "--wait", dir.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("status json")
}

fn stage<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["stages"].as_array().expect("stages").iter().find(|s| s["stage"] == name).expect("stage")
}

fn ids(value: &serde_json::Value) -> Vec<u64> {
    value.as_array().expect("ids").iter().filter_map(serde_json::Value::as_u64).collect()
}

/// Every task record (the latest and every attempt) of a stage.
fn attempts(dir: &Path, stage: &str, task: u32) -> Vec<serde_json::Value> {
    let path = dir.join(format!("tasks/{stage}/{task}.attempts.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("record json"))
        .collect()
}

/// A catalog of the real patches replicated to `n` ids, one band of patch 5 read from `broken` instead.
fn catalog_with_one_patch_from(path: &Path, n: usize, broken: &Path) -> Option<PathBuf> {
    let s2 = fixture("bigearthnet/s2")?;
    let store = Store::open(&s2.display().to_string()).expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let base = rt.block_on(scan_bigearthnet_v1(&store, None, 4)).expect("scan");
    let mut original = None;
    let mut records = Vec::new();
    for i in 0..n {
        let mut r = base.records[i % 2].clone();
        r.patch_id = format!("{}_copy{i:05}", r.patch_id);
        if i == 5 {
            let (band, url) = r.paths.iter().next().map(|(b, u)| (b.clone(), u.clone())).expect("a band");
            let local = url.trim_start_matches("file://").to_owned();
            original = Some(PathBuf::from(local));
            let replaced = if url.starts_with("file://") {
                format!("file://{}", broken.display())
            } else {
                broken.display().to_string()
            };
            r.paths.insert(band, replaced);
        }
        records.push(r);
    }
    let catalog = Catalog { source: "replicated".into(), records };
    std::fs::write(path, write_parquet(&[catalog.to_batch().expect("batch")]).expect("parquet")).expect("write");
    original
}

#[test]
fn pipelines_run_on_a_real_slurm_cluster() {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let broken = w.join("band-of-patch-5.tif");
    let meta = w.join("meta.parquet");
    let Some(original_band) = catalog_with_one_patch_from(&meta, 24, &broken) else { return };
    let (Some(ndvi), Some(lulc)) =
        (fixture("labels/eolearn_TestEOPatch_NDVI_68dates.tif"), fixture("labels/eolearn_TestEOPatch_LULC.tif"))
    else {
        return;
    };
    let Some(cluster) = SlurmCluster::start() else { return };

    array_conversion_with_a_failed_task_resubmitted(&cluster, w, &meta, &broken, &original_band);
    chain_with_a_stopped_and_requeued_training(&cluster, w, &ndvi, &lulc);
    window_set_array_stopped_and_resumed(&cluster, w);
    a_failed_first_stage_cancels_the_chain(&cluster, w, &ndvi);
    area_pipeline_as_arrays(&cluster, w);

    // No planted secret anywhere: scripts, submit.sh, pipeline.json, jobs.json, SLURM's logs, task records,
    // merged profiles, the stages' own outputs.
    let mut stack = vec![w.to_owned()];
    let mut scanned = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).expect("read");
            let found = |s: &str| bytes.windows(s.len()).any(|win| win == s.as_bytes());
            assert!(!found(AWS_SECRET) && !found("planted-db-password"), "a secret in {}", p.display());
            scanned += 1;
        }
    }
    assert!(scanned > 50, "{scanned} files scanned");
}

fn array_conversion_with_a_failed_task_resubmitted(
    cluster: &SlurmCluster,
    w: &Path,
    meta: &Path,
    broken: &Path,
    original_band: &Path,
) {
    let prep = bin("eoforge-prep");
    let convert = |out: &Path| -> Vec<String> {
        [prep.as_str(), "shard", "--meta", meta.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]
            .into_iter()
            .chain(["--target-shard-mb", "1", "--format", "webdataset", "--on-error", "fail"])
            .map(str::to_owned)
            .collect()
    };
    // The reference: one local run with every file present.
    std::fs::copy(original_band, broken).expect("copy the band");
    let local = w.join("local-shards");
    let args = convert(&local);
    let o = Command::new(&args[0]).args(&args[1..]).env_remove("SLURM_ARRAY_TASK_ID").output().expect("local run");
    assert!(o.status.success(), "{}", text(&o.stderr));

    // On the cluster, with one band file gone: the task owning patch 5 fails, the others complete.
    std::fs::remove_file(broken).expect("break patch 5");
    let jobs = w.join("jobs-convert");
    let shards = w.join("slurm-shards");
    let mut emit: Vec<String> = ["emit", "--out", jobs.to_str().expect("utf-8"), "--name", "convert"]
        .into_iter()
        .chain(["--array", "4", "--array-base", "1", "--throttle", "2", "--time", "00:30:00"])
        .chain(["--pass-env", "AWS_SECRET_ACCESS_KEY,DATABASE_URL", "--submit", "--wait", "--"])
        .map(str::to_owned)
        .collect();
    emit.extend(convert(&shards));
    let o = slurm(cluster, &emit.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1), "one task fails: {}\n{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stderr).contains("did not complete"), "{}", text(&o.stderr));

    let st = status(cluster, &jobs);
    let convert_status = stage(&st, "convert");
    let failed = ids(&convert_status["failed"]);
    assert_eq!(failed.len(), 1, "{st}");
    assert_eq!(ids(&convert_status["done"]).len(), 3, "{st}");
    let task = failed[0];
    assert_eq!(convert_status["resubmit"], task.to_string(), "{st}");
    assert_eq!(st["sacct"], true);
    let failed_task = &convert_status["tasks"].as_array().expect("tasks")[(task - 1) as usize];
    assert_eq!((failed_task["exit_code"].as_i64(), failed_task["slurm"].as_str()), (Some(1), Some("FAILED")), "{st}");
    // Its log names the missing file.
    let log: String = std::fs::read_dir(jobs.join("logs"))
        .expect("logs")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(&format!("_{task}.err")))
        .map(|e| std::fs::read_to_string(e.path()).expect("log"))
        .collect();
    assert!(log.contains("band-of-patch-5.tif"), "task {task}'s log: {log}");
    let table = slurm(cluster, &["status", jobs.to_str().expect("utf-8")]);
    assert!(
        text(&table.stdout).contains(&format!("--stage convert --array {task}"))
            && text(&table.stdout).contains(&format!("sbatch --array={task} ")),
        "{}",
        text(&table.stdout)
    );

    // Fixed and resubmitted as printed: the set completes, byte-identical to the local run.
    std::fs::copy(original_band, broken).expect("repair patch 5");
    let o = slurm(
        cluster,
        &["submit", jobs.to_str().expect("utf-8"), "--stage", "convert", "--array", &task.to_string(), "--wait"],
    );
    assert!(o.status.success(), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let st = status(cluster, &jobs);
    assert_eq!(ids(&stage(&st, "convert")["done"]), vec![1, 2, 3, 4], "{st}");
    assert!(stage(&st, "convert")["resubmit"].is_null(), "{st}");
    let (slurm_files, local_files) = (tree(&shards), tree(&local));
    assert_eq!(slurm_files.keys().collect::<Vec<_>>(), local_files.keys().collect::<Vec<_>>(), "the same files");
    assert!(slurm_files == local_files, "the union of the 4 tasks is byte-identical to the local run");
    assert!(shards.join("index.json").is_file(), "the last task wrote the index");

    // The merged profile: every task's patches, the slowest task, core-hours.
    let o = slurm(cluster, &["profile", jobs.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(jobs.join("profile.json")).expect("profile")).expect("json");
    let p = &profile["stages"][0];
    assert_eq!(p["tasks"].as_array().map(Vec::len), Some(4), "{profile}");
    // The work of each task's last attempt, as the conversion's own per-part profiles count it (the resubmitted
    // task converted only what its failed attempt had not finished).
    let converted: f64 = (0..4)
        .map(|i| {
            let part: serde_json::Value = serde_json::from_slice(
                &std::fs::read(shards.join(format!("profile/conversion-{i}-of-4.json"))).expect("part profile"),
            )
            .expect("json");
            part["patches_converted"].as_f64().expect("patches")
        })
        .sum();
    assert_eq!((p["work"].as_f64(), p["work_unit"].as_str()), (Some(converted), Some("patches")), "{profile}");
    assert!(converted > 0.0 && converted <= 24.0);
    assert!(p["slowest_task"].is_array() && p["core_hours"].as_f64().is_some_and(|h| h > 0.0), "{profile}");
    assert_eq!(p["tasks"][(task - 1) as usize]["attempts"], 2, "the failed attempt and the resubmitted one: {profile}");
}

const TRAINING: &str = r#"
batch_size = 4
shuffle_buffer = 8
augment = false
epochs = 20
lr = 0.01
warmup_steps = 4
min_lr = 0.0001
weight_decay = 0.0001
clip_norm = 1.0
checkpoint_every = 5
seed = 3

[model]
kind = "unet"
in_channels = 68
depth = 2
base_width = 8
norm = { kind = "group", groups = 4 }
"#;

fn chain_with_a_stopped_and_requeued_training(cluster: &SlurmCluster, w: &Path, ndvi: &Path, lulc: &Path) {
    let config = w.join("unet.toml");
    std::fs::write(&config, TRAINING).expect("config");
    let (shards, run, map) = (w.join("chain/shards"), w.join("chain/run"), w.join("chain/landuse.tif"));
    let s = |p: &Path| format!("\"{}\"", p.display());
    let pipeline = format!(
        r#"
name = "landuse"
[defaults]
time = "00:30:00"
pass_env = ["AWS_SECRET_ACCESS_KEY", "DATABASE_URL"]
tmpdir = "{tmp}/$SLURM_JOB_ID"

[[stage]]
name = "windows"
command = ["{prep}", "windows", "--scene", {ndvi}, "--labels", {lulc}, "--size", "16", "--block", "1",
           "--split-ratios", "0.7,0.3,0", "--seed", "2", "--ignore", "0", "--samples-per-shard", "8", "--out", {shards}]

[[stage]]
name = "train"
command = ["{train}", "fit", "--data", {shards}, "--out", {run}, "--config", {config}]
requeue_on_stop = 2

[[stage]]
name = "predict"
command = ["{infer}", "predict", {ndvi}, {map}, "--model", {run}, "--window", "32", "--halo", "8", "--blocksize", "256"]
"#,
        tmp = w.join("tmp").display(),
        prep = bin("eoforge-prep"),
        train = bin("eoforge-train"),
        infer = bin("eoforge-infer"),
        ndvi = s(ndvi),
        lulc = s(lulc),
        shards = s(&shards),
        run = s(&run),
        config = s(&config),
        map = s(&map),
    );
    let file = w.join("landuse.toml");
    std::fs::write(&file, pipeline).expect("pipeline");
    let jobs = w.join("jobs-landuse");
    let o = slurm(
        cluster,
        &["emit", "--out", jobs.to_str().expect("utf-8"), "--pipeline", file.to_str().expect("utf-8"), "--submit"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let submitted: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(jobs.join("jobs.json")).expect("jobs.json")).expect("json");
    let job = |name: &str| {
        submitted.iter().find(|s| s["stage"] == name).expect("submitted")["job_id"].as_str().expect("id").to_owned()
    };
    assert_eq!(submitted[1]["after"], serde_json::json!([job("windows")]));
    assert_eq!(submitted[2]["after"], serde_json::json!([job("train")]));

    // Visible progress: the training's first checkpoint. Then SLURM's warning, as at a time limit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while !run.join("checkpoints/latest").is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint; status: {}",
            text(&slurm(cluster, &["status", jobs.to_str().expect("utf-8")]).stdout)
        );
        std::thread::yield_now();
    }
    let train_job = job("train");
    let o = cluster.command("scancel").args(["--signal=TERM", "--batch", &train_job]).output().expect("scancel");
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The stage wrote its checkpoint and exited 75; the script recorded it and requeued the job.
    while !attempts(&jobs, "train", 0).first().is_some_and(|a| a["state"] == "requeued") {
        assert!(std::time::Instant::now() < deadline, "no requeue: {:?}", attempts(&jobs, "train", 0));
        std::thread::yield_now();
    }
    // SLURM holds a requeued job for two minutes before it may start again; once it is pending, release it now.
    release_when_pending(cluster, &train_job, deadline);

    let st = status(cluster, &jobs);
    for name in ["windows", "train", "predict"] {
        assert_eq!(ids(&stage(&st, name)["done"]), vec![0], "{name}: {st}");
    }
    let train = attempts(&jobs, "train", 0);
    assert_eq!(train.len(), 2, "{train:?}");
    assert_eq!((train[0]["exit_code"].as_i64(), train[0]["restarts"].as_u64()), (Some(75), Some(0)), "{train:?}");
    assert_eq!(train[0]["run"]["exit_code"], 75, "the stage's own record says it stopped: {train:?}");
    assert_eq!((train[1]["state"].as_str(), train[1]["restarts"].as_u64()), (Some("done"), Some(1)), "{train:?}");
    // In order: each stage started after the one before it ended.
    let windows = attempts(&jobs, "windows", 0);
    let predict = attempts(&jobs, "predict", 0);
    let at = |v: &serde_json::Value, k: &str| v[k].as_f64().expect("seconds");
    assert!(at(&windows[0], "ended") <= at(&train[0], "started"), "{windows:?} {train:?}");
    assert!(at(&train[1], "ended") <= at(&predict[0], "started"), "{train:?} {predict:?}");
    assert!(train[1]["run"]["work"]["unit"] == "samples", "{train:?}");
    let log: String = std::fs::read_dir(jobs.join("logs"))
        .expect("logs")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(&format!("landuse-train_{train_job}")))
        .map(|e| std::fs::read_to_string(e.path()).expect("log"))
        .collect();
    assert!(log.contains("SIGTERM received") && log.contains("requeueing (restart 1 of 2)"), "{log}");

    // The weights equal those of an uninterrupted run on the same shards.
    let local = w.join("chain/local-run");
    let o = Command::new(bin("eoforge-train"))
        .args(["fit", "--data", shards.to_str().expect("utf-8"), "--out", local.to_str().expect("utf-8")])
        .args(["--config", config.to_str().expect("utf-8")])
        .output()
        .expect("local fit");
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Compared tensor by tensor through the safetensors export (model.mpk files carry per-process parameter ids).
    let weights = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        let file = dir.with_extension("safetensors");
        let o = Command::new(bin("eoforge-train"))
            .args(["export", "--run", dir.to_str().expect("utf-8"), "--out", file.to_str().expect("utf-8")])
            .output()
            .expect("export");
        assert!(o.status.success(), "{}", text(&o.stderr));
        let bytes = std::fs::read(&file).expect("read the export");
        let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
        tensors.tensors().into_iter().map(|(name, view)| (name, view.data().to_vec())).collect()
    };
    let (requeued, uninterrupted) = (weights(&run), weights(&local));
    assert!(requeued.len() > 10 && requeued.keys().eq(uninterrupted.keys()), "{:?}", requeued.keys());
    assert!(requeued == uninterrupted, "the requeued run's weights equal the uninterrupted run's, bit for bit");

    // The map is a valid COG that passed QC.
    let (valid, report) = eoforge_testkit::gdal_cog_validator(&map);
    assert!(valid, "{report}");
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("chain/landuse.tif.qc.json")).expect("qc")).expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
}

/// SLURM's state of a job (`JobId` or `ArrayJobId_Task`), empty once it left the queue.
fn job_state(cluster: &SlurmCluster, job: &str) -> String {
    let o = cluster.command("squeue").args(["-h", "-o", "%T", "-j", job]).output().expect("squeue");
    text(&o.stdout).trim().to_owned()
}

/// What SLURM says of a job and what its controller logged last, for a failure's message.
fn diagnose(cluster: &SlurmCluster, job: &str) -> String {
    let o = cluster.command("scontrol").args(["show", "job", job]).output().expect("scontrol");
    let q = cluster.command("squeue").args(["-h", "-o", "%i %T %r %S"]).output().expect("squeue");
    let log = std::fs::read_to_string(cluster.dir().join("log/slurmctld.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("{}\nqueue:\n{}\nslurmctld:\n{}", text(&o.stdout), text(&q.stdout), tail.join("\n"))
}

/// Lets a pending job start now (SLURM holds a requeued job for two minutes); one that started meanwhile is left.
fn release(cluster: &SlurmCluster, job: &str) {
    let o = cluster
        .command("scontrol")
        .args(["update", &format!("JobId={job}"), "StartTime=now"])
        .output()
        .expect("scontrol");
    // It may have started meanwhile: then there is nothing left to release.
    assert!(o.status.success() || text(&o.stderr).contains("no longer pending"), "{}", text(&o.stderr));
}

/// Releases a requeued job once it is pending, in a later second than its requeue: slurmd revokes the old run's
/// credential at the requeue and refuses any credential issued in the same second (its clock counts whole seconds),
/// so a job released and scheduled within that second fails to launch ("Job credential revoked").
fn release_when_pending(cluster: &SlurmCluster, job: &str, deadline: std::time::Instant) {
    while job_state(cluster, job) != "PENDING" {
        assert!(
            std::time::Instant::now() < deadline,
            "the requeued job {job} is not pending: {}",
            diagnose(cluster, job)
        );
        std::thread::yield_now();
    }
    let unix_s = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let requeued_by = unix_s();
    while unix_s() < requeued_by + 2 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    release(cluster, job);
}

fn window_set_array_stopped_and_resumed(cluster: &SlurmCluster, w: &Path) {
    let dir = w.join("embeddings");
    std::fs::create_dir_all(&dir).expect("dir");
    // Eight 800 x 800 tiles: seconds of work per task, so both are caught mid-set.
    let Some(tiles) = embedding_tiles(&dir, 800, 800, 4) else { return };
    let list = dir.join("scenes.txt");
    let lines: Vec<String> = tiles.tiles.iter().map(|t| format!("{} {}", t.display(), tiles.cdl.display())).collect();
    let lines = lines.join("\n");
    std::fs::write(&list, lines).expect("list");
    let (set, local) = (dir.join("set"), dir.join("local"));
    let prep = bin("eoforge-prep");
    let windows = |out: &Path| -> Vec<String> {
        [prep.as_str(), "windows", "--catalog", list.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]
            .into_iter()
            .chain(["--size", "16", "--samples-per-shard", "16", "--block", "2"])
            .map(str::to_owned)
            .collect()
    };
    let toml_list = |args: &[String]| args.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
    let mut merge = windows(&set);
    merge.push("--merge".into());
    let pipeline = format!(
        r#"
name = "embeddings"
[defaults]
time = "00:30:00"
cpus = 1
pass_env = ["AWS_SECRET_ACCESS_KEY", "DATABASE_URL"]
requeue_on_stop = 1

[[stage]]
name = "windows"
array = 2
command = [{windows}]

[[stage]]
name = "merge"
command = [{merge}]
"#,
        windows = toml_list(&windows(&set)),
        merge = toml_list(&merge),
    );
    let file = w.join("embeddings.toml");
    std::fs::write(&file, pipeline).expect("pipeline");
    let jobs = w.join("jobs-embeddings");
    let o = slurm(
        cluster,
        &["emit", "--out", jobs.to_str().expect("utf-8"), "--pipeline", file.to_str().expect("utf-8"), "--submit"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let submitted: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(jobs.join("jobs.json")).expect("jobs.json")).expect("json");
    let array_job = submitted[0]["job_id"].as_str().expect("id").to_owned();

    // Visible progress: a shard of a part's first scene. Each part is paused as soon as it shows it (three of its
    // four scenes still to cut, however late the other part started), then both are sent SLURM's signal (the script
    // forwards it to the stage) and resumed, so the stop lands mid-set whatever the machine's speed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let poll = || std::thread::sleep(std::time::Duration::from_millis(20));
    let started = |scene: u32| {
        std::fs::read_dir(set.join("train"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(&format!("-s{scene:05}-")))
    };
    // The stage process of array task `task`: its command line names the set, its environment the task.
    let stage_of = |task: u32| -> Option<String> {
        let pgrep = Command::new("pgrep").args(["-f", set.to_str().expect("utf-8")]).output().expect("pgrep");
        text(&pgrep.stdout).split_whitespace().map(str::to_owned).find(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ.split(|b| *b == 0).any(|v| v == format!("SLURM_ARRAY_TASK_ID={task}").as_bytes())
        })
    };
    let kill = |sig: &str, pid: &str| {
        let o = Command::new("kill").args([sig, pid]).output().expect("kill");
        assert!(o.status.success(), "kill {sig} {pid}: {}", text(&o.stderr));
    };
    let mut pids: Vec<Option<String>> = vec![None, None];
    while pids.iter().any(Option::is_none) {
        assert!(std::time::Instant::now() < deadline, "no shard of both parts' first scenes: {pids:?}");
        for (task, pid) in (0u32..).zip(pids.iter_mut()) {
            if pid.is_none() && started(task) {
                *pid = stage_of(task);
                if let Some(pid) = pid {
                    kill("-STOP", pid);
                }
            }
        }
        poll();
    }
    let pids: Vec<String> = pids.into_iter().flatten().collect();
    let manifests = std::fs::read_dir(set.join("_manifest")).map_or(0, Iterator::count);
    assert!(manifests < tiles.tiles.len(), "the set was finished before the stop");
    let o = cluster.command("scancel").args(["--signal=TERM", "--batch", &array_job]).output().expect("scancel");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let forwarded = || -> usize {
        std::fs::read_dir(jobs.join("logs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default().matches("SIGTERM received").count())
            .sum()
    };
    while forwarded() < 2 {
        assert!(std::time::Instant::now() < deadline, "the scripts did not forward the signal");
        poll();
    }
    for pid in &pids {
        kill("-CONT", pid);
    }
    for task in 0..2 {
        while !attempts(&jobs, "windows", task).first().is_some_and(|a| a["state"] == "requeued") {
            assert!(
                std::time::Instant::now() < deadline,
                "task {task}: {:?}\nmanifests: {:?}\n{}",
                attempts(&jobs, "windows", task),
                tree(&set.join("_manifest")).keys().collect::<Vec<_>>(),
                diagnose(cluster, &format!("{array_job}_{task}"))
            );
            poll();
        }
        release_when_pending(cluster, &format!("{array_job}_{task}"), deadline);
    }
    // Both reruns finish; the merge stage starts after them. SLURM may set a requeued task's begin time again after
    // it was released: while it still waits, it is released again.
    for task in 0..2 {
        let job = format!("{array_job}_{task}");
        while attempts(&jobs, "windows", task).get(1).is_none_or(|a| a["state"] != "done") {
            assert!(
                std::time::Instant::now() < deadline,
                "task {task}: {:?}\n{}",
                attempts(&jobs, "windows", task),
                diagnose(cluster, &job)
            );
            if job_state(cluster, &job) == "PENDING" {
                release(cluster, &job);
            }
            poll();
        }
    }
    // The task's record is written before its job ends: until SLURM has it ended too, status says "running".
    let mut st = status(cluster, &jobs);
    while attempts(&jobs, "merge", 0).is_empty() || stage(&st, "merge")["done"].as_array().is_none_or(Vec::is_empty) {
        assert!(std::time::Instant::now() < deadline, "the merge stage did not end: {st}");
        poll();
        st = status(cluster, &jobs);
    }
    assert_eq!(ids(&stage(&st, "windows")["done"]), vec![0, 1], "{st}");
    assert_eq!(ids(&stage(&st, "merge")["done"]), vec![0], "{st}");
    let merged = &attempts(&jobs, "merge", 0)[0];
    for task in 0..2 {
        let rerun = &attempts(&jobs, "windows", task)[1];
        assert!(
            rerun["ended"].as_f64() <= merged["started"].as_f64(),
            "the merge started before task {task} ended: {rerun} {merged}"
        );
    }
    for task in 0..2 {
        let runs = attempts(&jobs, "windows", task);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!((runs[0]["exit_code"].as_i64(), runs[1]["state"].as_str()), (Some(75), Some("done")), "{runs:?}");
        assert_eq!(runs[1]["run"]["work"]["unit"], "windows", "{runs:?}");
    }

    // One local process builds the same set, byte for byte.
    let args = windows(&local);
    let o = Command::new(&args[0]).args(&args[1..]).env_remove("SLURM_ARRAY_TASK_ID").output().expect("local run");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (slurm_files, local_files) = (tree(&set), tree(&local));
    assert!(slurm_files.contains_key("index.json") && slurm_files.len() > 20, "{:?}", slurm_files.keys());
    assert_eq!(slurm_files.keys().collect::<Vec<_>>(), local_files.keys().collect::<Vec<_>>(), "the same files");
    assert!(slurm_files == local_files, "the stopped, requeued 2-task set equals the one-process set");
}

fn a_failed_first_stage_cancels_the_chain(cluster: &SlurmCluster, w: &Path, ndvi: &Path) {
    let missing = w.join("no-such-scene.tif");
    let out = w.join("broken-chain");
    let pipeline = format!(
        r#"
name = "broken"
[defaults]
time = "00:10:00"

[[stage]]
name = "windows"
command = ["{prep}", "windows", "--scene", "{missing}", "--labels", "{missing}", "--size", "16", "--out", "{out}/shards"]

[[stage]]
name = "train"
command = ["{train}", "fit", "--data", "{out}/shards", "--out", "{out}/run", "--epochs", "1"]

[[stage]]
name = "predict"
command = ["{infer}", "predict", "{ndvi}", "{out}/map.tif", "--model", "{out}/run"]
"#,
        prep = bin("eoforge-prep"),
        train = bin("eoforge-train"),
        infer = bin("eoforge-infer"),
        missing = missing.display(),
        out = out.display(),
        ndvi = ndvi.display(),
    );
    let file = w.join("broken.toml");
    std::fs::write(&file, pipeline).expect("pipeline");
    let jobs = w.join("jobs-broken");
    let o = emit_submit_wait(cluster, &jobs, &file);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let st = status(cluster, &jobs);
    assert_eq!(stage(&st, "windows")["tasks"][0]["state"], "failed", "{st}");
    for name in ["train", "predict"] {
        let task = &stage(&st, name)["tasks"][0];
        assert_eq!(
            (task["state"].as_str(), task["slurm"].as_str()),
            (Some("cancelled"), Some("CANCELLED")),
            "{name}: {st}"
        );
        assert!(!jobs.join(format!("tasks/{name}/0.json")).exists(), "{name} never ran");
    }
    assert!(!out.join("run").exists() && !out.join("map.tif").exists());
}

/// The 29RKH area pipeline as SLURM arrays: tile stages over 3 tasks, merge and train once, prediction over 2 tasks,
/// export once; the result equals one local run of the same config.
fn area_pipeline_as_arrays(cluster: &SlurmCluster, w: &Path) {
    let Some(fixtures) = eoforge_testkit::fixtures() else { return };
    let config = eoforge_testkit::workspace_root().join("examples/area/29rkh.toml");
    let area = bin("eoforge-area");
    let run = |out: &Path, stages: &str| {
        format!(
            r#"["{area}", "run", "{}", "--var", "out={}", "--stages", "{stages}"]"#,
            config.display(),
            out.display()
        )
    };
    let out = w.join("area-cluster");
    let pipeline = format!(
        r#"
name = "area"
[defaults]
time = "00:20:00"
env = {{ EOFORGE_FIXTURES = "{fixtures}" }}

[[stage]]
name = "tiles"
array = 3
command = {tiles}

[[stage]]
name = "model"
command = {model}

[[stage]]
name = "predict"
array = 2
command = {predict}

[[stage]]
name = "export"
command = {export}
"#,
        fixtures = fixtures.display(),
        tiles = run(&out, "inputs,features,reference,sample"),
        model = run(&out, "merge,train"),
        predict = run(&out, "predict"),
        export = run(&out, "export"),
    );
    let file = w.join("area.toml");
    std::fs::write(&file, pipeline).expect("pipeline");
    let jobs = w.join("jobs-area");
    let o = emit_submit_wait(cluster, &jobs, &file);
    assert!(o.status.success(), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let st = status(cluster, &jobs);
    assert_eq!(ids(&stage(&st, "tiles")["done"]), vec![0, 1, 2], "{st}");
    assert_eq!(ids(&stage(&st, "predict")["done"]), vec![0, 1], "{st}");
    for name in ["model", "export"] {
        assert_eq!(ids(&stage(&st, name)["done"]), vec![0], "{name}: {st}");
    }
    // Each tile task did its third of the tiles, and all of them together cover the grid once.
    let reports: Vec<serde_json::Value> = std::fs::read_dir(out.join("29rkh/runs"))
        .expect("runs")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-of-3"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path().join("report.json")).expect("report")).expect("json"))
        .collect();
    assert_eq!(reports.len(), 3);
    let tiles = reports[0]["grid_tiles"].as_u64().expect("tiles");
    let inputs: u64 = reports
        .iter()
        .map(|r| {
            let stages = r["stages"].as_array().expect("stages");
            stages.iter().find(|s| s["stage"] == "inputs").expect("inputs")["done"].as_u64().expect("done")
        })
        .sum();
    assert_eq!(inputs, tiles);

    let local = w.join("area-local");
    let o = Command::new(&area)
        .args(["run", config.to_str().expect("utf-8"), "--var", &format!("out={}", local.display())])
        .env("EOFORGE_FIXTURES", &fixtures)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("EOFORGE_SHARD")
        .output()
        .expect("local run");
    assert!(o.status.success(), "{}", text(&o.stderr));
    for file in ["maps/scl_model_29N.tif", "model/model.json", "model/metrics.json", "training/samples.parquet"] {
        let read = |root: &Path| std::fs::read(root.join("29rkh").join(file)).expect(file);
        assert!(read(&out) == read(&local), "{file} differs from a local run");
    }
}
