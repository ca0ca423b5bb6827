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
        datetime: None,
        collection: None,
        stac_api: None,
        preview_rgb: None,
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

/// The corners of GDAL's own lon/lat footprint of `file` (`gdalinfo -json`'s `wgs84Extent`).
fn gdal_wgs84_corners(file: &str) -> Vec<[f64; 2]> {
    let out = std::process::Command::new("gdalinfo").args(["-json", file]).output().expect("gdalinfo");
    let info: Value = serde_json::from_slice(&out.stdout).expect("gdalinfo json");
    info["wgs84Extent"]["coordinates"][0]
        .as_array()
        .expect("wgs84Extent")
        .iter()
        .map(|p| [p[0].as_f64().expect("lon"), p[1].as_f64().expect("lat")])
        .collect()
}

#[test]
fn a_published_set_has_a_stac_item_that_readers_understand() {
    let dir = tempfile::tempdir().expect("tmp");
    let (Some(product), Some(ndvi)) = (cog(dir.path(), "product", 1098), cog(dir.path(), "ndvi", 1098)) else {
        return;
    };
    let Some(python) = eoforge_testkit::python_with(&["pystac"]) else { return };
    let dest = dir.path().join("maps/B04.tif").display().to_string();
    let ndvi_dest = eoforge_products::derived_dest(&dest, "ndvi");
    let source = fixture("s2-l2a-29RKH/B04.tif").expect("fixture").display().to_string();
    let set = ProductSet {
        source: source.clone(),
        product,
        dest: dest.clone(),
        derived: vec![(ndvi, ndvi_dest.clone())],
        options: options("identity"),
        force: false,
        datetime: None,
        collection: None,
        stac_api: None,
        preview_rgb: None,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let so = StoreOptions::default();
    let outcome = rt
        .block_on(set.check_and_publish(&QcConfig::default(), &so, &mut Stages::default(), json!({})))
        .expect("publish");
    assert_eq!(outcome.published, Some(Published::Uploaded));
    let item_path = eoforge_products::item_key(&dest);
    let item: Value =
        serde_json::from_slice(&std::fs::read(&item_path).expect("item beside the product")).expect("json");

    // The grid and footprint, against GDAL's reading of the published COG.
    assert_eq!(item["properties"]["proj:code"], "EPSG:32629", "{item}");
    assert_eq!(item["properties"]["proj:shape"], json!([1098, 1098]));
    let raster = eoforge_raster::Raster::open(&dest).expect("open");
    let g = raster.geo_transform().expect("grid").0;
    assert_eq!(item["properties"]["proj:transform"], json!([g[1], g[2], g[0], g[4], g[5], g[3]]));
    let ring = item["geometry"]["coordinates"][0].as_array().expect("ring");
    for corner in gdal_wgs84_corners(&dest) {
        let near = ring.iter().any(|p| {
            (p[0].as_f64().expect("lon") - corner[0]).abs() < 1e-6
                && (p[1].as_f64().expect("lat") - corner[1]).abs() < 1e-6
        });
        assert!(near, "GDAL's corner {corner:?} is a corner of the item's footprint {ring:?}");
    }
    assert_eq!(ring.first(), ring.last(), "a closed ring");
    let bbox: Vec<f64> = item["bbox"].as_array().expect("bbox").iter().filter_map(Value::as_f64).collect();
    for corner in gdal_wgs84_corners(&dest) {
        // GDAL prints its extent to 7 decimals.
        let e = 1e-6;
        let inside = bbox[0] - e <= corner[0]
            && corner[0] <= bbox[2] + e
            && bbox[1] - e <= corner[1]
            && corner[1] <= bbox[3] + e;
        assert!(inside, "GDAL's corner {corner:?} lies in the bbox {bbox:?}");
    }

    // Bands: the type and nodata of the file, the statistics of its QC report.
    let band = &item["assets"]["data"]["raster:bands"][0];
    assert_eq!(band["data_type"], "uint16");
    assert_eq!(band["nodata"], json!(raster.nodata(1).expect("nodata").expect("B04 has nodata") as i64));
    assert_eq!(band["statistics"]["mean"].as_f64(), Some(outcome.report.bands[0].mean));
    assert_eq!(band["spatial_resolution"], json!(g[1]));

    // Assets and links point at what was published.
    for (asset, at) in [("data", dest.clone()), ("ndvi", ndvi_dest), ("qc", format!("{dest}.qc.json"))] {
        let href = item["assets"][asset]["href"].as_str().expect("href");
        assert_eq!(href, at);
        assert!(Path::new(href).is_file(), "{asset}: {href}");
    }
    assert!(Path::new(item["assets"]["profile"]["href"].as_str().expect("href")).is_file());
    // The preview: a PNG (one band: a colour ramp) of at most 720 px a side, published beside the product.
    let thumbnail = &item["assets"]["thumbnail"];
    assert_eq!((thumbnail["type"].as_str(), thumbnail["roles"][0].as_str()), (Some("image/png"), Some("thumbnail")));
    assert_eq!(thumbnail["href"].as_str(), Some(eoforge_products::preview_key(&dest).as_str()));
    let png = std::fs::read(eoforge_products::preview_key(&dest)).expect("preview published");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let side = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!((side(16), side(20)), (720, 720), "IHDR width and height");
    assert_eq!(item["links"][0], json!({ "rel": "derived_from", "href": source, "title": "Source" }));

    // PySTAC reads it as an item with the projection and raster extensions.
    let script = r#"
import json, sys
import pystac
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
item = pystac.Item.from_file(sys.argv[1])
proj = ProjectionExtension.ext(item)
data = item.assets["data"]
bands = RasterExtension.ext(data).bands
print(json.dumps({
    "id": item.id, "code": proj.code, "epsg": proj.epsg, "shape": proj.shape, "transform": proj.transform,
    "datetime": item.datetime.isoformat(), "bbox": item.bbox, "assets": sorted(item.assets),
    "data_type": str(getattr(bands[0].data_type, "value", bands[0].data_type)), "nodata": bands[0].nodata, "mean": bands[0].statistics.mean,
    "roles": data.roles, "derived_from": [l.href for l in item.links if l.rel == "derived_from"],
}))
"#;
    let out = std::process::Command::new(python).args(["-c", script, &item_path]).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(read["id"], "B04");
    assert_eq!((read["code"].as_str(), read["epsg"].as_u64()), (Some("EPSG:32629"), Some(32629)));
    assert_eq!(read["shape"], item["properties"]["proj:shape"]);
    assert_eq!(read["transform"], item["properties"]["proj:transform"]);
    assert_eq!(read["assets"], json!(["data", "ndvi", "profile", "qc", "thumbnail"]));
    assert_eq!(
        (read["data_type"].as_str(), read["mean"].as_f64()),
        (Some("uint16"), band["statistics"]["mean"].as_f64())
    );
    assert_eq!(read["derived_from"], json!([source]));
    assert_eq!(read["bbox"], item["bbox"]);

    // Valid against the STAC schemas (core 1.1, projection, raster, eo; processing has no offline schema).
    let report = eoforge_testkit::validate_stac(&[Path::new(&item_path)]).expect("validator");
    assert!(
        report.contains(": valid") && report.contains("not checked: https://stac-extensions.github.io/processing"),
        "{report}"
    );
    // A broken Item is caught: the validator is no rubber stamp.
    let mut broken = item.clone();
    broken["properties"]["proj:shape"] = json!("bad");
    let broken_path = Path::new(&item_path).with_file_name("broken.json");
    std::fs::write(&broken_path, serde_json::to_vec(&broken).expect("json")).expect("write");
    let python = eoforge_testkit::python_with(&["jsonschema"]).expect("python");
    let script = eoforge_testkit::workspace_root().join("scripts/validate-stac.py");
    let out = std::process::Command::new(python).arg(script).arg(&broken_path).output().expect("validator");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("proj:shape"), "{out:?}");
}
