//! The inputs, reference and features stages on the real 29RKH scene (EPSG:32629, bands at 100 m, SCL at 200 m):
//! an AOI over the scene's western edge cut into 6.4 km tiles, bands warped onto each tile's buffered grid
//! (checked pixel by pixel against the source), skip-existing, SCL as the reference, NDVI and EVI through the
//! shared index functions.

// Stored pixels are the source's integers as Float32 and tile origins whole metres: they compare exactly.
#![allow(clippy::float_cmp, clippy::print_stderr)]

use eoforge_area::{
    Aoi, BandRef, GridSpec, IndexSpec, InputSpec, PREDICTION, PixelModel, PixelModelConfig, PixelTask, ResamplingName,
    Sample, SampleOptions, SplitBy, TileOutcome, TileStore, build_grid, classification_report, compute_index,
    predict_tile, read_input, read_reference, sample_tile, tile_grid, write_table,
};
use eoforge_raster::{Crs, Raster, Window};
use eoforge_sampling::{BlockSampling, BlockSpec, SplitRatios};
use eoforge_testkit::fixture;

/// A lon/lat box around a rectangle of the scene's zone (29N), as an RFC 7946 AOI.
fn aoi_over(x0: f64, y0: f64, x1: f64, y1: f64) -> Aoi {
    let mut corners = vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
    eoforge_raster::transform_points(&mut corners, &Crs::from_epsg(32_629).expect("crs"), &Crs::wgs84().expect("4326"))
        .expect("to lon/lat");
    let ring: Vec<[f64; 2]> = corners.iter().map(|(x, y)| [*x, *y]).collect();
    let text = serde_json::json!({ "type": "Polygon", "coordinates": [ring] }).to_string();
    Aoi::from_geojson(&text, "west-edge.geojson").expect("aoi")
}

#[test]
fn bands_reference_and_indices_land_on_every_tile() {
    let (Some(b02), Some(b04), Some(b08), Some(scl)) = (
        fixture("s2-l2a-29RKH/B02.tif"),
        fixture("s2-l2a-29RKH/B04.tif"),
        fixture("s2-l2a-29RKH/B08.tif"),
        fixture("s2-l2a-29RKH/SCL.tif"),
    ) else {
        return;
    };
    // The scene starts at easting 199 980: the AOI reaches 8 km west of it.
    let aoi = aoi_over(192_000.0, 2_740_000.0, 215_000.0, 2_752_000.0);
    let spec = GridSpec { tile_px: 64, resolution: 100.0, buffer_px: 4 };
    let grid = build_grid(&aoi, &spec).expect("grid");
    // 192 km of easting in zone 29 lies west of 12° W there: the AOI's western strip belongs to zone 28.
    let zones: Vec<String> = grid.zones().iter().map(|z| z.label()).collect();
    assert_eq!(zones, ["28N", "29N"]);
    assert!(grid.tiles.iter().filter(|t| t.epsg() == 32_629).count() >= 8, "{} tiles", grid.tiles.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = TileStore::new(dir.path());
    let input = |name: &str, path: &std::path::Path| InputSpec {
        name: name.to_owned(),
        raster: path.display().to_string(),
        bands: vec![],
        resampling: ResamplingName::Nearest,
    };
    let inputs = [input("B02", &b02), input("B04", &b04), input("B08", &b08)];
    for tile in &grid.tiles {
        for i in &inputs {
            assert_ne!(read_input(&store, tile, &spec, i, true).expect("input"), TileOutcome::Skipped);
        }
        let reference = read_reference(&store, tile, &spec, &scl.display().to_string(), true).expect("reference");
        // In zone 29, a tile is empty exactly when it ends west of the scene.
        if tile.epsg() == 32_629 {
            let west_of_scene = tile.buffered[2] <= 199_980.0;
            assert_eq!(reference == TileOutcome::Empty, west_of_scene, "{}: {reference:?}", tile.name);
        }
    }

    // Each stored pixel is the source pixel under its centre (nearest), NaN where the scene has nodata or ends.
    let source = Raster::open(&b04.display().to_string()).expect("open");
    let g = source.geo_transform().expect("transform").0;
    let full = source.read_window::<u16>(Window::full(source.width(), source.height()), None).expect("read");
    let mut outside = 0;
    for tile in grid.tiles.iter().filter(|t| t.epsg() == 32_629) {
        let stored = store.read::<f32>(&tile.name, "B04").expect("stored");
        let tg = tile_grid(tile, &spec);
        assert_eq!(stored.dim(), (1, 72, 72));
        let written = Raster::open(&store.feature_path(&tile.name, "B04").display().to_string()).expect("open");
        assert_eq!(written.crs().and_then(|c| c.epsg), Some(32_629));
        assert_eq!(written.geo_transform().expect("transform").0, tg.transform.0);
        for r in 0..72 {
            for c in 0..72 {
                let (x, y) = tg.transform.pixel_to_map(c as f64 + 0.5, r as f64 + 0.5);
                let (sc, sr) = (((x - g[0]) / g[1]).floor(), ((y - g[3]) / g[5]).floor());
                let want = if sc < 0.0 || sr < 0.0 || sc >= 1098.0 || sr >= 1098.0 {
                    outside += 1;
                    None
                } else {
                    Some(full[[0, sr as usize, sc as usize]]).filter(|v| *v != 0)
                };
                let got = stored[[0, r, c]];
                match want {
                    Some(v) => assert_eq!(got, f32::from(v), "tile {} pixel {r},{c}", tile.name),
                    None => assert!(got.is_nan(), "tile {} pixel {r},{c}: {got}", tile.name),
                }
            }
        }
        let reference = store.read::<u16>(&tile.name, "reference").expect("reference");
        assert!(reference.iter().all(|v| *v <= 11), "SCL classes 0–11 in {}", tile.name);
    }
    assert!(outside > 1000, "the AOI reaches beyond the scene: {outside} pixels outside");
    // Zone 28's tiles are warped across zones: the scene reaches some of their pixels, or none.
    for tile in grid.tiles.iter().filter(|t| t.epsg() == 32_628) {
        let written = Raster::open(&store.feature_path(&tile.name, "B04").display().to_string()).expect("open");
        assert_eq!(written.crs().and_then(|c| c.epsg), Some(32_628), "{}", tile.name);
    }

    // A rerun skips every tile; the files stay as they were.
    let before =
        std::fs::metadata(store.feature_path(&grid.tiles[0].name, "B04")).expect("meta").modified().expect("mtime");
    for tile in &grid.tiles {
        assert_eq!(read_input(&store, tile, &spec, &inputs[1], true).expect("rerun"), TileOutcome::Skipped);
    }
    let after =
        std::fs::metadata(store.feature_path(&grid.tiles[0].name, "B04")).expect("meta").modified().expect("mtime");
    assert_eq!(before, after);

    // NDVI and EVI from the stored bands, through the shared index functions.
    let band = |f: &str| BandRef { feature: f.to_owned(), band: 1 };
    let ndvi = IndexSpec::NormalizedDifference { name: "NDVI".into(), a: band("B08"), b: band("B04") };
    let evi = IndexSpec::Evi {
        name: "EVI".into(),
        blue: band("B02"),
        red: band("B04"),
        nir: band("B08"),
        scale: 1e-4,
        offset: 0.0,
    };
    let tile = &grid.tiles[grid.tiles.len() - 1];
    for index in [&ndvi, &evi] {
        assert_eq!(compute_index(&store, tile, &spec, index, true).expect("index"), TileOutcome::Done);
    }
    let (red, nir, blue) = (
        store.read::<f32>(&tile.name, "B04").expect("red"),
        store.read::<f32>(&tile.name, "B08").expect("nir"),
        store.read::<f32>(&tile.name, "B02").expect("blue"),
    );
    let (n, e) =
        (store.read::<f32>(&tile.name, "NDVI").expect("ndvi"), store.read::<f32>(&tile.name, "EVI").expect("evi"));
    let mut valid = 0;
    for ((i, v), ev) in n.indexed_iter().zip(e.iter()) {
        let want = eoforge_raster::normalized_difference(f64::from(nir[i]), f64::from(red[i]));
        assert!(v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()), "{i:?}: {v} vs {want}");
        let want = eoforge_raster::enhanced_vegetation_index(
            f64::from(blue[i]) * 1e-4,
            f64::from(red[i]) * 1e-4,
            f64::from(nir[i]) * 1e-4,
        );
        assert!(ev.to_bits() == want.to_bits() || (ev.is_nan() && want.is_nan()), "{i:?}: {ev} vs {want}");
        valid += usize::from(!v.is_nan());
    }
    assert!(valid > 1000, "{valid} valid NDVI pixels");
    let bad = IndexSpec::NormalizedDifference {
        name: "X".into(),
        a: BandRef { feature: "B08".into(), band: 2 },
        b: band("B04"),
    };
    let err = compute_index(&store, tile, &spec, &bad, true).expect_err("band 2");
    assert!(err.to_string().contains("feature `B08`") && err.to_string().contains("not band 2"), "{err}");
}

#[test]
fn samples_are_seeded_per_tile_and_merge_into_a_training_table() {
    let (Some(b04), Some(b08), Some(scl)) =
        (fixture("s2-l2a-29RKH/B04.tif"), fixture("s2-l2a-29RKH/B08.tif"), fixture("s2-l2a-29RKH/SCL.tif"))
    else {
        return;
    };
    let aoi = aoi_over(240_000.0, 2_740_000.0, 262_000.0, 2_752_000.0);
    let spec = GridSpec { tile_px: 64, resolution: 100.0, buffer_px: 4 };
    let grid = build_grid(&aoi, &spec).expect("grid");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = TileStore::new(dir.path().join("store"));
    for tile in &grid.tiles {
        for (name, path) in [("B04", &b04), ("B08", &b08)] {
            let input = InputSpec {
                name: name.into(),
                raster: path.display().to_string(),
                bands: vec![],
                resampling: ResamplingName::Bilinear,
            };
            read_input(&store, tile, &spec, &input, true).expect("input");
        }
        read_reference(&store, tile, &spec, &scl.display().to_string(), true).expect("reference");
        let ndvi = IndexSpec::NormalizedDifference {
            name: "NDVI".into(),
            a: BandRef { feature: "B08".into(), band: 1 },
            b: BandRef { feature: "B04".into(), band: 1 },
        };
        compute_index(&store, tile, &spec, &ndvi, true).expect("ndvi");
    }
    let options = SampleOptions {
        blocks: BlockSpec { block: 1, sampling: BlockSampling::Count(40), balance: false },
        seed: 11,
        features: vec!["B04".into(), "B08".into(), "NDVI".into()],
        ratios: SplitRatios { train: 0.6, validation: 0.2, test: 0.2 },
        split_by: SplitBy::Tile,
    };
    let run = |tiles: Vec<&eoforge_area::Tile>| -> std::collections::BTreeMap<String, Vec<Sample>> {
        tiles
            .into_iter()
            .map(|t| (t.name.clone(), sample_tile(&store, t, &spec, &options).expect("sample").1))
            .collect()
    };
    let all = run(grid.tiles.iter().collect());
    // Shuffled and with a tile left out, every tile draws the same samples.
    let mut others: Vec<_> = grid.tiles.iter().skip(1).collect();
    others.reverse();
    for (tile, samples) in run(others) {
        assert_eq!(all[&tile], samples, "{tile}");
    }
    let (columns, _) = sample_tile(&store, &grid.tiles[0], &spec, &options).expect("columns");
    assert_eq!(columns, ["B04", "B08", "NDVI"]);
    for (tile, samples) in &all {
        assert_eq!(samples.len(), 40, "{tile}");
        let reference = store.read::<u16>(tile, "reference").expect("reference");
        let ndvi = store.read::<f32>(tile, "NDVI").expect("ndvi");
        for s in samples {
            let (r, c) = (s.row as usize, s.col as usize);
            assert!((4..68).contains(&r) && (4..68).contains(&c), "{tile}: {s:?} in the core");
            assert_eq!((s.label, s.values[2]), (u32::from(reference[[0, r, c]]), ndvi[[0, r, c]]), "{tile}: {s:?}");
            assert!(s.label != 0 && s.values.iter().all(|v| v.is_finite()));
            assert_eq!(s.split, samples[0].split, "split by tile");
        }
    }

    let table = dir.path().join("samples.parquet");
    let merged: Vec<Sample> = all.values().flatten().cloned().collect();
    write_table(&table, &columns, &merged).expect("table");
    let file = std::fs::File::open(&table).expect("open");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
    let rows: usize = batches.iter().map(arrow::array::RecordBatch::num_rows).sum();
    assert_eq!(rows, merged.len());
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["tile", "row", "col", "lon", "lat", "label", "split", "B04", "B08", "NDVI"]);
    let lon = batches[0].column(3).as_any().downcast_ref::<arrow::array::Float64Array>().expect("lon").value(0);
    assert!((-12.0..-6.0).contains(&lon), "zone 29's longitudes: {lon}");
}

/// The eo-learn test patch (68 NDVI dates, its land-use labels; EPSG:32633, 10 m) cut into 200 m tiles: a
/// boosted-tree pixel model trained on some tiles beats the majority class on the tiles held out.
#[test]
fn a_pixel_model_beats_the_majority_class_on_held_out_tiles() {
    let (Some(bbox), Some(ndvi), Some(lulc)) = (
        fixture("aoi/eolearn_testpatch_bbox.geojson"),
        fixture("labels/eolearn_TestEOPatch_NDVI_68dates.tif"),
        fixture("labels/eolearn_TestEOPatch_LULC.tif"),
    ) else {
        return;
    };
    let aoi = Aoi::read(&bbox).expect("aoi");
    let spec = GridSpec { tile_px: 20, resolution: 10.0, buffer_px: 0 };
    let grid = build_grid(&aoi, &spec).expect("grid");
    assert!(grid.tiles.len() >= 25, "{} tiles", grid.tiles.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = TileStore::new(dir.path());
    for tile in &grid.tiles {
        let input = InputSpec {
            name: "NDVI".into(),
            raster: ndvi.display().to_string(),
            bands: vec![],
            resampling: ResamplingName::Nearest,
        };
        read_input(&store, tile, &spec, &input, true).expect("input");
        read_reference(&store, tile, &spec, &lulc.display().to_string(), true).expect("reference");
    }
    let options = SampleOptions {
        blocks: BlockSpec { block: 1, sampling: BlockSampling::Count(150), balance: false },
        seed: 5,
        features: vec!["NDVI".into()],
        ratios: SplitRatios { train: 0.6, validation: 0.2, test: 0.2 },
        split_by: SplitBy::Tile,
    };
    let mut columns = Vec::new();
    let mut samples = Vec::new();
    for tile in &grid.tiles {
        let (c, s) = sample_tile(&store, tile, &spec, &options).expect("sample");
        columns = c;
        samples.extend(s);
    }
    let (train, held): (Vec<&Sample>, Vec<&Sample>) =
        samples.iter().partition(|s| s.split == eoforge_sampling::Split::Train);
    assert!(train.len() > 1000 && held.len() > 300, "{} training and {} held-out samples", train.len(), held.len());
    assert_eq!(columns.len(), 68, "one column per NDVI date");
    let rows = |set: &[&Sample]| set.iter().map(|s| s.values.clone()).collect::<Vec<_>>();
    let labels: Vec<f64> = train.iter().map(|s| f64::from(s.label)).collect();
    let config = PixelModelConfig { iterations: 30, ..PixelModelConfig::default() };
    let model = PixelModel::fit(PixelTask::Classification, &columns, &rows(&train), &labels, &config).expect("fit");
    let predicted: Vec<u32> = model.predict(&rows(&held)).expect("predict").iter().map(|v| *v as u32).collect();
    let truth: Vec<u32> = held.iter().map(|s| s.label).collect();
    let report = classification_report(&truth, &predicted);
    let mut counts = std::collections::BTreeMap::new();
    for s in &train {
        *counts.entry(s.label).or_insert(0) += 1;
    }
    let majority = counts.iter().max_by_key(|(_, n)| **n).map(|(c, _)| *c).expect("a class");
    let baseline = classification_report(&truth, &vec![majority; truth.len()]);
    eprintln!(
        "pixel model on held-out tiles: accuracy {:.3}, macro F1 {:.3}; majority class {majority}: accuracy {:.3}, macro F1 {:.3}",
        report.accuracy, report.macro_f1, baseline.accuracy, baseline.macro_f1
    );
    assert!(report.accuracy > baseline.accuracy && report.macro_f1 > baseline.macro_f1 + 0.1, "{report:?}");

    // Saved and loaded, it predicts the same.
    let path = dir.path().join("model.json");
    model.save(&path).expect("save");
    let loaded = PixelModel::load(&path).expect("load");
    let again: Vec<u32> = loaded.predict(&rows(&held)).expect("predict").iter().map(|v| *v as u32).collect();
    assert_eq!(again, predicted);
    assert!(
        PixelModel::fit(PixelTask::Classification, &columns, &rows(&train), &vec![1.0; train.len()], &config).is_err()
    );

    // Every pixel of a held-out tile predicted into a class map: its classes agree with the model's own
    // predictions of the sampled pixels, and mostly with the reference.
    let mut per_tile = std::collections::BTreeMap::new();
    for s in &held {
        *per_tile.entry(s.tile.clone()).or_insert(0) += 1;
    }
    let held_tile = per_tile.iter().max_by_key(|(_, n)| **n).map(|(t, _)| t.clone()).expect("a held-out tile");
    let tile = grid.tile(&held_tile).expect("tile");
    let outcome = predict_tile(&store, tile, &spec, &loaded, &["NDVI".to_owned()], true).expect("predict");
    assert_eq!(outcome, TileOutcome::Done);
    let map = store.read::<u8>(&held_tile, PREDICTION).expect("map");
    for (s, p) in held.iter().zip(&predicted).filter(|(s, _)| s.tile == held_tile) {
        assert_eq!(u32::from(map[[0, s.row as usize, s.col as usize]]), *p, "{s:?}");
    }
    let reference = store.read::<u16>(&held_tile, "reference").expect("reference");
    let (agree, labelled) = map
        .iter()
        .zip(reference.iter())
        .filter(|(_, r)| **r != 0)
        .fold((0, 0), |(a, n), (m, r)| (a + usize::from(u16::from(*m) == *r), n + 1));
    assert!(labelled > 100 && agree as f64 / labelled as f64 > 0.7, "{agree} of {labelled} pixels agree");
    let rerun = predict_tile(&store, tile, &spec, &loaded, &["NDVI".to_owned()], true).expect("rerun");
    assert_eq!(rerun, TileOutcome::Skipped);
    let two = ["NDVI".to_owned(), "reference".to_owned()];
    let err = predict_tile(&store, tile, &spec, &loaded, &two, false).expect_err("columns");
    assert!(err.to_string().contains("the model reads 68"), "{err}");
}
