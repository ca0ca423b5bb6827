//! A U-Net trained by `eoforge-train fit` (on 64 px windows of the real 29RKH scene with SCL labels) as an area
//! pipeline's model: `[model] run = DIR` maps every tile through the tiled engine from the features named after
//! the run's channels, and the zone map is exported through QC.

#[path = "../../../crates/train/tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::process::Command;

use eoforge_raster::{Raster, Window};
use eoforge_testkit::{fixtures, gdal_cog_validator, workspace_root};

#[test]
fn a_trained_unet_maps_every_tile_and_the_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(_) = common::scene_windows(dir.path(), &shards) else { return };
    let set = common::open(&shards);
    let run = dir.path().join("run");
    common::fit_small_unet(&set, &run);

    let scene = fixtures().expect("fixtures").join("s2-l2a-29RKH");
    let mut inputs = String::new();
    for b in ["B02", "B03", "B04", "B08"] {
        let raster = scene.join(format!("{b}.tif"));
        let _ = write!(
            inputs,
            "[[inputs]]\nname = \"{b}\"\nraster = \"{}\"\nresampling = \"nearest\"\n\n",
            raster.display()
        );
    }
    let area_config = dir.path().join("unet.toml");
    std::fs::write(
        &area_config,
        format!(
            "store = \"store\"\n[area]\naoi = \"{}\"\ntile_px = 64\nresolution = 100.0\nbuffer_px = 4\n\n{inputs}[model]\nrun = \"run\"\nhalo = 8\n\n[export]\nname = \"unet\"\n",
            workspace_root().join("examples/area/29rkh_aoi.geojson").display()
        ),
    )
    .expect("config");
    let area = |extra: &[&str]| {
        let mut args = vec!["run", area_config.to_str().expect("utf-8")];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_eoforge-area")).args(&args).env_remove("EOFORGE_SHARD").output().expect("run")
    };
    let out = area(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("predict") && !stdout.contains("train "), "no train stage with a trained run: {stdout}");

    let map_path = dir.path().join("store/maps/unet_29N.tif");
    let (valid, report) = gdal_cog_validator(&map_path);
    assert!(valid, "{report}");
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("store/maps/unet_29N.tif.qc.json")).expect("qc"))
            .expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    let map = Raster::open(&map_path.display().to_string()).expect("map");
    assert_eq!(map.nodata(1).expect("nodata"), Some(255.0));
    let pixels = map.read_window::<u8>(Window::full(map.width(), map.height()), None).expect("read");
    assert!(pixels.iter().all(|v| (1..11).contains(v) || *v == 255), "SCL classes, never the ignored 0, or nodata");
    let mapped = pixels.iter().filter(|v| **v != 255).count();
    assert!(mapped > pixels.len() / 2, "{mapped} of {} pixels mapped", pixels.len());

    // The run's channels must be features of the tiles: a run reading other names is refused, naming them.
    let renamed = std::fs::read_to_string(&area_config).expect("config").replace("name = \"B08\"", "name = \"NIR\"");
    let other = dir.path().join("renamed.toml");
    std::fs::write(&other, renamed.replace("store = \"store\"", "store = \"store2\"")).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_eoforge-area"))
        .args(["run", other.to_str().expect("utf-8"), "--stages", "inputs,predict"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("B08.tif"), "{stderr}");
}
