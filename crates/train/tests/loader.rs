//! The streaming loader on a shard set converted from the real BigEarthNet fixtures: reproducible batches,
//! equal and disjoint shares per rank, mid-epoch replay, normalisation with the set's statistics,
//! augmentation, and errors that name the file or setting.

mod common;

use std::collections::BTreeSet;

use common::{open, shard_set, shard_set_as};
use eoforge_convert::read_patch;
use eoforge_storage::StoreOptions;
use eoforge_train::{Batch, Loader, LoaderConfig, ShardSet};

fn batches(loader: &Loader, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).collect::<Result<_, _>>().expect("batches")
}

fn keys(batches: &[Batch]) -> Vec<String> {
    batches.iter().flat_map(|b| b.keys.clone()).collect()
}

#[test]
fn batches_are_reproducible_split_evenly_and_resumable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(_) = shard_set(dir.path(), 40) else { return };
    let set = open(dir.path());
    let train = set.shards("train").expect("train shards");
    let total: usize = train.iter().map(|s| s.samples).sum();
    assert!(train.len() >= 4 && total >= 20, "{train:?}");
    let config = LoaderConfig { batch_size: 4, shuffle_buffer: 8, seed: 1, ..LoaderConfig::default() };
    let loader = Loader::new(set.clone(), config.clone()).expect("loader");

    // Same configuration, same batches; another epoch, another order of the same samples.
    let a = batches(&loader, 0);
    assert_eq!(a, batches(&loader, 0));
    assert_eq!(a.len(), loader.batches_per_epoch());
    assert_eq!(a[0].inputs.dim(), (4, 12, 120, 120));
    assert_eq!(a[0].labels.as_ref().map(ndarray::Array2::dim), Some((4, 19)));
    let e1 = batches(&loader, 1);
    assert_ne!(keys(&a), keys(&e1));
    assert_eq!(keys(&a).into_iter().collect::<BTreeSet<_>>(), keys(&e1).into_iter().collect::<BTreeSet<_>>());

    // Resuming at batch 2 gives exactly the rest of the epoch.
    let resumed: Vec<Batch> = loader.epoch_from(0, 2).collect::<Result<_, _>>().expect("resumed");
    assert_eq!(resumed, a[2..]);

    // Two ranks: the same count, disjoint, together the split less the odd sample at the epoch's end.
    let ranks: Vec<Vec<String>> = (0..2)
        .map(|rank| {
            let l = Loader::new(set.clone(), LoaderConfig { rank, world_size: 2, ..config.clone() }).expect("rank");
            keys(&batches(&l, 3))
        })
        .collect();
    assert_eq!(ranks[0].len(), ranks[1].len());
    assert_eq!(ranks[0].len(), total / 2);
    let (r0, r1): (BTreeSet<_>, BTreeSet<_>) = (ranks[0].iter().collect(), ranks[1].iter().collect());
    assert!(r0.is_disjoint(&r1));
    assert_eq!(r0.len() + r1.len(), total - total % 2);
}

#[test]
fn parquet_shards_give_the_same_batches_as_tars() {
    let (tars, parquet) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let Some(_) = shard_set(tars.path(), 16) else { return };
    let formats = eoforge_convert::Formats { webdataset: false, parquet: true };
    shard_set_as(parquet.path(), 16, formats).expect("parquet shard set");
    let config = LoaderConfig { batch_size: 3, shuffle_buffer: 5, augment: true, seed: 2, ..LoaderConfig::default() };
    let from_tars = batches(&Loader::new(open(tars.path()), config.clone()).expect("loader"), 1);
    let from_parquet = batches(&Loader::new(open(parquet.path()), config).expect("loader"), 1);
    assert!(!from_tars.is_empty());
    assert_eq!(from_tars, from_parquet);
}

#[test]
fn inputs_are_normalised_and_augmented() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(catalog) = shard_set(dir.path(), 12) else { return };
    let set = open(dir.path());
    let stats = set.stats().clone();
    let config = LoaderConfig { batch_size: 3, shuffle_buffer: 0, ..LoaderConfig::default() };
    let plain = batches(&Loader::new(set.clone(), config.clone()).expect("loader"), 0);
    let first = &plain[0];
    let record = catalog.records.iter().find(|r| r.patch_id == first.keys[0]).expect("record");
    let raw = read_patch(record, false, false, &StoreOptions::default()).expect("read").s2;
    for ((c, r, k), v) in raw.indexed_iter().step_by(997) {
        let want = (f32::from(*v) - stats.mean[c] as f32) / stats.std[c] as f32;
        assert!((first.inputs[[0, c, r, k]] - want).abs() < 1e-5, "channel {c} at {r},{k}");
    }

    // Augmented: the same samples, each a flip/rotation of its plain self, some not the identity.
    let augmented = batches(&Loader::new(set, LoaderConfig { augment: true, ..config }).expect("loader"), 0);
    assert_eq!(keys(&plain), keys(&augmented));
    let mut moved = 0;
    for (p, a) in plain.iter().zip(&augmented) {
        for i in 0..p.keys.len() {
            let (p, a) = (p.inputs.index_axis(ndarray::Axis(0), i), a.inputs.index_axis(ndarray::Axis(0), i));
            let found = (0..8).map(eoforge_train::Dihedral::from_index).find(|t| t.apply3(&p) == a);
            let t = found.expect("a dihedral transform of the plain input");
            moved += usize::from(t != eoforge_train::Dihedral::IDENTITY);
        }
    }
    assert!(moved > 0, "augmentation never moved a sample");
}

#[test]
fn bad_shard_sets_and_settings_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(_) = shard_set(dir.path(), 12) else { return };
    let set = open(dir.path());
    let err = |config: LoaderConfig| Loader::new(set.clone(), config).expect_err("refused").to_string();
    assert!(err(LoaderConfig { rank: 2, world_size: 2, ..LoaderConfig::default() }).contains("`rank`"));
    assert!(err(LoaderConfig { batch_size: 0, ..LoaderConfig::default() }).contains("`batch_size`"));
    let split = err(LoaderConfig { split: "nope".into(), ..LoaderConfig::default() });
    assert!(split.contains("no split `nope`") && split.contains("train"), "{split}");

    // A truncated shard: the epoch fails naming it.
    let tar = dir.path().join("train/train-000000.tar");
    let bytes = std::fs::read(&tar).expect("tar");
    std::fs::write(&tar, &bytes[..bytes.len() / 2]).expect("truncate");
    let loader = Loader::new(set, LoaderConfig { shuffle_buffer: 0, ..LoaderConfig::default() }).expect("loader");
    let failed = loader.epoch(0).find_map(Result::err).expect("an error");
    assert!(failed.to_string().contains("train-000000.tar"), "{failed}");

    // Without stats.json the set does not open, and says why.
    std::fs::remove_file(dir.path().join("stats.json")).expect("remove");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let missing = rt.block_on(ShardSet::open(&dir.path().display().to_string(), &StoreOptions::default()));
    let message = missing.expect_err("refused").to_string();
    assert!(message.contains("stats.json") && message.contains("missing"), "{message}");
}
