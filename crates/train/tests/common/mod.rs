//! Shared by the loader, training and `eoforge-train` tests: a shard set converted from the real BigEarthNet
//! fixtures.
#![allow(dead_code)]

use std::path::Path;

use eoforge_catalog::{Catalog, scan_bigearthnet_v1};
use eoforge_convert::{ConvertOptions, Formats, OnError, convert};
use eoforge_sampling::{ShardSpec, SplitRatios};
use eoforge_storage::{Store, StoreOptions};
use eoforge_testkit::fixture;
use eoforge_train::ShardSet;

/// `n` replicated real patches converted into shards of 5 samples.
pub(crate) fn shard_set(dir: &Path, n: usize) -> Option<Catalog> {
    shard_set_as(dir, n, Formats { webdataset: true, parquet: false })
}

/// The same shard set written in `formats`.
pub(crate) fn shard_set_as(dir: &Path, n: usize, formats: Formats) -> Option<Catalog> {
    let root = fixture("bigearthnet")?;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s2 = Store::open(&root.join("s2").display().to_string()).expect("store");
    let base = rt.block_on(scan_bigearthnet_v1(&s2, None, 4)).expect("scan");
    let records = (0..n)
        .map(|i| {
            let mut r = base.records[i % 2].clone();
            r.patch_id = format!("{}_r{i:04}", r.patch_id);
            r
        })
        .collect();
    let catalog = Catalog { source: "replicated fixtures".into(), records };
    let options = ConvertOptions {
        out: dir.display().to_string(),
        formats,
        fraction: 1.0,
        seed: 5,
        ratios: SplitRatios { train: 0.7, validation: 0.15, test: 0.15 },
        target_shard_mb: 1.8,
        shard: ShardSpec::ALL,
        on_error: OnError::Fail,
        retry_skipped: false,
        with_s1: false,
        with_mask: false,
        threads: 2,
        requests_in_flight: 64,
        store: StoreOptions::default(),
        catalog_load_s: 0.0,
    };
    convert(&catalog, &options, &|| {}).expect("convert");
    Some(catalog)
}

pub(crate) fn open(dir: &Path) -> ShardSet {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(ShardSet::open(&dir.display().to_string(), &StoreOptions::default())).expect("open")
}
