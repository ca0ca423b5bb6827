//! The conversion plan: which patches go to which shard. It depends only on the catalog's contents and the
//! options — never on input order, the number of workers or what already exists — so every worker of a
//! `--shard i/n` array computes the same plan and takes its own shards from it.

use eoforge_catalog::{Catalog, PatchRecord};
use eoforge_sampling::{Split, SplitRatios, id_hash, keep_fraction};

/// One output shard of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedShard {
    /// Its split.
    pub split: Split,
    /// Index within the split.
    pub index: usize,
    /// `{split}-{index:06}`.
    pub name: String,
    /// Its patches, in order.
    pub records: Vec<PatchRecord>,
}

/// Selects the `fraction` of patches chosen by id hash, assigns splits (the catalog's, else by `ratios` of the
/// id hash), orders each split by id hash and cuts it into shards of `per_shard` patches.
pub fn plan(catalog: &Catalog, fraction: f64, seed: u64, ratios: &SplitRatios, per_shard: usize) -> Vec<PlannedShard> {
    let mut by_split: [Vec<&PatchRecord>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for record in catalog.records.iter().filter(|r| keep_fraction(&r.patch_id, fraction, seed)) {
        let split = record.split.unwrap_or_else(|| ratios.split_of(&record.patch_id, seed));
        by_split[split as usize].push(record);
    }
    let mut shards = Vec::new();
    for split in Split::ALL {
        let records = &mut by_split[split as usize];
        records.sort_by_cached_key(|r| (id_hash(&r.patch_id, seed), r.patch_id.clone()));
        for (index, chunk) in records.chunks(per_shard.max(1)).enumerate() {
            shards.push(PlannedShard {
                split,
                index,
                name: format!("{}-{index:06}", split.name()),
                records: chunk.iter().map(|r| (*r).clone()).collect(),
            });
        }
    }
    shards
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(n: usize) -> Catalog {
        let records =
            (0..n).map(|i| PatchRecord { patch_id: format!("patch_{i:05}"), ..PatchRecord::default() }).collect();
        Catalog { source: "test".into(), records }
    }

    #[test]
    fn plan_ignores_input_order_and_filtering() {
        let ratios = SplitRatios::default();
        let full = catalog(1000);
        let a = plan(&full, 0.3, 9, &ratios, 16);
        let mut reversed = full.clone();
        reversed.records.reverse();
        assert_eq!(plan(&reversed, 0.3, 9, &ratios, 16), a);
        // Dropping patches that were not selected changes nothing.
        let mut filtered = full.clone();
        filtered.records.retain(|r| keep_fraction(&r.patch_id, 0.3, 9));
        assert_eq!(plan(&filtered, 0.3, 9, &ratios, 16), a);
        let names: Vec<&str> = a.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"train-000000") && names.contains(&"test-000000"));
        assert!(a.iter().all(|s| s.records.len() <= 16));
        let total: usize = a.iter().map(|s| s.records.len()).sum();
        assert!((250..350).contains(&total), "{total}");
    }
}
