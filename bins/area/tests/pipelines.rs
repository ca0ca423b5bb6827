//! Area pipelines through the `eoforge-area` binary, from the example configs, on real data:
//! - 29RKH (Sentinel-2 L2A, SCL as reference) and eo-learn's test patch (68 NDVI dates, land use) end to end:
//!   exported zone COGs pass GDAL's validator and QC, the pixel model beats the majority class on held-out tiles,
//!   the map holds each tile's prediction over its core, and a rerun redoes nothing;
//! - a regression on 29RKH (SWIR from the visible bands) beats the training mean and maps Float32 values;
//! - an AOI across two UTM zones over a Landsat scene gives two zone COGs whose valid pixels are the AOI's;
//! - samples do not depend on which other tiles ran; shards split the tiles;
//! - a corrupt tile fails alone and its rerun processes only it; vector references agree with the raster;
//! - bad input: exit 1 (2 for usage) with the file, line, key or flag named, and nothing written.

// Pixel values are copied, never computed: they compare exactly.
#![allow(clippy::float_cmp, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eoforge_raster::{Crs, Raster, Window};
use eoforge_testkit::{fixture, fixtures, gdal_cog_validator, gdal_tool, workspace_root};
use serde_json::Value;

/// Runs `eoforge-area` with the fixtures in `EOFORGE_FIXTURES`.
fn area(args: &[&str]) -> Output {
    let fixtures = fixtures().expect("fixtures");
    Command::new(env!("CARGO_BIN_EXE_eoforge-area"))
        .args(args)
        .env("EOFORGE_FIXTURES", fixtures)
        .env_remove("EOFORGE_SHARD")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .expect("run eoforge-area")
}

fn example(name: &str) -> String {
    workspace_root().join("examples/area").join(name).display().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The report a run printed (`report: PATH`).
fn report(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path =
        stdout.lines().find_map(|l| l.strip_prefix("report: ")).unwrap_or_else(|| panic!("no report in {stdout}"));
    serde_json::from_slice(&std::fs::read(path).expect("read the report")).expect("report JSON")
}

/// A stage's entry of a report.
fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn counts(report: &Value, name: &str) -> (u64, u64, u64, usize) {
    let s = stage(report, name);
    let n = |k: &str| s[k].as_u64().expect("count");
    (n("done"), n("skipped"), n("empty"), s["failed"].as_array().map_or(0, Vec::len))
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).expect("JSON")
}

/// The exported map: valid for GDAL's validator, QC passed, in `epsg`.
fn check_map(path: &Path, epsg: u32) -> Raster {
    let (valid, output) = gdal_cog_validator(path);
    assert!(valid, "{output}");
    let qc = json(&PathBuf::from(format!("{}.qc.json", path.display())));
    assert_eq!(qc["passed"], true, "{qc}");
    let map = Raster::open(&path.display().to_string()).expect("open the map");
    assert_eq!(map.crs().and_then(|c| c.epsg), Some(epsg));
    map
}

/// Checks that the model beat the majority class on the held-out test tiles; returns (accuracy, macro F1).
fn beats_majority(store: &Path) -> (f64, f64) {
    let metrics = json(&store.join("model/metrics.json"));
    let (model, baseline) = (&metrics["test"]["model"], &metrics["test"]["majority_baseline"]);
    let f = |v: &Value, k: &str| v[k].as_f64().expect("score");
    eprintln!(
        "held-out tiles: accuracy {:.3} (majority {:.3}), macro F1 {:.3} (majority {:.3}), {} test samples",
        f(model, "accuracy"),
        f(baseline, "accuracy"),
        f(model, "macro_f1"),
        f(baseline, "macro_f1"),
        metrics["test_samples"]
    );
    assert!(f(model, "accuracy") > f(baseline, "accuracy"), "{metrics}");
    assert!(f(model, "macro_f1") > f(baseline, "macro_f1") + 0.1, "{metrics}");
    (f(model, "accuracy"), f(model, "macro_f1"))
}

#[test]
fn scene_29rkh_runs_end_to_end_from_its_config() {
    if fixture("s2-l2a-29RKH/SCL.tif").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out_var = format!("out={}", dir.path().display());
    let config = example("29rkh.toml");
    let out = area(&["run", &config, "--var", &out_var]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = report(&out);
    let store = dir.path().join("29rkh");
    let tiles = first["grid_tiles"].as_u64().expect("tiles");
    assert!(tiles >= 40, "{tiles} tiles");
    for name in ["inputs", "features", "reference", "sample", "predict"] {
        assert_eq!(counts(&first, name), (tiles, 0, 0, 0), "{name}");
    }
    let run_dir = PathBuf::from(first["dir"].as_str().expect("dir"));
    assert_eq!(std::fs::read_to_string(run_dir.join("failure.log")).expect("failure.log"), "");
    let profile = json(&run_dir.join("profile.json"));
    assert!(
        profile["peak_rss_mib"].as_f64().expect("rss") > 0.0
            && profile["stages"]["inputs"].is_number()
            && profile["units"]["inputs"]["units"].is_number()
    );
    beats_majority(&store);

    // One map for zone 29N: each tile's prediction over its core, nodata outside the AOI.
    let map_path = store.join("maps/scl_model_29N.tif");
    let map = check_map(&map_path, 32_629);
    let g = map.geo_transform().expect("transform").0;
    let pixels = map.read_window::<u8>(Window::full(map.width(), map.height()), None).expect("read the map");
    let grid =
        json(&std::fs::read_dir(store.join("grid")).expect("grid cache").flatten().next().expect("cache").path());
    let mut compared = 0;
    for feature in grid["features"].as_array().expect("tiles") {
        let name = feature["properties"]["name"].as_str().expect("name");
        let core: Vec<f64> =
            feature["properties"]["core"].as_array().expect("core").iter().map(|v| v.as_f64().expect("x")).collect();
        let tile =
            Raster::open(&store.join("tiles").join(name).join("prediction.tif").display().to_string()).expect("tile");
        let prediction = tile.read_window::<u8>(Window::full(tile.width(), tile.height()), None).expect("read");
        let (c0, r0) = (((core[0] - g[0]) / g[1]).round() as usize, ((core[3] - g[3]) / g[5]).round() as usize);
        for r in 0..64 {
            for c in 0..64 {
                let on_map = pixels[[0, r0 + r, c0 + c]];
                assert!(on_map == 0 || on_map == prediction[[0, 4 + r, 4 + c]], "tile {name} pixel {r},{c}");
                compared += usize::from(on_map != 0);
            }
        }
    }
    assert!(compared > 100_000, "{compared} pixels compared");
    let qc = json(&PathBuf::from(format!("{}.qc.json", map_path.display())));
    let band = &qc["bands"][0];
    let nodata = band["nodata"].as_f64().expect("nodata") / band["pixels"].as_f64().expect("pixels");
    assert!(nodata > 0.0 && nodata < 0.5, "clipped to the AOI: {nodata}");

    // A rerun redoes nothing and leaves the published map alone.
    let before = std::fs::read(&map_path).expect("map");
    let out = area(&["run", &config, "--var", &out_var]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = report(&out);
    for name in ["inputs", "features", "reference", "sample", "predict"] {
        assert_eq!(counts(&again, name), (0, tiles, 0, 0), "{name}");
    }
    assert_eq!(counts(&again, "train"), (0, 1, 0, 0), "the same table and [model]: the model is kept");
    assert_eq!(stage(&again, "export")["outputs"][0]["published"], "already_there");
    assert_eq!(std::fs::read(&map_path).expect("map"), before);

    // Samples depend on the seed and the tile only: a store that sampled three tiles, in another order, has the
    // same samples for them.
    let subset = tempfile::tempdir().expect("tempdir");
    let subset_var = format!("out={}", subset.path().display());
    let picked = ["5", "0", "17"];
    let mut args = vec!["run", config.as_str(), "--var", &subset_var, "--stages", "inputs,features,reference,sample"];
    for t in &picked {
        args.extend(["-t", t]);
    }
    let out = area(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(counts(&report(&out), "sample"), (3, 0, 0, 0));
    let names: Vec<&str> = grid["features"]
        .as_array()
        .expect("tiles")
        .iter()
        .map(|f| f["properties"]["name"].as_str().expect("n"))
        .collect();
    for t in picked {
        let name = names[t.parse::<usize>().expect("index")];
        let table = |root: &Path| eoforge_area::read_table(&root.join("tiles").join(name).join("samples.parquet"));
        let (full, alone) = (table(&store).expect("full run"), table(&subset.path().join("29rkh")).expect("subset"));
        assert!(!full.1.is_empty());
        assert_eq!(full, alone, "tile {name}");
    }
}

#[test]
fn a_regression_maps_swir_from_the_visible_bands_better_than_the_mean() {
    if fixture("s2-l2a-29RKH/B11.tif").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = area(&["run", &example("29rkh_swir.toml"), "--var", &format!("out={}", dir.path().display())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&out);
    let tiles = r["grid_tiles"].as_u64().expect("tiles");
    assert_eq!(counts(&r, "predict"), (tiles, 0, 0, 0));
    let store = dir.path().join("29rkh_swir");
    let metrics = json(&store.join("model/metrics.json"));
    let (model, mean) = (&metrics["test"]["model"], &metrics["test"]["mean_baseline"]);
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {metrics}"));
    eprintln!(
        "held-out tiles: MAE {:.1}, RMSE {:.1}, R² {:.3} (mean: MAE {:.1}, RMSE {:.1}), {} test samples",
        f(model, "mae"),
        f(model, "rmse"),
        f(model, "r2"),
        f(mean, "mae"),
        f(mean, "rmse"),
        metrics["test_samples"]
    );
    assert!(f(model, "r2") > 0.5 && f(model, "rmse") < 0.7 * f(mean, "rmse"), "{metrics}");

    // A Float32 map of reflectance values: inside the AOI they lie within the training labels' range.
    let map = check_map(&store.join("maps/swir_model_29N.tif"), 32_629);
    assert_eq!(map.dtype(1).expect("dtype"), eoforge_raster::DataType::Float32);
    let values = map.read_window::<f32>(Window::full(map.width(), map.height()), None).expect("read");
    let valid: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    assert!(valid.len() > values.len() / 2, "{} of {} pixels have a value", valid.len(), values.len());
    assert!(valid.iter().all(|v| (1.0..=20_000.0).contains(v)), "reflectance values out of range");
}

#[test]
fn a_class_map_keeps_the_palette_of_its_labels() {
    let Some(scl) = fixture("s2-l2a-29RKH/SCL.tif") else { return };
    let Some(b08) = fixture("s2-l2a-29RKH/B08.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // The scene classification as a UInt8 class map with a palette (a VRT over the fixture).
    let palette: Vec<[u8; 3]> = (0..12u8).map(|i| [i * 20, 255 - i * 20, 100]).collect();
    let entries = palette.iter().fold(String::new(), |mut xml, [r, g, b]| {
        use std::fmt::Write as _;
        let _ = write!(xml, "<Entry c1=\"{r}\" c2=\"{g}\" c3=\"{b}\" c4=\"255\"/>");
        xml
    });
    let source = Raster::open(&scl.display().to_string()).expect("scl");
    let labels = dir.path().join("scl_palette.vrt");
    std::fs::write(
        &labels,
        format!(
            "<VRTDataset rasterXSize=\"{w}\" rasterYSize=\"{h}\"><SRS>EPSG:32629</SRS><GeoTransform>{g}</GeoTransform>\
             <VRTRasterBand dataType=\"Byte\" band=\"1\"><NoDataValue>0</NoDataValue><ColorInterp>Palette</ColorInterp>\
             <ColorTable>{entries}</ColorTable><SimpleSource><SourceFilename relativeToVRT=\"0\">{path}</SourceFilename>\
             <SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>",
            w = source.width(),
            h = source.height(),
            g = source.geo_transform().expect("transform").0.map(|v| v.to_string()).join(","),
            path = scl.display(),
        ),
    )
    .expect("vrt");
    let config = dir.path().join("palette.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[area]\naoi = \"{}\"\ntile_px = 32\nresolution = 400.0\n\n[[inputs]]\nname = \"B08\"\nraster = \"{}\"\n\n[reference]\nraster = \"{}\"\n\n[sampling]\ncount = 40\n\n[model]\niterations = 10\n\n[export]\nname = \"classes\"\n",
            example("29rkh_aoi.geojson"),
            b08.display(),
            labels.display()
        ),
    )
    .expect("config");
    let out = area(&["run", &config.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let map = check_map(&dir.path().join("store/maps/classes_29N.tif"), 32_629);
    let colors = map.color_table(1).expect("read the palette").expect("a palette");
    assert_eq!(&colors[..palette.len()], &palette[..]);
}

#[test]
fn eolearn_patch_runs_end_to_end_and_vector_labels_match_the_raster() {
    let (Some(lulc), Some(_)) =
        (fixture("labels/eolearn_TestEOPatch_LULC.tif"), fixture("aoi/eolearn_testpatch_bbox.geojson"))
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out_var = format!("out={}", dir.path().display());
    let out = area(&["run", &example("eolearn.toml"), "--var", &out_var]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = report(&out);
    let stages: Vec<&str> =
        first["stages"].as_array().expect("stages").iter().map(|s| s["stage"].as_str().expect("s")).collect();
    assert_eq!(
        stages,
        ["grid", "inputs", "reference", "sample", "merge", "train", "predict", "export"],
        "no [[indices]]"
    );
    let store = dir.path().join("eolearn");
    beats_majority(&store);
    let map = check_map(&store.join("maps/land_use_33N.tif"), 32_633);
    let classes = map.read_window::<u8>(Window::full(map.width(), map.height()), None).expect("read");
    let distinct: std::collections::BTreeSet<u8> = classes.iter().copied().collect();
    assert!(distinct.len() >= 3, "a land-use map of several classes: {distinct:?}");

    // The same labels as polygons (GDAL's polygonize, class 0 left out), burnt onto the same tiles.
    let polygons = dir.path().join("lulc.geojson");
    let all = dir.path().join("lulc_all.geojson");
    gdal_tool(
        "gdal_polygonize.py",
        &["-q", &lulc.display().to_string(), "-f", "GeoJSON", &all.display().to_string(), "lulc", "class"],
    );
    gdal_tool(
        "ogr2ogr",
        &["-f", "GeoJSON", "-where", "class > 0", &polygons.display().to_string(), &all.display().to_string()],
    );
    let config = dir.path().join("vector.toml");
    let aoi = fixture("aoi/eolearn_testpatch_bbox.geojson").expect("aoi");
    std::fs::write(
        &config,
        format!(
            "store = \"vector\"\n[area]\naoi = \"{}\"\ntile_px = 20\nresolution = 10.0\n[reference]\nvector = \"lulc.geojson\"\nattribute = \"class\"\n",
            aoi.display()
        ),
    )
    .expect("config");
    let out = area(&["run", &config.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(counts(&report(&out), "reference").3, 0);
    let (mut labelled, mut agree) = (0, 0);
    for entry in std::fs::read_dir(store.join("tiles")).expect("tiles").flatten() {
        let read = |root: &Path| {
            let path = root.join("tiles").join(entry.file_name()).join("reference.tif");
            let r = Raster::open(&path.display().to_string()).expect("reference");
            r.read_window::<u16>(Window::full(r.width(), r.height()), None).expect("read")
        };
        let (raster, vector) = (read(&store), read(&dir.path().join("vector")));
        for (a, b) in raster.iter().zip(vector.iter()) {
            if *a != 0 {
                labelled += 1;
                agree += usize::from(a == b);
            }
        }
    }
    eprintln!("vector reference: {agree} of {labelled} labelled pixels equal the raster reference");
    assert!(labelled > 5000 && agree as f64 > 0.9 * labelled as f64, "{agree} of {labelled}");
}

/// Whether lon/lat `(x, y)` lies in the box, `margin` degrees inside its edges (or outside, with a negative one).
fn in_box(x: f64, y: f64, b: [f64; 4], margin: f64) -> bool {
    x > b[0] + margin && x < b[2] - margin && y > b[1] + margin && y < b[3] - margin
}

#[test]
fn an_aoi_across_two_zones_gives_two_maps_whose_footprints_are_the_aoi() {
    if fixture("landsat/RGB.byte.tif").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out_var = format!("out={}", dir.path().display());
    let config = example("landsat_two_zones.jsonc");
    // Tiles split over two shards cover the grid once.
    let mut done = 0;
    for shard in ["0/2", "1/2"] {
        let out = area(&["run", &config, "--var", &out_var, "--stage", "inputs", "--shard", shard]);
        assert!(out.status.success(), "{}", stderr(&out));
        let r = report(&out);
        assert_eq!(r["shard"], shard);
        let (d, skipped, _, failed) = counts(&r, "inputs");
        assert_eq!((skipped, failed), (0, 0));
        done += d;
    }
    // Zones split over two shards: each part maps one.
    let mut zones = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = area(&["run", &config, "--var", &out_var, "--stage", "export", "--shard", shard]);
        assert!(out.status.success(), "{}", stderr(&out));
        let outputs = stage(&report(&out), "export")["outputs"].clone();
        assert_eq!(outputs.as_array().map(Vec::len), Some(1), "{outputs}");
        zones.push(outputs[0]["zone"].as_str().expect("zone").to_owned());
    }
    assert_eq!(zones, ["17N", "18N"]);
    let out = area(&["run", &config, "--var", &out_var]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&out);
    let tiles = r["grid_tiles"].as_u64().expect("tiles");
    assert_eq!(done, tiles, "the shards' tiles");
    assert_eq!(counts(&r, "inputs"), (0, tiles, 0, 0), "done by the shards");
    assert_eq!(stage(&r, "grid")["outputs"]["zones"], serde_json::json!(["17N", "18N"]));
    for output in stage(&r, "export")["outputs"].as_array().expect("maps") {
        assert_eq!(output["published"], "already_there", "mapped by the shards: {output}");
    }

    let aoi: [f64; 4] = [-78.3, 24.4, -77.7, 24.8];
    let wgs84 = Crs::wgs84().expect("wgs84");
    let source = Raster::open(&fixture("landsat/RGB.byte.tif").expect("scene").display().to_string()).expect("scene");
    for (zone, epsg, west, east) in [("17N", 32_617, -84.0, -78.0), ("18N", 32_618, -78.0, -72.0)] {
        let map = check_map(&dir.path().join(format!("landsat_two_zones/maps/red_{zone}.tif")), epsg);
        let g = map.geo_transform().expect("transform");
        let values = map.read_window::<f32>(Window::full(map.width(), map.height()), None).expect("read");
        let mut centres = Vec::new();
        for r in 0..map.height() {
            for c in 0..map.width() {
                centres.push(g.pixel_to_map(c as f64 + 0.5, r as f64 + 0.5));
            }
        }
        let mut lonlat = centres.clone();
        eoforge_raster::transform_points(&mut lonlat, &Crs::from_epsg(epsg).expect("crs"), &wgs84).expect("lon/lat");
        let mut source_points = centres.clone();
        eoforge_raster::transform_points(
            &mut source_points,
            &Crs::from_epsg(epsg).expect("crs"),
            &source.crs().expect("crs"),
        )
        .expect("to the scene");
        let sg = source.geo_transform().expect("scene transform");
        let (mut inside, mut valid, mut same) = (0, 0, 0);
        for (i, (x, y)) in lonlat.iter().enumerate() {
            let v = values[[0, i / map.width(), i % map.width()]];
            let zone_box = [aoi[0].max(west), aoi[1], aoi[2].min(east), aoi[3]];
            // A pixel's centre well inside the AOI's part of the zone has data; one well outside has none (pixels
            // within ~1.5 pixels of an edge are left out: 300 m is about 0.003°).
            if in_box(*x, *y, zone_box, 0.005) {
                inside += 1;
                assert!(v.is_finite(), "{zone}: pixel {i} at {x},{y} inside the AOI is nodata");
                // Nearest neighbour: the scene's pixel under the centre (GDAL's warper approximates the transform
                // to 1/8 pixel, so a centre near a source pixel's edge may take its neighbour).
                let (sc, sr) = sg.map_to_pixel(source_points[i].0, source_points[i].1).expect("invertible");
                let want = source
                    .read_window::<u8>(Window::new(sc as usize, sr as usize, 1, 1), Some(&[1]))
                    .expect("pixel")[[0, 0, 0]];
                same += usize::from(v == f32::from(want));
            } else if !in_box(*x, *y, zone_box, -0.005) {
                assert!(v.is_nan(), "{zone}: pixel {i} at {x},{y} outside the AOI has {v}");
            }
            valid += usize::from(v.is_finite());
        }
        assert!(inside > 1000 && valid >= inside, "{zone}: {inside} pixels inside, {valid} valid");
        eprintln!("{zone}: {same} of {inside} pixels inside the AOI equal the scene's pixel under their centre");
        assert!(same as f64 > 0.95 * inside as f64, "{zone}: {same} of {inside}");
    }
}

#[test]
fn a_corrupt_tile_fails_alone_and_its_rerun_processes_only_it() {
    if fixture("landsat/RGB.byte.tif").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out_var = format!("out={}", dir.path().display());
    let config = example("landsat_two_zones.jsonc");
    let out = area(&["run", &config, "--var", &out_var, "--stage", "inputs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tiles = report(&out)["grid_tiles"].as_u64().expect("tiles");
    let tiles_dir = dir.path().join("landsat_two_zones/tiles");
    let mut names: Vec<String> = std::fs::read_dir(&tiles_dir)
        .expect("tiles")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let victim = &names[names.len() / 2];
    let red = tiles_dir.join(victim).join("red.tif");
    let bytes = std::fs::read(&red).expect("tile");
    std::fs::write(&red, &bytes[..bytes.len() / 3]).expect("truncate");

    let out = area(&["run", &config, "--var", &out_var, "--stages", "inputs,features"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(counts(&r, "features"), (tiles - 1, 0, 0, 1));
    let failure = &stage(&r, "features")["failed"][0];
    assert_eq!(failure["tile"], victim.as_str());
    assert!(failure["reason"].as_str().expect("reason").contains("red.tif"), "{failure}");
    assert!(
        stderr(&out).contains("1 tile(s) or zone(s) failed") && stderr(&out).contains(victim.as_str()),
        "{}",
        stderr(&out)
    );
    let log = std::fs::read_to_string(PathBuf::from(r["dir"].as_str().expect("dir")).join("failure.log")).expect("log");
    assert_eq!(log.lines().count(), 1);
    assert!(log.starts_with(&format!("features\t{victim}\t")), "{log}");

    // The repair: remove the broken file. The rerun redoes that tile only.
    std::fs::remove_file(&red).expect("remove");
    let out = area(&["run", &config, "--var", &out_var, "--stages", "inputs,features"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(counts(&r, "inputs"), (1, tiles - 1, 0, 0));
    assert_eq!(counts(&r, "features"), (1, tiles - 1, 0, 0));
}

/// Runs with a config written to a fresh folder; returns the output and whether the folder holds only the config.
fn run_config(name: &str, text: &str, extra: &[&str]) -> (Output, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join(name);
    std::fs::write(&config, text).expect("config");
    let aoi = fixture("aoi/eolearn_testpatch_bbox.geojson").expect("aoi");
    std::fs::copy(&aoi, dir.path().join("aoi.geojson")).expect("aoi");
    std::fs::write(dir.path().join("point.geojson"), r#"{"type": "Point", "coordinates": [14.5, 45.9]}"#)
        .expect("point");
    let mut args = vec!["run", config.to_str().expect("utf-8")];
    args.extend(extra);
    let out = area(&args);
    let entries: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    (out, entries.len() == 3)
}

/// A refused run: config file name, its text, extra flags, the exit status, what its message must name.
type Case<'a> = (&'a str, String, Vec<&'a str>, i32, Vec<&'a str>);

#[test]
fn bad_input_is_refused_naming_it_and_nothing_is_written() {
    let Some(fixtures) = fixtures() else { return };
    let ndvi = fixtures.join("labels/eolearn_TestEOPatch_NDVI_68dates.tif").display().to_string();
    let good = format!(
        "store = \"out\"\n[variables]\nyear = 2019\n[area]\naoi = \"aoi.geojson\"\ntile_px = 20\nresolution = 10.0\n\n[[inputs]]\nname = \"NDVI_${{var:year}}\"\nraster = \"{ndvi}\"\n"
    );
    let (out, clean) = run_config("good.toml", &good, &["--stage", "grid"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!clean, "a good config writes its store");

    let cases: Vec<Case<'_>> = vec![
        ("point.toml", good.replace("aoi.geojson", "point.geojson"), vec![], 1, vec!["point.geojson", "Point"]),
        ("unknown_var.toml", good.replace("${var:year}", "${var:yaer}"), vec![], 1, vec!["unknown_var.toml`:10", "yaer", "year"]),
        ("unknown_key.toml", good.replace("tile_px = 20", "tile_px = 20\ntile_pixels = 20"), vec![], 1, vec!["unknown_key.toml`:7", "tile_pixels"]),
        (
            "unknown_param.jsonc",
            "{\n  \"store\": \"out\",\n  // the AOI\n  \"area\": {\"aoi\": \"aoi.geojson\", \"tile_px\": 20, \"resolution\": 10.0},\n  \"sampling\": {\"cont\": 5}\n}\n".into(),
            vec![],
            1,
            vec!["unknown_param.jsonc`:5", "cont"],
        ),
        (
            "outside.toml",
            good.replace(&ndvi, &fixtures.join("landsat/RGB.byte.tif").display().to_string()),
            vec![],
            1,
            vec!["RGB.byte.tif", "misses the AOI"],
        ),
        ("stage.toml", good.clone(), vec!["--stage", "predcit"], 2, vec!["unknown stage `predcit`"]),
        ("unconfigured.toml", good.clone(), vec!["--stage", "train"], 2, vec!["stage `train` is not configured", "[model]"]),
        ("tile.toml", good.clone(), vec!["-t", "9999"], 2, vec!["-t 9999"]),
        ("var.toml", good.clone(), vec!["--var", "year"], 2, vec!["--var year"]),
        (
            "merge_part.toml",
            format!("{good}[reference]\nraster = \"{ndvi}\"\n[sampling]\ncount = 5\n"),
            vec!["--stage", "merge", "--shard", "0/2"],
            2,
            vec!["stage `merge` works on the whole area", "0/2"],
        ),
        ("format.yaml", good.clone(), vec![], 1, vec!["format.yaml", "`.toml`"]),
        (
            "network_and_run.toml",
            format!("{good}[model]\nnetwork = \"unet\"\nrun = \"runs/unet\"\n"),
            vec![],
            1,
            vec!["network_and_run.toml", "`network` trains a network, `run` names a trained one"],
        ),
        (
            "network_fit.toml",
            format!(
                "{good}[reference]\nraster = \"{ndvi}\"\n[sampling]\nblock = 8\ncount = 2\n[model]\nnetwork = \"unet\"\nfit = \"no_such_fit.toml\"\n"
            ),
            vec![],
            1,
            vec!["[model] fit", "no_such_fit.toml"],
        ),
        (
            "index_feature.toml",
            format!(
                "{good}[[indices]]\nkind = \"normalized_difference\"\nname = \"ND\"\na = {{ feature = \"NIR\" }}\nb = {{ feature = \"NDVI_2019\" }}\n"
            ),
            vec![],
            1,
            vec!["[[indices]] `ND`", "`NIR` is not an input", "NDVI_2019"],
        ),
        (
            "export_feature.toml",
            format!("{good}[export]\nname = \"map\"\nfeature = \"NVDI\"\n"),
            vec![],
            1,
            vec!["[export] feature", "`NVDI`"],
        ),
    ];
    for (name, text, extra, code, needles) in cases {
        let (out, clean) = run_config(name, &text, &extra);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{name}: {message}");
        for needle in needles {
            assert!(message.contains(needle), "{name}: `{needle}` not in {message}");
        }
        assert!(clean, "{name}: something was written");
    }
}

/// Runs `eoforge-area` against the local S3 server, its credentials in the environment.
fn area_on_s3(server: &eoforge_testkit::S3Server, config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-area"))
        .args(["run", &config.display().to_string(), "--s3-endpoint", &server.endpoint()])
        .env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("EOFORGE_SHARD")
        .output()
        .expect("run")
}

#[test]
fn inputs_store_and_maps_on_s3() {
    let Some(scene) = fixture("landsat/RGB.byte.tif") else { return };
    let Some(server) = eoforge_testkit::S3Server::start() else { return };
    server.create_bucket("area");
    let mut options = eoforge_storage::StoreOptions::default();
    options.s3.endpoint = Some(server.endpoint());
    options.s3.access_key_id = Some(server.access_key().to_owned());
    options.s3.secret_access_key = Some(eoforge_storage::Secret::new(server.secret_key()));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let bucket = eoforge_storage::Store::open_with("s3://area", &options).expect("store");
    runtime.block_on(bucket.put("in/RGB.byte.tif", std::fs::read(&scene).expect("scene").into())).expect("upload");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("s3.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"s3://area/store\"\n[area]\naoi = \"{}\"\ntile_px = 32\nresolution = 300.0\n\n[[inputs]]\nname = \"red\"\nraster = \"s3://area/in/RGB.byte.tif\"\nbands = [1]\nresampling = \"nearest\"\n\n[export]\nfeature = \"red\"\nname = \"red\"\n",
            example("landsat_two_zones_aoi.geojson")
        ),
    )
    .expect("config");
    let out = area_on_s3(&server, &config);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report_url = stdout.lines().find_map(|l| l.strip_prefix("report: ")).expect("report line");
    let report_key = report_url.strip_prefix("s3://area/").unwrap_or_else(|| panic!("report at {report_url}"));
    let r: Value = serde_json::from_slice(&runtime.block_on(bucket.get(report_key)).expect("report")).expect("JSON");
    let tiles = r["selected_tiles"].as_u64().expect("tiles");
    assert_eq!(counts(&r, "inputs"), (tiles, 0, 0, 0));
    let exported = &stage(&r, "export")["outputs"];
    assert_eq!(exported.as_array().map(Vec::len), Some(2), "{exported}");
    let keys: Vec<String> =
        runtime.block_on(bucket.list("store/tiles")).expect("list").into_iter().map(|o| o.key).collect();
    assert_eq!(keys.iter().filter(|k| k.ends_with("/red.tif")).count() as u64, tiles, "{keys:?}");
    for zone in ["17N", "18N"] {
        let key = format!("store/maps/red_{zone}.tif");
        let bytes = runtime.block_on(bucket.get(&key)).expect("the published map");
        let local = dir.path().join(format!("red_{zone}.tif"));
        std::fs::write(&local, &bytes).expect("write");
        let (valid, output) = gdal_cog_validator(&local);
        assert!(valid, "{output}");
        let record = runtime.block_on(bucket.get(&format!("{key}.qc.json"))).expect("the QC record");
        let record: Value = serde_json::from_slice(&record).expect("JSON");
        assert_eq!(record["passed"], true, "{record}");
    }
    assert!(!dir.path().join("store").exists(), "the store is on S3, not beside the config");

    // The rerun, with nothing local, finds every tile and map done in the store.
    let again = area_on_s3(&server, &config);
    assert!(again.status.success(), "{}", stderr(&again));
    let stdout_again = String::from_utf8_lossy(&again.stdout).into_owned();
    let url = stdout_again.lines().find_map(|l| l.strip_prefix("report: ")).expect("report line");
    let key = url.strip_prefix("s3://area/").expect("on S3");
    let r: Value = serde_json::from_slice(&runtime.block_on(bucket.get(key)).expect("report")).expect("JSON");
    assert_eq!(counts(&r, "inputs"), (0, tiles, 0, 0));
    assert_eq!(stage(&r, "export")["outputs"][0]["published"], "already_there");
    let written = format!("{stdout}{}{stdout_again}{}", stderr(&out), stderr(&again));
    assert!(!written.contains(server.secret_key()), "the secret was printed");
}

#[test]
fn a_stopped_run_records_its_tiles_and_the_rerun_does_the_rest() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("stop.toml");
    // 1.6 km tiles over the example AOI: about 700 tiles.
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[area]\naoi = \"{}\"\ntile_px = 16\nresolution = 100.0\nbuffer_px = 2\n\n[[inputs]]\nname = \"B04\"\nraster = \"{}\"\n",
            example("29rkh_aoi.geojson"),
            b04.display()
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eoforge-area"))
        .args(["run", &config])
        .env_remove("EOFORGE_SHARD")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let tiles = dir.path().join("store/tiles");
    eoforge_testkit::wait_for(&mut child, "a first tile", || {
        std::fs::read_dir(&tiles).is_ok_and(|d| d.flatten().any(|e| e.path().join("B04.tif").is_file()))
    });
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains("rerun the same command"), "{}", stderr(&out));
    let runs = dir.path().join("store/runs");
    let first_dir = std::fs::read_dir(&runs).expect("runs").flatten().next().expect("a run").path();
    let first = json(&first_dir.join("report.json"));
    assert_eq!(first["stopped"], true);
    let total = first["grid_tiles"].as_u64().expect("tiles");
    let (done, _, empty, failed) = counts(&first, "inputs");
    assert_eq!(failed, 0);
    assert!(done + empty > 0 && done + empty < total, "{done} of {total} before the stop");
    // Every tile the stopped run wrote is whole.
    for entry in std::fs::read_dir(&tiles).expect("tiles").flatten() {
        if entry.path().join("B04.tif").is_file() {
            Raster::open(&entry.path().join("B04.tif").display().to_string()).expect("a whole tile");
        }
    }
    let out = area(&["run", &config]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (d, skipped, e, failed) = counts(&report(&out), "inputs");
    assert_eq!((d + e + skipped, skipped, failed), (total, done + empty, 0));
}

/// References as users make them: polygons labelled by name (as digitised in QGIS) and a label raster with nodata
/// 255 beside a real class 0. Both run every stage; the names map to 1, 2, … in sorted order and name the map's
/// classes; the raster's class 0 is a class of the map, 255 never is.
#[test]
fn string_class_names_and_a_real_class_0_with_nodata_255_run_every_stage() {
    let (Some(lulc), Some(aoi)) =
        (fixture("labels/eolearn_TestEOPatch_LULC.tif"), fixture("aoi/eolearn_testpatch_bbox.geojson"))
    else {
        return;
    };
    let ndvi = fixture("labels/eolearn_TestEOPatch_NDVI_68dates.tif").expect("ndvi");
    let dir = tempfile::tempdir().expect("tempdir");
    let all = dir.path().join("lulc_all.geojson");
    gdal_tool(
        "gdal_polygonize.py",
        &["-q", &lulc.display().to_string(), "-f", "GeoJSON", &all.display().to_string(), "lulc", "class"],
    );
    let named = dir.path().join("named.geojson");
    let sql = "SELECT CASE class WHEN 1 THEN 'cultivated' WHEN 2 THEN 'forest' WHEN 3 THEN 'grassland' \
               WHEN 4 THEN 'shrubland' ELSE 'artificial' END AS name, geometry FROM lulc WHERE class > 0";
    gdal_tool(
        "ogr2ogr",
        &["-f", "GeoJSON", "-dialect", "SQLite", "-sql", sql, &named.display().to_string(), &all.display().to_string()],
    );
    // The land-use raster with 0 as nodata 255 and its classes shifted down by one: 0 is a real class.
    let zero = dir.path().join("lulc_zero.tif");
    gdal_tool(
        "gdal_calc.py",
        &[
            "--quiet",
            "-A",
            &lulc.display().to_string(),
            "--outfile",
            &zero.display().to_string(),
            "--calc",
            "where(A == 0, 255, where(A == 8, 4, A - 1))",
            "--type",
            "Byte",
            "--NoDataValue",
            "255",
        ],
    );
    let config = |store: &str, reference: &str| {
        format!(
            "store = \"{store}\"\n[area]\naoi = \"{}\"\ntile_px = 20\nresolution = 10.0\n[[inputs]]\nname = \"NDVI\"\n\
             raster = \"{}\"\nresampling = \"nearest\"\n[reference]\n{reference}\n[sampling]\ncount = 150\nseed = 7\n\
             split_by = \"tile\"\n[model]\niterations = 20\n[export]\nname = \"land_use\"\n",
            aoi.display(),
            ndvi.display()
        )
    };
    for (store, reference) in [
        ("named", format!("vector = \"{}\"\nattribute = \"name\"", named.display())),
        ("zero", format!("raster = \"{}\"", zero.display())),
    ] {
        let path = dir.path().join(format!("{store}.toml"));
        std::fs::write(&path, config(store, &reference)).expect("config");
        let out = area(&["run", &path.display().to_string()]);
        assert!(out.status.success(), "{store}: {}", stderr(&out));
        let map = check_map(&dir.path().join(store).join("maps/land_use_33N.tif"), 32_633);
        let nodata = map.nodata(1).expect("nodata").expect("a nodata value");
        let pixels = map.read_window::<u8>(Window::full(map.width(), map.height()), None).expect("read");
        let values: std::collections::BTreeSet<u8> =
            pixels.iter().copied().filter(|v| f64::from(*v) != nodata).collect();
        assert!(values.len() >= 3, "{store}: several classes {values:?}");
        let metadata = map.metadata().expect("metadata");
        if store == "named" {
            assert!(values.iter().all(|v| (1..=5).contains(v)), "{store}: {values:?}");
            let names = metadata.bands[0].items.iter().find(|(k, _)| k == "CLASS_NAMES").expect("names");
            assert_eq!(names.1, "1=artificial;2=cultivated;3=forest;4=grassland;5=shrubland");
        } else {
            assert_eq!(nodata, 255.0, "{store}: class 0 is taken, so nodata is 255");
            let metrics = json(&dir.path().join(store).join("model/metrics.json"));
            assert_eq!(metrics["classes"], serde_json::json!([0, 1, 2, 3, 4]), "class 0 is a class, 255 none");
            assert!(values.iter().all(|v| *v <= 4), "{store}: {values:?}");
        }
    }

    // A vector reference without the attribute fails once, before any tile, naming it.
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config("bad", &format!("vector = \"{}\"\nattribute = \"kind\"", named.display())))
        .expect("config");
    let out = area(&["run", &path.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no attribute `kind`") && stderr(&out).contains("name"), "{}", stderr(&out));
    assert!(!dir.path().join("bad/tiles").exists(), "no tile was worked on");
}

/// The same error on every tile is logged once with the tile count, and the run's final error names the first
/// stage that failed (not a later stage's "run the sample stage first").
#[test]
fn an_error_on_every_tile_is_reported_once_and_the_first_failed_stage_is_named() {
    let (Some(fixtures), Some(aoi)) = (fixtures(), fixture("aoi/eolearn_testpatch_bbox.geojson")) else { return };
    let ndvi = fixtures.join("labels/eolearn_TestEOPatch_NDVI_68dates.tif");
    let dir = tempfile::tempdir().expect("tempdir");
    let labels = dir.path().join("labels.tif");
    gdal_tool(
        "gdal_translate",
        &["-q", "-b", "1", "-a_nodata", "-9999", &ndvi.display().to_string(), &labels.display().to_string()],
    );
    let config = dir.path().join("every_tile.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[area]\naoi = \"{}\"\ntile_px = 20\nresolution = 10.0\n[[inputs]]\nname = \"NDVI\"\n\
             raster = \"{}\"\n[reference]\nraster = \"{}\"\n[sampling]\ncount = 5\n[model]\niterations = 5\n",
            aoi.display(),
            ndvi.display(),
            labels.display()
        ),
    )
    .expect("config");
    let out = area(&["run", &config.display().to_string()]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    let warnings: Vec<&str> = message.lines().filter(|l| l.contains("-9999 is not a UInt16 value")).collect();
    assert_eq!(warnings.len(), 2, "one warning line and the final error: {message}");
    assert!(warnings[0].contains("tile(s):"), "{message}");
    let last = message.lines().rev().find(|l| !l.trim().is_empty()).expect("an error");
    assert!(last.contains("stage merge failed") && last.contains("failed at stage reference"), "{message}");
}
