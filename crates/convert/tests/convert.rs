//! Conversion of the real BigEarthNet fixtures: contents, Python readers, worker unions and bad patches.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use eoforge_catalog::{Catalog, S2_BANDS, Sensor, scan_bigearthnet_v1};
use eoforge_convert::{ConvertOptions, Formats, OnError, convert, read_patch};
use eoforge_sampling::{ShardSpec, SplitRatios};
use eoforge_shards::npy::from_npy;
use eoforge_storage::{Store, StoreOptions};
use eoforge_testkit::fixture;

/// The two real patches replicated under distinct ids (same files), `n` patches in all.
fn catalog(n: usize) -> Option<Catalog> {
    let root = fixture("bigearthnet")?;
    let s2 = Store::open(&root.join("s2").display().to_string()).expect("store");
    let s1 = Store::open(&root.join("s1").display().to_string()).expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let base = rt.block_on(scan_bigearthnet_v1(&s2, Some(&s1), 4)).expect("scan");
    let records = (0..n)
        .map(|i| {
            let mut r = base.records[i % 2].clone();
            r.patch_id = format!("{}_r{i:04}", r.patch_id);
            r
        })
        .collect();
    Some(Catalog { source: "replicated fixtures".into(), records })
}

fn options(out: &Path) -> ConvertOptions {
    ConvertOptions {
        out: out.display().to_string(),
        formats: Formats { webdataset: true, parquet: true },
        fraction: 1.0,
        seed: 3,
        ratios: SplitRatios { train: 0.6, validation: 0.2, test: 0.2 },
        target_shard_mb: 2.0,
        shard: ShardSpec::ALL,
        on_error: OnError::Skip,
        retry_skipped: false,
        with_s1: true,
        with_mask: false,
        threads: 2,
        requests_in_flight: 64,
        store: StoreOptions::default(),
        catalog_load_s: 0.0,
        stop: None,
    }
}

/// Every file under `dir` except run profiles, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("inside").display().to_string();
                if !rel.starts_with("profile/") {
                    out.insert(rel, std::fs::read(&p).expect("read"));
                }
            }
        }
    }
    out
}

#[test]
fn shards_hold_the_resampled_patches_and_statistics() {
    let Some(catalog) = catalog(30) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = convert(&catalog, &options(dir.path()), &|| {}).expect("convert");
    assert!(profile.complete && profile.skipped.is_empty(), "{profile:?}");
    assert_eq!(profile.patches_converted, 30);
    assert!(profile.peak_rss_mib > 0.0 && profile.stages.0.contains_key("convert"));
    let files = tree(dir.path());
    assert!(
        files.keys().any(|k| k == "train/train-000000.tar") && files.keys().any(|k| k == "test/test-000000.parquet"),
        "{:?}",
        files.keys()
    );

    // The first sample of the first train shard equals a direct read of its patch.
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).expect("index");
    let total: u64 =
        ["train", "validation", "test"].iter().map(|s| index["splits"][s]["samples"].as_u64().unwrap_or(0)).sum();
    assert_eq!(total, 30);
    let manifest: serde_json::Value = serde_json::from_slice(&files["_manifest/train-000000.json"]).expect("manifest");
    let first = manifest["patch_ids"][0].as_str().expect("id");
    let record = catalog.records.iter().find(|r| r.patch_id == first).expect("record");
    let direct = read_patch(record, true, false, &StoreOptions::default()).expect("read");
    let tar = &files["train/train-000000.tar"];
    let member = format!("{first}.s2.npy");
    let at = tar.windows(member.len()).position(|w| w == member.as_bytes()).expect("member present");
    let size = usize::from_str_radix(String::from_utf8_lossy(&tar[at + 124..at + 135]).trim(), 8).expect("size");
    let npy = &tar[at + 512..at + 512 + size];
    let s2 = from_npy::<u16>(npy).expect("npy");
    assert_eq!(s2.shape(), &[12, 120, 120]);
    assert_eq!(s2, direct.s2.into_dyn());

    // 10 m bands are untouched; 20/60 m bands are upsampled from the native pixels.
    let b04 = eoforge_raster::Raster::open(record.path(Sensor::S2, "B04").expect("path")).expect("open");
    let native = b04.read_window::<u16>(eoforge_raster::Window::full(120, 120), None).expect("read");
    assert_eq!(s2.index_axis(ndarray::Axis(0), 3), native.index_axis(ndarray::Axis(0), 0).into_dyn());

    let stats: serde_json::Value = serde_json::from_slice(&files["stats.json"]).expect("stats");
    assert_eq!(stats["channels"].as_array().map(Vec::len), Some(S2_BANDS.len()));
    let train = index["splits"]["train"]["samples"].as_u64().expect("train count");
    assert_eq!(stats["count"][0].as_u64(), Some(train * 120 * 120), "no nodata in these patches");
    let mean_b04 = stats["mean"][3].as_f64().expect("mean");
    assert!(mean_b04 > 100.0 && mean_b04 < 5000.0 && stats["std"][3].as_f64().expect("std") > 0.0, "{stats}");
}

#[test]
fn python_readers_open_both_formats() {
    let Some(catalog) = catalog(12) else { return };
    let Some(python) = eoforge_testkit::python_with(&["webdataset", "pyarrow", "numpy"]) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    convert(&catalog, &options(dir.path()), &|| {}).expect("convert");
    let script = r#"
import sys, glob, json, numpy as np, pyarrow.parquet as pq, webdataset as wds
root = sys.argv[1]
tars = sorted(glob.glob(root + "/*/*.tar"))
n = 0
for s in wds.WebDataset(tars, shardshuffle=False).decode():
    assert s["s2.npy"].shape == (12, 120, 120) and s["s2.npy"].dtype == np.uint16, s["__key__"]
    assert s["s1.npy"].shape == (2, 120, 120) and s["s1.npy"].dtype == np.float32
    assert s["labels.npy"].shape == (19,) and s["labels.npy"].sum() >= 1
    assert s["json"]["patch_id"] == s["__key__"]
    n += 1
m = 0
for path in sorted(glob.glob(root + "/*/*.parquet")):
    t = pq.read_table(path)
    md = {k.decode(): v.decode() for k, v in t.schema.metadata.items()}
    for v in t.column("s2").to_pylist():
        a = np.frombuffer(v, dtype=md["s2.dtype"]).reshape(json.loads(md["s2.shape"]))
        assert a.shape == (12, 120, 120) and a.max() > 0
        m += 1
print(json.dumps({"webdataset": n, "parquet": m}))
"#;
    let out = Command::new(&python).args(["-c", script, &dir.path().display().to_string()]).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let counts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!((counts["webdataset"].as_u64(), counts["parquet"].as_u64()), (Some(12), Some(12)));
}

#[test]
fn a_stop_request_finishes_the_current_shard_and_a_rerun_completes_the_same_set() {
    let Some(catalog) = catalog(40) else { return };
    let full = tempfile::tempdir().expect("tempdir");
    convert(&catalog, &options(full.path()), &|| {}).expect("full run");
    let stopped = tempfile::tempdir().expect("tempdir");
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opts = ConvertOptions { stop: Some(std::sync::Arc::clone(&flag)), ..options(stopped.path()) };
    // The request arrives while the first shard is being read.
    let raise = || flag.store(true, std::sync::atomic::Ordering::SeqCst);
    let profile = convert(&catalog, &opts, &raise).expect("stopped run");
    assert!(profile.stopped && !profile.complete, "{profile:?}");
    assert_eq!(profile.splits.values().map(|s| s.shards_written).sum::<usize>(), 1, "{profile:?}");
    assert!(profile.shards_planned > 1 && !stopped.path().join("index.json").exists());
    let rerun = convert(&catalog, &options(stopped.path()), &|| {}).expect("rerun");
    assert!(rerun.complete && !rerun.stopped);
    assert_eq!(tree(full.path()), tree(stopped.path()), "the same set as an uninterrupted run");
}

#[test]
fn workers_together_write_exactly_one_full_run() {
    let Some(catalog) = catalog(40) else { return };
    let full = tempfile::tempdir().expect("tempdir");
    convert(&catalog, &options(full.path()), &|| {}).expect("full run");
    let parts = tempfile::tempdir().expect("tempdir");
    let mut shuffled = catalog.clone();
    shuffled.records.reverse();
    for i in [2, 0, 1] {
        let opts = ConvertOptions { shard: ShardSpec::new(i, 3).expect("valid"), ..options(parts.path()) };
        let profile = convert(&shuffled, &opts, &|| {}).expect("worker");
        assert_eq!(profile.complete, i == 1, "only the last worker completes the set");
    }
    assert_eq!(tree(full.path()), tree(parts.path()));
    // A smaller fraction selects a subset of the same patches.
    let small = tempfile::tempdir().expect("tempdir");
    convert(&catalog, &ConvertOptions { fraction: 0.3, ..options(small.path()) }, &|| {}).expect("fraction");
    let ids = |dir: &Path| -> Vec<String> {
        tree(dir)
            .iter()
            .filter(|(k, _)| k.starts_with("_manifest/"))
            .flat_map(|(_, v)| {
                serde_json::from_slice::<serde_json::Value>(v).expect("json")["patch_ids"]
                    .as_array()
                    .expect("ids")
                    .iter()
                    .map(|x| x.as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (all, some) = (ids(full.path()), ids(small.path()));
    assert!(!some.is_empty() && some.len() < all.len() && some.iter().all(|id| all.contains(id)));

    // Rerunning into an output that holds a different conversion is refused, not silently "resumed".
    let err = convert(&catalog, &ConvertOptions { fraction: 0.5, ..options(small.path()) }, &|| {})
        .expect_err("different plan");
    assert!(err.to_string().contains("different conversion"), "{err}");
    let again = convert(&catalog, &ConvertOptions { fraction: 0.3, ..options(small.path()) }, &|| {})
        .expect("the same conversion resumes");
    assert_eq!(again.patches_converted, 0, "everything was already done");
}

#[test]
fn bad_patches_are_skipped_and_reported_or_fail_the_run() {
    let Some(mut catalog) = catalog(6) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let b04 = catalog.records[0].path(Sensor::S2, "B04").expect("path").trim_start_matches("file://").to_owned();
    let truncated = dir.path().join("truncated_B04.tif");
    let bytes = std::fs::read(&b04).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).expect("write");
    let zeros = dir.path().join("zeros.tif");
    {
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").expect("driver");
        let mut ds = driver.create_with_band_type::<u16, _>(&zeros, 120, 120, 1).expect("create");
        ds.set_geo_transform(&[604_800.0, 10.0, 0.0, 5_834_040.0, 0.0, -10.0]).expect("georeference");
    }
    let b05 = catalog.records[0].path(Sensor::S2, "B05").expect("path").to_owned();
    let edit = |r: &mut eoforge_catalog::PatchRecord, band: &str, url: String| {
        r.paths.insert(eoforge_catalog::path_column(Sensor::S2, band), url);
    };
    edit(&mut catalog.records[1], "B03", "/nonexistent/missing_B03.tif".into());
    edit(&mut catalog.records[2], "B04", truncated.display().to_string());
    edit(&mut catalog.records[3], "B02", b05);
    for band in S2_BANDS {
        edit(&mut catalog.records[4], band, zeros.display().to_string());
    }
    let out = dir.path().join("out");
    let profile = convert(&catalog, &ConvertOptions { with_s1: false, ..options(&out) }, &|| {}).expect("skip policy");
    let reasons: BTreeMap<&str, &str> =
        profile.skipped.iter().map(|s| (s.patch_id.as_str(), s.reason.as_str())).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[catalog.records[1].patch_id.as_str()].contains("missing_B03.tif"));
    assert!(reasons[catalog.records[2].patch_id.as_str()].contains("truncated_B04.tif"));
    assert!(reasons[catalog.records[3].patch_id.as_str()].contains("expected 120x120"));
    assert!(reasons[catalog.records[4].patch_id.as_str()].contains("nodata"));
    assert_eq!(profile.patches_converted, 2);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index")).expect("json");
    let skipped: u64 =
        ["train", "validation", "test"].iter().map(|s| index["splits"][s]["skipped"].as_u64().unwrap_or(0)).sum();
    assert_eq!(skipped, 4, "skipped patches are counted in the index, never silently dropped");

    // Repaired: patch 1's B03 is back. A plain rerun keeps the finished shards; --retry-skipped converts the
    // shards with skipped patches again and takes the repaired one in.
    let good_b03 = catalog.records[0].path(Sensor::S2, "B03").expect("path").to_owned();
    let mut repaired = catalog.clone();
    edit(&mut repaired.records[1], "B03", good_b03);
    let plain = convert(&repaired, &ConvertOptions { with_s1: false, ..options(&out) }, &|| {}).expect("rerun");
    assert_eq!(plain.patches_converted, 0, "finished shards are kept without --retry-skipped");
    let retry = ConvertOptions { with_s1: false, retry_skipped: true, ..options(&out) };
    let profile = convert(&repaired, &retry, &|| {}).expect("retry");
    assert_eq!(profile.skipped.len(), 3, "{:?}", profile.skipped);
    assert!(profile.skipped.iter().all(|s| s.patch_id != repaired.records[1].patch_id));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index")).expect("json");
    let skipped: u64 =
        ["train", "validation", "test"].iter().map(|s| index["splits"][s]["skipped"].as_u64().unwrap_or(0)).sum();
    assert_eq!(skipped, 3, "the index counts the repaired patch as converted");

    let failing = dir.path().join("fail");
    let err =
        convert(&catalog, &ConvertOptions { on_error: OnError::Fail, with_s1: false, ..options(&failing) }, &|| {})
            .expect_err("fail policy");
    assert!(catalog.records[1..5].iter().any(|r| err.to_string().contains(&r.patch_id)), "{err}");
    // The failing shard publishes nothing (other shards may have completed before it).
    let failed_shard_files =
        if failing.exists() { tree(&failing).into_keys().filter(|k| k.contains('#')).collect() } else { Vec::new() };
    assert!(failed_shard_files.is_empty(), "staging files left: {failed_shard_files:?}");
}

#[test]
fn label_rasters_become_mask_tensors() {
    let Some(mut catalog) = catalog(4) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // A 20 m class raster on each patch's footprint (60x60), as segmentation labels usually come.
    let mut labels = BTreeMap::new();
    for record in &mut catalog.records {
        let b02 = eoforge_raster::Raster::open(record.path(Sensor::S2, "B02").expect("path")).expect("open");
        let gt = b02.geo_transform().expect("gt");
        let path = dir.path().join(format!("{}_labels.tif", record.patch_id));
        let classes = ndarray::Array3::<u16>::from_shape_fn((1, 60, 60), |(_, r, c)| ((r / 7 + c / 11) % 6) as u16);
        let spec = eoforge_raster::RasterSpec {
            width: 60,
            height: 60,
            bands: 1,
            geo_transform: Some(eoforge_raster::GeoTransform::north_up(gt.0[0], gt.0[3], 20.0, 20.0)),
            crs: b02.crs(),
            ..eoforge_raster::RasterSpec::default()
        };
        let options = eoforge_raster::TiffOptions { block_size: 64, ..eoforge_raster::TiffOptions::default() };
        let mut writer = eoforge_raster::TiledWriter::<u16>::create(&path, &spec, &options).expect("create");
        writer.write_window(eoforge_raster::Window::full(60, 60), classes.view()).expect("write");
        writer.finish(None).expect("finish");
        record.paths.insert(eoforge_catalog::LABEL_RASTER.into(), path.display().to_string());
        labels.insert(record.patch_id.clone(), classes);
    }
    let out = dir.path().join("out");
    let profile = convert(
        &catalog,
        &ConvertOptions { formats: Formats { webdataset: false, parquet: true }, ..options(&out) },
        &|| {},
    )
    .expect("convert");
    assert!(profile.skipped.is_empty(), "{:?}", profile.skipped);
    let mut seen = 0;
    for (name, bytes) in tree(&out).into_iter().filter(|(k, _)| k.ends_with(".parquet")) {
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .expect("parquet");
        assert_eq!(builder.schema().metadata().get("mask.shape").map(String::as_str), Some("[120, 120]"), "{name}");
        for batch in builder.build().expect("reader") {
            let batch = batch.expect("batch");
            let keys = batch.column_by_name("__key__").expect("keys");
            let keys = arrow::array::AsArray::as_string::<i32>(keys);
            let masks = batch.column_by_name("mask").expect("mask column");
            let masks = arrow::array::AsArray::as_binary::<i32>(masks);
            for row in 0..batch.num_rows() {
                let classes = &labels[keys.value(row)];
                let raw = masks.value(row);
                for (r, c) in [(0, 0), (13, 70), (119, 119), (64, 3)] {
                    let v = u16::from_le_bytes([raw[(r * 120 + c) * 2], raw[(r * 120 + c) * 2 + 1]]);
                    assert_eq!(v, classes[[0, r / 2, c / 2]], "{} at {r},{c}", keys.value(row));
                }
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 4);
}

#[test]
fn a_rerun_with_other_tensors_is_refused_not_resumed() {
    // Few patches and large shards: the plan (patch lists) is the same with and without Sentinel-1, so only the
    // recorded tensors tell the two conversions apart.
    let Some(catalog) = catalog(6) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let without = ConvertOptions { with_s1: false, target_shard_mb: 500.0, ..options(dir.path()) };
    convert(&catalog, &without, &|| {}).expect("first run");
    let before = tree(dir.path());
    let err = convert(&catalog, &ConvertOptions { with_s1: true, ..without.clone() }, &|| {}).expect_err("refused");
    let text = format!("{err}: {err:?}");
    assert!(text.contains("s2,labels but this run would write s2,s1,labels"), "{text}");
    assert_eq!(tree(dir.path()), before, "nothing new was written");
    // The same options resume (nothing to do) as before.
    let profile = convert(&catalog, &without, &|| {}).expect("rerun");
    assert!(profile.complete && profile.patches_converted == 0, "{profile:?}");
}

/// The in-memory patch path equals GDAL's: each real patch decoded from its fetched files and, as the oracle,
/// with no files at all (every band then read through GDAL), bit for bit with S1. Bands rewritten by
/// `gdal_translate` into layouts the decoder reads (DEFLATE tiles, LZW with a predictor), declines (ZSTD) or leaves
/// to GDAL's resampler (nodata values on a 20 m and a 60 m band) mix both paths in one patch.
#[test]
fn in_memory_decoding_equals_gdal_on_real_patches() {
    let Some(catalog) = catalog(2) else { return };
    let store = StoreOptions::default();
    for record in &catalog.records {
        let files = eoforge_convert::fetch_local(record, true, false).expect("fetch");
        assert_eq!(files.0.len(), 14, "every band file is fetched");
        let fast = eoforge_convert::decode_patch(record, &files, true, false, &store).expect("in memory");
        let gdal = eoforge_convert::decode_patch(record, &eoforge_convert::PatchFiles::default(), true, false, &store)
            .expect("gdal");
        assert_eq!(fast.s2, gdal.s2, "{}", record.patch_id);
        let (a, b) = (fast.s1.expect("s1"), gdal.s1.expect("s1"));
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{}: s1 differs", record.patch_id);
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let mut record = catalog.records[0].clone();
    let rewrite = |band: &str, name: &str, args: &[&str]| {
        let source = record.path(Sensor::S2, band).expect("path").trim_start_matches("file://").to_owned();
        let out = dir.path().join(format!("{name}_{band}.tif")).display().to_string();
        let mut all = vec!["-q"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[&source, &out]);
        eoforge_testkit::gdal_tool("gdal_translate", &all);
        out
    };
    let b04 = rewrite(
        "B04",
        "deflate_tiled",
        &["-co", "COMPRESS=DEFLATE", "-co", "TILED=YES", "-co", "BLOCKXSIZE=16", "-co", "BLOCKYSIZE=16"],
    );
    // Nodata set to a value the band holds, so GDAL's masked resampling changes the result.
    let first_value = |band: &str| {
        let raster = eoforge_raster::Raster::open(record.path(Sensor::S2, band).expect("path")).expect("open");
        raster.read_window::<u16>(eoforge_raster::Window::new(0, 0, 1, 1), None).expect("read")[[0, 0, 0]].to_string()
    };
    let b05 = rewrite("B05", "nodata", &["-a_nodata", &first_value("B05")]);
    let b8a = rewrite("B8A", "lzw", &["-co", "COMPRESS=LZW", "-co", "PREDICTOR=2"]);
    let b12 = rewrite("B12", "zstd", &["-co", "COMPRESS=ZSTD"]);
    let b01 = rewrite("B01", "nodata", &["-a_nodata", &first_value("B01")]);
    for (band, url) in [("B04", b04), ("B05", b05), ("B8A", b8a), ("B12", b12), ("B01", b01)] {
        record.paths.insert(eoforge_catalog::path_column(Sensor::S2, band), url);
    }
    let files = eoforge_convert::fetch_local(&record, false, false).expect("fetch");
    let fast = eoforge_convert::decode_patch(&record, &files, false, false, &store).expect("mixed paths");
    let gdal = eoforge_convert::decode_patch(&record, &eoforge_convert::PatchFiles::default(), false, false, &store)
        .expect("gdal");
    assert_eq!(fast.s2, gdal.s2);
    assert_ne!(fast.s2, eoforge_convert::read_patch(&catalog.records[0], false, false, &store).expect("read").s2);
}

/// The shard reader the training loader streams with: our own tars read back equal the patches, and a tar that
/// Python's `webdataset.ShardWriter` wrote (an independent writer) reads back with its keys, arrays and JSON.
#[test]
fn shards_read_back_with_their_tensors() {
    let Some(catalog) = catalog(8) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    convert(&catalog, &ConvertOptions { with_s1: false, ..options(dir.path()) }, &|| {}).expect("convert");
    let tar = dir.path().join("train/train-000000.tar");
    let samples = eoforge_shards::read_webdataset_tar(&std::fs::read(&tar).expect("tar"), "train-000000.tar")
        .expect("our tar reads back");
    assert!(!samples.is_empty());
    for sample in &samples {
        let record = catalog.records.iter().find(|r| r.patch_id == sample.key).expect("a planned patch");
        let direct = read_patch(record, false, false, &StoreOptions::default()).expect("read");
        let s2 = sample.tensors.iter().find(|t| t.name == "s2").expect("s2");
        assert_eq!((s2.dtype, s2.shape.as_slice()), ("uint16", &[12usize, 120, 120][..]));
        let expected: Vec<u8> = direct.s2.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(s2.data == expected, "{}: s2 differs", sample.key);
        assert_eq!(sample.meta["patch_id"], sample.key.as_str());
    }

    let Some(python) = eoforge_testkit::python_with(&["webdataset", "numpy"]) else { return };
    let script = r#"
import sys, numpy as np, webdataset as wds
with wds.TarWriter(sys.argv[1]) as sink:
    for i in range(3):
        sink.write({"__key__": f"sample{i:03d}", "s2.npy": (np.arange(24, dtype=np.uint16) + i).reshape(2, 3, 4),
                    "mask.npy": np.full((3, 4), i / 2, dtype=np.float32), "json": {"i": i}})
"#;
    let python_tar = dir.path().join("python.tar");
    let out = Command::new(&python).args(["-c", script, &python_tar.display().to_string()]).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let samples = eoforge_shards::read_webdataset_tar(&std::fs::read(&python_tar).expect("tar"), "python.tar")
        .expect("a webdataset tar reads");
    assert_eq!(samples.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), ["sample000", "sample001", "sample002"]);
    for (i, sample) in samples.iter().enumerate() {
        let s2 = sample.tensors.iter().find(|t| t.name == "s2").expect("s2");
        let values: Vec<u16> = s2.data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        assert_eq!((s2.shape.as_slice(), values), (&[2usize, 3, 4][..], (0..24).map(|v| v + i as u16).collect()));
        let mask = sample.tensors.iter().find(|t| t.name == "mask").expect("mask");
        assert_eq!((mask.dtype, mask.data[..4].to_vec()), ("float32", (i as f32 / 2.0).to_le_bytes().to_vec()));
        assert_eq!(sample.meta["i"], i);
    }
}
