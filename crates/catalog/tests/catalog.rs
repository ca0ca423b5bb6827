//! Catalogs from the real BigEarthNet fixtures, Parquet round trips, pyarrow interop and bad-catalog errors.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use eoforge_catalog::{
    Catalog, Error, Layout, PreflightOptions, S2_BANDS, Sensor, preflight, scan_bigearthnet_v1, write_parquet,
};
use eoforge_sampling::Split;
use eoforge_storage::{Store, StoreOptions};
use eoforge_testkit::fixture;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn scan_fixtures() -> Option<Catalog> {
    let root = fixture("bigearthnet")?;
    let s2 = Store::open(&root.join("s2").display().to_string()).expect("s2 store");
    let s1 = Store::open(&root.join("s1").display().to_string()).expect("s1 store");
    Some(runtime().block_on(scan_bigearthnet_v1(&s2, Some(&s1), 8)).expect("scan"))
}

#[test]
fn scans_the_real_bigearthnet_tree() {
    let Some(catalog) = scan_fixtures() else { return };
    let ids: Vec<&str> = catalog.records.iter().map(|r| r.patch_id.as_str()).collect();
    assert_eq!(ids, ["S2A_MSIL2A_20170617T113321_36_85", "S2A_MSIL2A_20170617T113321_4_55"]);
    let patch = &catalog.records[1];
    assert_eq!(patch.labels, ["Pastures"]);
    assert_eq!(patch.s1_name.as_deref(), Some("S1A_IW_GRDH_1SDV_20170617T064724_29UPU_4_55"));
    assert_eq!(patch.paths.len(), 14, "12 S2 bands and VV/VH");
    for band in S2_BANDS {
        let url = patch.path(Sensor::S2, band).expect("band path");
        assert!(url.starts_with("file:///") && url.ends_with(&format!("_{band}.tif")), "{url}");
        assert!(Path::new(url.trim_start_matches("file://")).is_file(), "{url}");
    }
    assert!(patch.path(Sensor::S1, "VH").expect("VH").ends_with("29UPU_4_55_VH.tif"));
}

#[test]
fn parquet_round_trip_keeps_everything() {
    let Some(mut catalog) = scan_fixtures() else { return };
    catalog.records[0].split = Some(Split::Validation);
    catalog.records[1].country = Some("Portugal".into());
    let bytes = write_parquet(&[catalog.to_batch().expect("batch")]).expect("write");
    let back = Catalog::from_parquet(bytes, &catalog.source).expect("read");
    assert_eq!(back, catalog);
}

/// A BigEarthNet v2-style metadata table with an extra column eoforge does not know.
fn v2_batch(ids: &[&str], splits: &[Option<&str>], labels: &[&[&str]]) -> RecordBatch {
    let mut list = ListBuilder::new(StringBuilder::new());
    for row in labels {
        for l in *row {
            list.values().append_value(l);
        }
        list.append(true);
    }
    let s1: Vec<String> = ids.iter().map(|id| format!("S1A_IW_GRDH_1SDV_20170613T165043_{id}")).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids.to_vec())),
        Arc::new(list.finish()),
        Arc::new(StringArray::from(splits.to_vec())),
        Arc::new(StringArray::from(vec!["Austria"; ids.len()])),
        Arc::new(StringArray::from(s1.iter().map(String::as_str).collect::<Vec<_>>())),
        Arc::new(BooleanArray::from(vec![false; ids.len()])),
    ];
    let schema = Schema::new(vec![
        Field::new("patch_id", DataType::Utf8, false),
        Field::new("labels", DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))), false),
        Field::new("split", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("s1_name", DataType::Utf8, true),
        Field::new("contains_seasonal_snow", DataType::Boolean, true),
    ]);
    RecordBatch::try_new(Arc::new(schema), columns).expect("batch")
}

#[test]
fn gen_metadata_adds_paths_and_keeps_other_columns() {
    let batch = v2_batch(
        &["S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57", "S2B_MSIL2A_20180525T94029_N9999_R036_T35ULA_66_30"],
        &[Some("train"), Some("test")],
        &[&["Arable land", "Pastures"], &["Coniferous forest"]],
    );
    let mut catalog = Catalog::from_batches(std::slice::from_ref(&batch), "metadata.parquet").expect("valid");
    catalog.set_paths("s3://bucket/BigEarthNet-S2", Some("s3://bucket/BigEarthNet-S1"), Layout::V2);
    let enriched = catalog.with_path_columns(&[batch]).expect("enrich");
    let schema = enriched[0].schema();
    assert!(schema.field_with_name("contains_seasonal_snow").is_ok(), "extra columns are kept");
    assert_eq!(schema.fields().len(), 6 + 12 + 2);
    let back = Catalog::from_batches(&enriched, "enriched").expect("valid");
    assert_eq!(
        back.records[0].path(Sensor::S2, "B8A"),
        Some(
            "s3://bucket/BigEarthNet-S2/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57_B8A.tif"
        )
    );
    assert!(back.records[1].path(Sensor::S1, "VV").expect("s1").starts_with(
        "s3://bucket/BigEarthNet-S1/S1A_IW_GRDH_1SDV_20170613T165043_S2B_MSIL2A_20180525T94029_N9999_R036_T35ULA/"
    ));
    assert_eq!(back.records[1].split, Some(Split::Test));
}

#[test]
fn bad_catalogs_name_the_column_and_row() {
    let ok = v2_batch(
        &["a", "b", "c"],
        &[Some("train"), Some("validation"), None],
        &[&["Pastures"], &[], &["Marine waters"]],
    );
    Catalog::from_batches(std::slice::from_ref(&ok), "good.parquet").expect("valid");

    let dup = v2_batch(&["a", "b", "a"], &[None, None, None], &[&[], &[], &[]]);
    let err = Catalog::from_batches(&[dup], "dup.parquet").expect_err("duplicate");
    assert!(matches!(&err, Error::DuplicateId { first: 0, second: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("dup.parquet") && err.to_string().contains("`a`"), "{err}");

    let split = v2_batch(&["a", "b"], &[Some("train"), Some("holdout")], &[&[], &[]]);
    let err = Catalog::from_batches(&[split], "split.parquet").expect_err("split");
    assert!(matches!(&err, Error::UnknownSplit { row: 1, .. }) && err.to_string().contains("holdout"), "{err}");

    let label = v2_batch(&["a", "b"], &[None, None], &[&["Pastures"], &["Clouds"]]);
    let err = Catalog::from_batches(&[label], "labels.parquet").expect_err("label");
    assert!(matches!(&err, Error::UnknownLabel { row: 1, .. }) && err.to_string().contains("Clouds"), "{err}");

    let no_labels = ok.project(&[0, 2]).expect("project");
    let err = Catalog::from_batches(&[no_labels], "nolabels.parquet").expect_err("missing");
    assert!(matches!(&err, Error::MissingColumn { .. }) && err.to_string().contains("`labels`"), "{err}");

    let typed = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("patch_id", DataType::Int64, false),
            Field::new("labels", DataType::Utf8, false),
        ])),
        vec![Arc::new(Int64Array::from(vec![1])), Arc::new(StringArray::from(vec!["Pastures"]))],
    )
    .expect("batch");
    let err = Catalog::from_batches(&[typed], "typed.parquet").expect_err("wrong type");
    assert!(
        matches!(&err, Error::WrongType { .. })
            && err.to_string().contains("patch_id")
            && err.to_string().contains("Int64"),
        "{err}"
    );

    let err = Catalog::from_parquet(bytes::Bytes::from_static(b"PAR1 not really"), "junk.parquet").expect_err("junk");
    assert!(err.to_string().contains("junk.parquet"), "{err}");
}

#[test]
fn preflight_reports_every_missing_object() {
    let Some(root) = fixture("bigearthnet/s2") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("s2");
    let rt = runtime();
    rt.block_on(eoforge_storage::copy(
        &root.display().to_string(),
        &copy.display().to_string(),
        &StoreOptions::default(),
        true,
        8,
        &|_| {},
    ))
    .expect("copy fixtures");
    let store = Store::open(&copy.display().to_string()).expect("store");
    let catalog = rt.block_on(scan_bigearthnet_v1(&store, None, 4)).expect("scan");
    let all = PreflightOptions { fraction: 1.0, seed: 0, workers: 4 };
    let report = rt.block_on(preflight(&catalog, all, &StoreOptions::default())).expect("preflight");
    assert!(report.ok() && report.objects_checked == 24, "{report:?}");

    let gone = [
        copy.join("S2A_MSIL2A_20170617T113321_4_55/S2A_MSIL2A_20170617T113321_4_55_B8A.tif"),
        copy.join("S2A_MSIL2A_20170617T113321_36_85/S2A_MSIL2A_20170617T113321_36_85_B01.tif"),
        copy.join("S2A_MSIL2A_20170617T113321_36_85/S2A_MSIL2A_20170617T113321_36_85_B12.tif"),
    ];
    for g in &gone {
        std::fs::remove_file(g).expect("plant a missing file");
    }
    let report = rt.block_on(preflight(&catalog, all, &StoreOptions::default())).expect("preflight");
    assert_eq!((report.objects_checked, report.objects_present, report.patches_with_missing), (24, 21, 2));
    let mut urls: Vec<String> = report.missing.iter().map(|m| m.url.trim_start_matches("file://").to_owned()).collect();
    urls.sort();
    let mut want: Vec<String> = gone.iter().map(|g| g.display().to_string()).collect();
    want.sort();
    assert_eq!(urls, want);
    let none = rt
        .block_on(preflight(&catalog, PreflightOptions { fraction: 0.0, ..all }, &StoreOptions::default()))
        .expect("preflight");
    assert_eq!(none.objects_checked, 0);
}

#[test]
fn pyarrow_reads_our_parquet_and_we_read_pyarrows() {
    let Some(catalog) = scan_fixtures() else { return };
    let Some(python) = eoforge_testkit::python_with(&["pyarrow"]) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = dir.path().join("ours.parquet");
    std::fs::write(&ours, write_parquet(&[catalog.to_batch().expect("batch")]).expect("write")).expect("save");
    let theirs = dir.path().join("theirs.parquet");
    let script = r#"
import sys, json, pyarrow as pa, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps({"rows": t.num_rows, "ids": t.column("patch_id").to_pylist(), "labels": t.column("labels").to_pylist(), "b04": t.column("s2_B04").to_pylist()}))
out = pa.table({
    "patch_id": pa.array(["S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57", "S2B_X_1_2"], pa.large_string()),
    "labels": pa.array([["Arable land"], ["Mixed forest", "Inland waters"]], pa.list_(pa.large_string())),
    "split": pa.array(["train", "validation"]),
    "contains_cloud_or_shadow": pa.array([False, True]),
    "country": pa.array([None, None]),
})
pq.write_table(out, sys.argv[2])
"#;
    let out = Command::new(&python)
        .args(["-c", script, &ours.display().to_string(), &theirs.display().to_string()])
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(seen["rows"], 2);
    assert_eq!(seen["ids"][1], "S2A_MSIL2A_20170617T113321_4_55");
    assert_eq!(seen["labels"][1][0], "Pastures");
    assert!(seen["b04"][0].as_str().is_some_and(|s| s.ends_with("_B04.tif")));
    let theirs = Catalog::from_parquet(std::fs::read(&theirs).expect("read").into(), "theirs.parquet")
        .expect("read pyarrow parquet");
    assert_eq!(theirs.records[1].labels, ["Mixed forest", "Inland waters"]);
    assert_eq!(theirs.records[1].split, Some(Split::Validation));
}
