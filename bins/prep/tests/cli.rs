//! The `eoforge-prep` binary end to end: real fixtures, local folders and a real S3 server.

use std::path::Path;
use std::process::{Command, Output};

use eoforge_testkit::{S3Server, fixture};

fn prep(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eoforge-prep"));
    cmd.args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("EOFORGE_S3_ENDPOINT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run eoforge-prep")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_explains_the_commands() {
    let out = prep(&["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in ["info", "cp", "s3://", "AWS_ACCESS_KEY_ID", "--s3-endpoint"] {
        assert!(help.contains(needle), "--help lacks {needle}: {help}");
    }
    let out = prep(&["cp", "--help"], &[]);
    assert!(text(&out.stdout).contains("--recursive"));
    let out = prep(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn info_prints_metadata_json() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let out = prep(&["info", "--check-cog", &b04.display().to_string()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["width"], 1098);
    assert_eq!(json["crs"]["epsg"], 32_629);
    assert_eq!(json["bands"][0]["dtype"], "UInt16");
    assert_eq!(json["bands"][0]["nodata"], 0.0);
    assert_eq!(json["cog"]["errors"].as_array().map(Vec::len), Some(0), "{json}");
}

#[test]
fn bad_input_exits_non_zero_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.tif").display().to_string();
    let out = prep(&["info", &missing], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains(&missing), "{}", text(&out.stderr));
    let junk = dir.path().join("junk.tif");
    std::fs::write(&junk, b"GIF89a not a tiff").expect("write");
    let out = prep(&["info", &junk.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("junk.tif"));

    let dest = dir.path().join("out");
    let out = prep(&["cp", &missing, &dest.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.tif"), "{}", text(&out.stderr));
    assert!(!dest.exists(), "nothing is created when the source is missing");
}

#[test]
fn cp_between_local_folders() {
    let Some(patches) = fixture("bigearthnet/s2") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let into = format!("{}/", dir.path().join("single").display());
    let band = patches.join("S2A_MSIL2A_20170617T113321_4_55/S2A_MSIL2A_20170617T113321_4_55_B04.tif");
    let out = prep(&["cp", &band.display().to_string(), &into], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(dir.path().join("single/S2A_MSIL2A_20170617T113321_4_55_B04.tif")).expect("copied"),
        std::fs::read(&band).expect("src")
    );

    let tree = dir.path().join("tree");
    let out = prep(&["cp", "-r", "-j", "4", &patches.display().to_string(), &tree.display().to_string()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("copied 26 object(s)"), "{}", text(&out.stderr));
    assert_same_tree(&patches, &tree);
}

fn assert_same_tree(a: &Path, b: &Path) {
    for entry in std::fs::read_dir(a).expect("list") {
        let p = entry.expect("entry").path();
        let q = b.join(p.file_name().expect("name"));
        if p.is_dir() {
            assert_same_tree(&p, &q);
        } else {
            assert_eq!(std::fs::read(&p).expect("read a"), std::fs::read(&q).unwrap_or_default(), "{}", q.display());
        }
    }
}

#[test]
fn cp_and_info_through_a_real_s3_server() {
    let Some(scene) = fixture("s2-l2a-29RKH") else { return };
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("eo-data");
    let endpoint = server.endpoint();
    let env = [("AWS_ACCESS_KEY_ID", server.access_key()), ("AWS_SECRET_ACCESS_KEY", server.secret_key())];
    let dir = tempfile::tempdir().expect("tempdir");

    let b04 = scene.join("B04.tif").display().to_string();
    let out = prep(&["--s3-endpoint", &endpoint, "cp", &b04, "s3://eo-data/scenes/29RKH/"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = prep(&["--s3-endpoint", &endpoint, "info", "s3://eo-data/scenes/29RKH/B04.tif"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((json["width"].as_u64(), json["crs"]["epsg"].as_u64()), (Some(1098), Some(32_629)));

    let out =
        prep(&["--s3-endpoint", &endpoint, "cp", "-r", &scene.display().to_string(), "s3://eo-data/mirror"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let back = dir.path().join("back");
    let out = prep(&["--s3-endpoint", &endpoint, "cp", "-r", "s3://eo-data/mirror", &back.display().to_string()], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_same_tree(&scene, &back);

    // Wrong credentials: a clear error naming the URL, and the secret appears nowhere, even in trace logs.
    let planted = "planted-cli-secret-0b7e";
    let bad =
        [("AWS_ACCESS_KEY_ID", server.access_key()), ("AWS_SECRET_ACCESS_KEY", planted), ("EOFORGE_LOG", "trace")];
    let out = prep(&["--s3-endpoint", &endpoint, "--retries", "1", "cp", &b04, "s3://eo-data/denied/B04.tif"], &bad);
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out.stderr) + &text(&out.stdout);
    assert!(all.contains("access denied") && all.contains("s3://eo-data/denied/B04.tif"), "{all}");
    assert!(!all.contains(planted), "secret leaked into output");
    let out = prep(&["--s3-endpoint", &endpoint, "info", "s3://eo-data/scenes/29RKH/B04.tif"], &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(!(text(&out.stderr) + &text(&out.stdout)).contains(planted));
}

#[test]
fn gen_metadata_and_check_on_local_patches() {
    let Some(patches) = fixture("bigearthnet") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("s2");
    let out = prep(&["cp", "-r", &patches.join("s2").display().to_string(), &tree.display().to_string()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let meta = dir.path().join("meta.parquet").display().to_string();
    let s1 = patches.join("s1").display().to_string();
    let out = prep(&["gen-metadata", "--scan-s2", &tree.display().to_string(), "--scan-s1", &s1, "--out", &meta], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("wrote 2 patches (2 with Sentinel-1)"), "{}", text(&out.stderr));

    let report = dir.path().join("report.json");
    let out = prep(&["check", "--meta", &meta, "--workers", "4", "--out", &report.display().to_string()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    assert_eq!((json["objects_checked"].as_u64(), json["missing"].as_array().map(Vec::len)), (Some(28), Some(0)));

    let gone = tree.join("S2A_MSIL2A_20170617T113321_4_55/S2A_MSIL2A_20170617T113321_4_55_B03.tif");
    std::fs::remove_file(&gone).expect("plant a missing band");
    let out = prep(&["check", "--meta", &meta, "--out", &report.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(1), "a missing object fails the check");
    assert!(text(&out.stderr).contains("_4_55_B03.tif"), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    assert_eq!(json["missing"][0]["patch_id"], "S2A_MSIL2A_20170617T113321_4_55");
    assert_eq!(json["missing"][0]["column"], "s2_B03");

    let out = prep(&["check", "--meta", &meta, "--frac", "1.5"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = prep(
        &[
            "gen-metadata",
            "--meta",
            &dir.path().join("nope.parquet").display().to_string(),
            "--s2-root",
            "/x",
            "--out",
            &meta,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.parquet"), "{}", text(&out.stderr));
}

#[test]
fn gen_metadata_and_check_against_a_real_s3_server() {
    let Some(patches) = fixture("bigearthnet/s2") else { return };
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("ben-data");
    let endpoint = server.endpoint();
    let env = [("AWS_ACCESS_KEY_ID", server.access_key()), ("AWS_SECRET_ACCESS_KEY", server.secret_key())];
    let dir = tempfile::tempdir().expect("tempdir");

    let out = prep(
        &["--s3-endpoint", &endpoint, "cp", "-r", &patches.display().to_string(), "s3://ben-data/BigEarthNet-v1.0"],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A catalog scanned locally, pointed at the bucket.
    let local_meta = dir.path().join("local.parquet").display().to_string();
    let out = prep(&["gen-metadata", "--scan-s2", &patches.display().to_string(), "--out", &local_meta], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let args = [
        "--s3-endpoint",
        &endpoint,
        "gen-metadata",
        "--meta",
        &local_meta,
        "--s2-root",
        "s3://ben-data/BigEarthNet-v1.0",
        "--layout",
        "v1",
        "--out",
        "s3://ben-data/meta/with-paths.parquet",
    ];
    let out = prep(&args, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let args = [
        "--s3-endpoint",
        &endpoint,
        "check",
        "--meta",
        "s3://ben-data/meta/with-paths.parquet",
        "--out",
        "s3://ben-data/meta/check.json",
    ];
    let out = prep(&args, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Plant two missing keys: both are reported, the report lands on S3, the exit status is 1.
    let mut options = eoforge_storage::StoreOptions::default();
    options.s3.endpoint = Some(endpoint.clone());
    options.s3.access_key_id = Some(server.access_key().into());
    options.s3.secret_access_key = Some(eoforge_storage::Secret::new(server.secret_key()));
    let store = eoforge_storage::Store::open_with("s3://ben-data/BigEarthNet-v1.0", &options).expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for key in [
        "S2A_MSIL2A_20170617T113321_4_55/S2A_MSIL2A_20170617T113321_4_55_B11.tif",
        "S2A_MSIL2A_20170617T113321_36_85/S2A_MSIL2A_20170617T113321_36_85_B02.tif",
    ] {
        rt.block_on(store.delete(key)).expect("delete");
    }
    let out = prep(&args, &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = rt
        .block_on(eoforge_storage::Store::open_with("s3://ben-data/meta", &options).expect("store").get("check.json"))
        .expect("report on S3");
    let json: serde_json::Value = serde_json::from_slice(&report).expect("json");
    let urls: Vec<&str> = json["missing"].as_array().expect("list").iter().filter_map(|m| m["url"].as_str()).collect();
    assert_eq!(urls.len(), 2, "{json}");
    assert!(
        urls.iter().any(|u| u.ends_with("_4_55_B11.tif")) && urls.iter().any(|u| u.ends_with("_36_85_B02.tif")),
        "{urls:?}"
    );
}

#[test]
fn info_survives_a_closed_pipe_and_prints_nan_nodata() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let nan = dir.path().join("nan.tif").display().to_string();
    eoforge_testkit::gdal_tool(
        "gdal_translate",
        &["-q", "-ot", "Float32", "-a_nodata", "nan", &b04.display().to_string(), &nan],
    );
    let out = prep(&["info", &nan], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["bands"][0]["nodata"], "nan", "{json}");

    // `info x | true`: the reader closes the pipe before reading; no panic, no error.
    let mut child = Command::new(env!("CARGO_BIN_EXE_eoforge-prep"))
        .args(["info", &nan])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

#[test]
fn empty_inputs_and_folders_get_clear_errors() {
    let Some(patches) = fixture("bigearthnet/s2") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = dir.path().join("meta.parquet");
    let m = meta.display().to_string();
    for scanned in [dir.path().join("no-such-folder"), dir.path().join("empty")] {
        std::fs::create_dir_all(dir.path().join("empty")).expect("mkdir");
        let out = prep(&["gen-metadata", "--scan-s2", &scanned.display().to_string(), "--out", &m], &[]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("holds no patches"), "{}", text(&out.stderr));
        assert!(!meta.exists(), "no empty catalog is written");
    }

    // Catalogs with no rows, with and without columns (written by pyarrow).
    if let Some(python) = eoforge_testkit::python_with(&["pyarrow"]) {
        for (name, table) in [
            (
                "rows.parquet",
                "pa.table({'patch_id': pa.array([], pa.string()), 'labels': pa.array([], pa.list_(pa.string()))})",
            ),
            ("columns.parquet", "pa.table({})"),
        ] {
            let path = dir.path().join(name);
            let script =
                format!("import pyarrow as pa, pyarrow.parquet as pq; pq.write_table({table}, r'{}')", path.display());
            let status = std::process::Command::new(&python).args(["-c", &script]).status().expect("python");
            assert!(status.success());
            let out = prep(&["check", "--meta", &path.display().to_string()], &[]);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
            assert!(
                text(&out.stderr).contains(name) && text(&out.stderr).contains("holds no patches"),
                "{}",
                text(&out.stderr)
            );
        }
    }

    let out = prep(&["gen-metadata", "--scan-s2", &patches.display().to_string(), "--out", &m], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shards = dir.path().join("shards").display().to_string();
    let out = prep(&["shard", "--meta", &m, "--out", &shards, "--split-ratios", "0.8,0.2"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--split-ratios") && text(&out.stderr).contains("three"),
        "{}",
        text(&out.stderr)
    );

    let out = prep(&["cp", &patches.display().to_string(), &dir.path().join("copy").display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is a folder") && text(&out.stderr).contains("--recursive"),
        "{}",
        text(&out.stderr)
    );
}
