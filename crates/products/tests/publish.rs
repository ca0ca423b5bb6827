//! Publishing real products: once, idempotently by content and options, never what failed, and a working folder
//! that a killed run leaves is removed by the next.

use std::path::{Path, PathBuf};

use eoforge_products::{Existing, ProductSet, Published, WorkDir, existing, publish_file};
use eoforge_profile::Stages;
use eoforge_qc::{QcConfig, run_qc};
use eoforge_storage::{Store, StoreOptions};
use eoforge_testkit::fixture;
use serde_json::{Map, Value, json};

/// A COG of the real B04 band (or of a crop of it, `rows` high) in `dir`.
fn cog(dir: &Path, name: &str, rows: usize) -> Option<PathBuf> {
    let b04 = fixture("s2-l2a-29RKH/B04.tif")?;
    let crop = dir.join(format!("{name}.src.tif"));
    let crop_s = crop.display().to_string();
    let rows = rows.to_string();
    eoforge_testkit::gdal_tool("gdal_translate", &["-q", "-srcwin", "0", "0", "1098", &rows, b04.to_str()?, &crop_s]);
    let out = dir.join(format!("{name}.tif"));
    eoforge_raster::translate_to_cog(
        &crop_s,
        &StoreOptions::default(),
        &out,
        &eoforge_raster::CogWriterOptions::default(),
    )
    .expect("cog");
    Some(out)
}

fn options(model: &str) -> Map<String, Value> {
    json!({ "model": model, "scale": 1 }).as_object().cloned().unwrap_or_default()
}

#[test]
fn a_product_is_published_once_by_content_and_options() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(good) = cog(dir.path(), "good", 1098) else { return };
    let report = run_qc(&good, &QcConfig::default(), &std::collections::BTreeMap::new()).expect("qc");
    assert!(report.passed, "{}", report.failures());
    let dest = dir.path().join("maps/B04.tif").display().to_string();
    let so = StoreOptions::default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let publish = |file: &Path, opts: &Map<String, Value>, force| {
        rt.block_on(publish_file(file, &dest, &report, opts, force, false, &so))
    };
    assert_eq!(publish(&good, &options("identity"), false).expect("publish"), Published::Uploaded);
    assert_eq!(std::fs::read(&dest).expect("read"), std::fs::read(&good).expect("read"));
    let record: Value =
        serde_json::from_slice(&std::fs::read(format!("{dest}.qc.json")).expect("record")).expect("json");
    assert_eq!(record["passed"], true);
    assert_eq!(record["product"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(record["product"]["options"]["model"], "identity");
    assert_eq!(publish(&good, &options("identity"), false).expect("again"), Published::AlreadyThere);

    let (store, key) = Store::open_object(&dest, &so).expect("store");
    assert!(matches!(rt.block_on(existing(&store, &key, &options("identity"))).expect("judge"), Existing::Current(_)));
    // Other options: refused without force, named.
    let err = publish(&good, &options("upsample"), false).expect_err("options changed");
    assert!(err.to_string().contains("model") && err.to_string().contains("upsample"), "{err}");
    assert!(matches!(
        rt.block_on(existing(&store, &key, &options("upsample"))).expect("judge"),
        Existing::OptionsChanged(d) if d.contains("identity")
    ));
    assert_eq!(publish(&good, &options("upsample"), true).expect("forced"), Published::Uploaded);

    // Same size, other bytes (a product rewritten behind the record's back): stale, replaced.
    let mut bytes = std::fs::read(&dest).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    // Rewritten as a new file renamed over it, as any writer that publishes atomically would.
    let tmp = format!("{dest}.rewrite");
    std::fs::write(&tmp, &bytes).expect("rewrite");
    std::fs::rename(&tmp, &dest).expect("rename");
    assert!(matches!(rt.block_on(existing(&store, &key, &options("upsample"))).expect("judge"), Existing::Stale(_)));
    assert_eq!(publish(&good, &options("upsample"), false).expect("replace"), Published::Uploaded);
    assert_eq!(std::fs::read(&dest).expect("read"), std::fs::read(&good).expect("read"));
}

#[test]
fn a_failed_set_publishes_nothing_and_keeps_the_good_product() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(good) = cog(dir.path(), "good", 1098) else { return };
    let dest = dir.path().join("maps/B04.tif").display().to_string();
    let so = StoreOptions::default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let set = ProductSet {
        source: "B04".into(),
        product: good.clone(),
        dest: dest.clone(),
        derived: Vec::new(),
        options: options("identity"),
        force: false,
    };
    let outcome = rt
        .block_on(set.check_and_publish(&QcConfig::default(), &so, &mut Stages::default(), json!({})))
        .expect("publish");
    assert_eq!(outcome.published, Some(Published::Uploaded));
    assert!(!good.exists(), "moved into place");
    let published = std::fs::read(&dest).expect("read");

    // A product that fails (four bands expected) goes nowhere; its report goes to .rejected.qc.json.
    let Some(other) = cog(dir.path(), "other", 700) else { return };
    let set = ProductSet { product: other.clone(), force: true, ..set };
    let strict = QcConfig { bands: Some(4), ..QcConfig::default() };
    let outcome = rt.block_on(set.check_and_publish(&strict, &so, &mut Stages::default(), json!({}))).expect("qc ran");
    assert_eq!(outcome.published, None);
    assert!(outcome.gate().is_err());
    assert_eq!(std::fs::read(&dest).expect("read"), published);
    let record: Value =
        serde_json::from_slice(&std::fs::read(format!("{dest}.qc.json")).expect("record")).expect("json");
    assert_eq!(record["passed"], true, "the good product keeps its passing record");
    let rejected: Value =
        serde_json::from_slice(&std::fs::read(format!("{dest}.rejected.qc.json")).expect("rejected")).expect("json");
    assert_eq!(rejected["passed"], false);
    assert_eq!(rejected["path"], dest.as_str());
    let profile: Value =
        serde_json::from_slice(&std::fs::read(format!("{dest}.profile.json")).expect("profile")).expect("json");
    assert_eq!(profile["qc_passed"], false);

    // A passing product published later removes the rejection report: the folder no longer contradicts itself.
    let Some(fixed) = cog(dir.path(), "fixed", 900) else { return };
    let set = ProductSet { product: fixed, ..set };
    let outcome = rt
        .block_on(set.check_and_publish(&QcConfig::default(), &so, &mut Stages::default(), json!({})))
        .expect("publish");
    assert_eq!(outcome.published, Some(Published::Uploaded));
    assert!(!std::path::Path::new(&format!("{dest}.rejected.qc.json")).exists(), "the rejection report is gone");
    let record: Value =
        serde_json::from_slice(&std::fs::read(format!("{dest}.qc.json")).expect("record")).expect("json");
    assert_eq!(record["passed"], true);
}

#[test]
fn working_folders_of_a_killed_run_are_removed_by_the_next() {
    let dir = tempfile::tempdir().expect("tmp");
    let dest = dir.path().join("maps/x.tif").display().to_string();
    let stale = dir.path().join("maps/.x.tif.eoforge-work-killed");
    std::fs::create_dir_all(&stale).expect("plant");
    std::fs::write(stale.join("product.tif"), b"half").expect("plant");
    let work = WorkDir::for_dest(&dest).expect("work dir");
    assert!(!stale.exists());
    assert!(work.path().starts_with(dir.path().join("maps")));
    let path = work.path().to_owned();
    drop(work);
    assert!(!path.exists());
}
