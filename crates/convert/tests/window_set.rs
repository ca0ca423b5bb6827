//! Many-scene window sets, as the crop-segmentation workflow builds them: embedding tiles (8 signed-byte bands in
//! AlphaEarth Foundations' layout — −128 nodata, one tile stored bottom-up, one in the next UTM zone) over Kansas,
//! labelled by the real CDL fixture (30 m, EPSG:5070, sparse crop ids, no nodata) warped onto each tile's 10 m grid
//! on the fly. A set cut in three parts — one stopped mid-scene and rerun — equals the set one process cuts, byte
//! for byte; each window's labels are GDAL's nearest-neighbour warp of CDL onto the window.
#![allow(clippy::float_cmp)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use eoforge_convert::{SceneList, WindowOptions, cut_window_set, merge_window_set};
use eoforge_sampling::ShardSpec;
use eoforge_shards::read_webdataset_tar;
use eoforge_testkit::{embedding_tiles, files_under as tree};

fn options(out: &Path) -> WindowOptions {
    WindowOptions {
        out: out.display().to_string(),
        size: 16,
        stride: 16,
        block: 2,
        samples_per_shard: 7,
        max_ignored: 0.0,
        ..WindowOptions::default()
    }
}

#[test]
fn a_set_cut_in_parts_with_a_stop_equals_the_one_process_set() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(tiles) = embedding_tiles(dir.path(), 96, 80, 0) else { return };
    let list_text: String =
        tiles.tiles.iter().map(|t| format!("{}, {}\n", t.display(), tiles.cdl.display())).collect::<Vec<_>>().concat();
    let list = SceneList::parse_text("scenes.txt", &format!("# three AEF-style tiles\nscene,labels\n{list_text}"))
        .expect("list");
    assert_eq!(list.scenes.len(), 4);

    let whole = dir.path().join("whole");
    let report =
        cut_window_set(&list, &options(&whole), ShardSpec::new(0, 1).expect("0/1"), None, &|| {}).expect("one process");
    assert!(report.complete && report.scenes_cut == 4, "{report:?}");
    assert!(report.windows.skipped_nodata > 0, "the −128 corners are skipped: {report:?}");
    assert!(report.windows.skipped_unlabelled > 0, "ground beyond CDL has no label: {report:?}");

    // Three parts; part 1 is stopped mid-scene (as SIGTERM does), then rerun.
    let parts = dir.path().join("parts");
    let stop = Arc::new(AtomicBool::new(false));
    let seen = AtomicUsize::new(0);
    let stopping = || {
        if seen.fetch_add(1, Ordering::SeqCst) == 9 {
            stop.store(true, Ordering::SeqCst);
        }
    };
    let part = |i: usize| ShardSpec::new(i, 3).expect("i/3");
    let stopped = cut_window_set(&list, &options(&parts), part(1), Some(&stop), &stopping).expect("part 1");
    assert!(stopped.stopped && stopped.scenes_cut == 0 && !stopped.complete, "{stopped:?}");
    assert!(!parts.join("_manifest/scene-00001.json").exists(), "a stopped scene is not recorded");
    for i in [0, 2, 0] {
        let r = cut_window_set(&list, &options(&parts), part(i), None, &|| {}).expect("part");
        assert!(!r.complete, "scene 1 is not cut yet: {r:?}");
    }
    let early = merge_window_set(&list, &options(&parts)).expect_err("merge before every scene is cut");
    assert!(early.to_string().contains("tile1.tif"), "{early}");
    let resumed = cut_window_set(&list, &options(&parts), part(1), None, &|| {}).expect("part 1 again");
    assert!(resumed.complete && resumed.scenes_cut == 1, "the last part writes the index: {resumed:?}");
    let rerun = cut_window_set(&list, &options(&parts), part(0), None, &|| {}).expect("part 0 again");
    assert_eq!((rerun.scenes_cut, rerun.scenes_resumed), (0, 2));
    merge_window_set(&list, &options(&parts)).expect("merge");
    let (a, b) = (tree(&whole), tree(&parts));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(b[name] == *bytes, "{name} differs between the one-process and the three-part set");
    }

    // One class table over the scenes: CDL's ids present (sparse, class 0 among them when present), in order.
    let index: serde_json::Value = serde_json::from_slice(&a["index.json"]).expect("index");
    let values: Vec<u64> =
        index["classes"].as_array().expect("classes").iter().filter_map(|c| c["value"].as_u64()).collect();
    assert!(values.len() >= 2 && values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    assert!(values.iter().any(|v| *v > 20), "CDL's sparse crop ids are values, not indices: {values:?}");
    assert_eq!(index["scenes"].as_array().expect("scenes").len(), 4);
    assert_eq!(index["ignore"], 65535, "ground the warped labels do not cover is no label");
    assert!(!values.contains(&65535));
    assert_eq!(index["channels"][0], "A00");
    let stats: serde_json::Value = serde_json::from_slice(&a["stats.json"]).expect("stats");
    assert!(stats["min"][0].as_f64().expect("min") < 0.0, "signed values");
    assert!(stats["min"][0].as_f64().expect("min") > -128.0, "no nodata in the statistics");

    // Tile 1's windows: labels are GDAL's warp of CDL onto them, values signed, keys unique across scenes.
    let cdl_on_tile1 = std::fs::read(&tiles.tile1_cdl).expect("warped cdl");
    let mut keys = std::collections::HashSet::new();
    let mut checked = 0;
    for (name, bytes) in a.iter().filter(|(n, _)| Path::new(n.as_str()).extension().is_some_and(|e| e == "tar")) {
        for sample in read_webdataset_tar(bytes, name).expect("tar") {
            assert!(keys.insert(sample.key.clone()), "key {} twice", sample.key);
            if !sample.key.starts_with("s00001_tile1_") {
                continue;
            }
            let (row, col) = (
                sample.meta["row"].as_u64().expect("row") as usize,
                sample.meta["col"].as_u64().expect("col") as usize,
            );
            let mask = sample.tensors.iter().find(|t| t.name == "mask").expect("mask");
            let values: Vec<u16> = mask.data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            let expected: Vec<u16> = (row..row + 16)
                .flat_map(|r| (col..col + 16).map(move |c| (r, c)))
                .map(|(r, c)| u16::from(cdl_on_tile1[r * 96 + c]))
                .collect();
            assert_eq!(values, expected, "window {}", sample.key);
            checked += 1;
        }
    }
    assert!(checked > 5, "{checked} windows of tile 1 checked");
}

#[test]
fn scene_lists_name_their_problems() {
    let bad = |text: &str| SceneList::parse_text("list.txt", text).expect_err(text).to_string();
    assert!(bad("").contains("no scene listed"));
    assert!(bad("a.tif l.tif\nb.tif\n").contains("every scene needs the same"));
    assert!(bad("a.tif l.tif\na.tif l.tif\n").contains("listed twice"));
    assert!(bad("a.tif l.tif extra\n").contains("line 1: 3 fields"));
    assert!(bad("scene,mask\na.tif m.tif\n").contains("`mask`"));
    let list = SceneList::parse_text("list.txt", "scene target\na.tif t.tif\n").expect("targets");
    assert_eq!(list.scenes[0].target.as_deref(), Some("t.tif"));
}
