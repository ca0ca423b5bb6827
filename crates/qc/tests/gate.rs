//! The QC gate on real products and on planted failures: every failure blocks publishing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eoforge_qc::{QcConfig, Status, run_qc};
use eoforge_raster::{CogOptions, Raster, RasterSpec, TiffOptions, TiledWriter, Window, write_cog};
use eoforge_storage::StoreOptions;
use eoforge_testkit::fixture;
use ndarray::{Array3, Axis};

/// The real 29RKH B02/B03/B04/B08 stack and its spec.
fn stack() -> Option<(Array3<u16>, RasterSpec)> {
    let mut planes = Vec::new();
    let mut spec = RasterSpec::default();
    for band in ["B02", "B03", "B04", "B08"] {
        let raster = Raster::open(&fixture(&format!("s2-l2a-29RKH/{band}.tif"))?.display().to_string()).expect("open");
        spec = RasterSpec {
            width: 1098,
            height: 1098,
            bands: 4,
            geo_transform: raster.geo_transform(),
            crs: raster.crs(),
            nodata: Some(0.0),
            band_descriptions: vec![],
            ..RasterSpec::default()
        };
        planes.push(raster.read_window::<u16>(Window::full(1098, 1098), None).expect("read"));
    }
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    Some((ndarray::concatenate(Axis(0), &views).expect("stack"), spec))
}

/// Writes `data` as a tiled GeoTIFF, then (if `cog`) as a COG; returns the product path.
fn product(dir: &Path, name: &str, data: &Array3<u16>, spec: &RasterSpec, cog: bool) -> PathBuf {
    let raw = dir.join(format!("{name}.raw.tif"));
    let mut w = TiledWriter::<u16>::create(&raw, spec, &TiffOptions::default()).expect("create");
    w.write_window(Window::full(spec.width, spec.height), data.view()).expect("write");
    w.finish(None).expect("finish");
    if !cog {
        return raw;
    }
    let out = dir.join(format!("{name}.tif"));
    write_cog(&Raster::open(&raw.display().to_string()).expect("open"), &out, &CogOptions::default()).expect("cog");
    out
}

fn failed(report: &eoforge_qc::QcReport) -> Vec<String> {
    report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.name.clone()).collect()
}

#[test]
fn a_good_product_passes() {
    let Some((data, spec)) = stack() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let good = product(dir.path(), "good", &data, &spec, true);
    let config = QcConfig {
        bands: Some(4),
        dtype: Some(eoforge_raster::DataType::UInt16),
        mean_range: Some((100.0, 10_000.0)),
        ..QcConfig::default()
    };
    let report = run_qc(&good, &config, &BTreeMap::from([("write".to_owned(), 2.0)])).expect("qc");
    assert!(report.passed, "{}", report.failures());
    assert!(report.compression_ratio > 1.0 && report.bands[2].entropy > 5.0, "{report:?}");
    report.write(&dir.path().join("report.json")).expect("report");
    assert!(report.gate().is_ok());
}

/// A planted failure: name, product, limits, stage timings, checks that must fail.
type Case<'a> = (&'a str, PathBuf, QcConfig, BTreeMap<String, f64>, &'a [&'a str]);

#[test]
fn every_planted_failure_is_caught_and_blocks_publishing() {
    let Some((data, spec)) = stack() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = QcConfig::default();
    let none = BTreeMap::new();

    let zeros = Array3::<u16>::zeros(data.dim());
    let cases: Vec<Case<'_>> = vec![
        (
            "all-nodata",
            product(dir.path(), "nodata", &zeros, &spec, true),
            config.clone(),
            none.clone(),
            &["band_1.not_all_zero", "band_1.nodata_fraction"],
        ),
        (
            "all-zero",
            product(dir.path(), "zero", &zeros, &RasterSpec { nodata: None, ..spec.clone() }, true),
            config.clone(),
            none.clone(),
            &["band_1.not_all_zero", "band_1.std", "band_1.entropy"],
        ),
        (
            "no-overviews",
            product(dir.path(), "flat", &data, &spec, false),
            config.clone(),
            none.clone(),
            &["overviews", "cog_layout"],
        ),
        (
            "wrong-bands",
            product(dir.path(), "bands", &data, &spec, true),
            QcConfig { bands: Some(5), ..config.clone() },
            none.clone(),
            &["band_count"],
        ),
        (
            "too-slow",
            product(dir.path(), "slow", &data, &spec, true),
            QcConfig { stage_limit: Some((1.0, 0.5)), ..config.clone() },
            BTreeMap::from([("write".to_owned(), 9.0)]),
            &["time.write"],
        ),
    ];
    for (name, path, config, stages, expected) in cases {
        let report = run_qc(&path, &config, &stages).expect("qc runs");
        assert!(!report.passed, "{name} passed QC");
        let failures = failed(&report);
        for want in expected {
            assert!(failures.iter().any(|f| f == want), "{name}: expected {want} to fail, failed: {failures:?}");
        }
        let err = report.gate().expect_err("blocked");
        assert!(err.to_string().contains("failed QC") && err.to_string().contains(expected[0]), "{err}");
    }
}

#[test]
fn an_unreadable_product_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("cut.tif");
    std::fs::write(&bad, b"II*\0garbage").expect("write");
    let err = run_qc(&bad, &QcConfig::default(), &BTreeMap::new()).expect_err("unreadable");
    assert!(err.to_string().contains("cut.tif"), "{err}");
}

/// Naive reference statistics of one band (nodata and NaN excluded), in f64.
fn reference(plane: &[f64], nodata: Option<f64>) -> (u64, u64, f64, f64, f64, f64) {
    let valid: Vec<f64> = plane.iter().copied().filter(|v| !v.is_nan() && Some(*v) != nodata).collect();
    let n = valid.len() as f64;
    let mean = valid.iter().sum::<f64>() / n;
    let std = (valid.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let min = valid.iter().copied().fold(f64::INFINITY, f64::min);
    let max = valid.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    ((plane.len() - valid.len()) as u64, valid.iter().filter(|v| **v == 0.0).count() as u64, mean, std, min, max)
}

#[test]
fn band_statistics_match_a_naive_scan_for_integers_and_floats() {
    let Some((data, spec)) = stack() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Real u16 data with planted nodata (0) in band 1 and zeros nowhere else.
    let mut ints = data.clone();
    ints.slice_mut(ndarray::s![0, 100..300, 50..900]).fill(0);
    let path = product(dir.path(), "ints", &ints, &spec, false);
    let stats = eoforge_qc::band_stats(&Raster::open(&path.display().to_string()).expect("open")).expect("stats");
    for (b, s) in stats.iter().enumerate() {
        let plane: Vec<f64> = ints.index_axis(Axis(0), b).iter().map(|v| f64::from(*v)).collect();
        let (nodata, zeros, mean, std, min, max) = reference(&plane, Some(0.0));
        assert_eq!((s.pixels, s.nodata, s.zeros), (plane.len() as u64, nodata, zeros), "band {}", b + 1);
        assert!((s.mean - mean).abs() < 1e-9 * mean && (s.std - std).abs() < 1e-6 * std, "band {}: {s:?}", b + 1);
        assert_eq!((s.min, s.max), (min, max));
    }
    assert_eq!(stats[0].nodata, 200 * 850);

    // The same values as Float32 reflectances with NaN holes and a -9999 nodata.
    let mut floats = data.mapv(|v| f32::from(v) / 10_000.0 - 0.1);
    floats.slice_mut(ndarray::s![1, 0..10, ..]).fill(f32::NAN);
    floats.slice_mut(ndarray::s![2, 500..520, ..]).fill(-9999.0);
    let fspec = RasterSpec { nodata: Some(-9999.0), ..spec };
    let raw = dir.path().join("floats.tif");
    let mut w = TiledWriter::<f32>::create(&raw, &fspec, &TiffOptions::default()).expect("create");
    w.write_window(Window::full(fspec.width, fspec.height), floats.view()).expect("write");
    w.finish(None).expect("finish");
    let stats = eoforge_qc::band_stats(&Raster::open(&raw.display().to_string()).expect("open")).expect("stats");
    for (b, s) in stats.iter().enumerate() {
        let plane: Vec<f64> = floats.index_axis(Axis(0), b).iter().map(|v| f64::from(*v)).collect();
        let (nodata, zeros, mean, std, min, max) = reference(&plane, Some(-9999.0));
        assert_eq!((s.nodata, s.zeros), (nodata, zeros), "band {}", b + 1);
        assert!((s.mean - mean).abs() < 1e-9 && (s.std - std).abs() < 1e-9, "band {}: {s:?} vs {mean} {std}", b + 1);
        assert_eq!((s.min, s.max), (min, max));
        assert!(s.entropy > 5.0);
    }
    assert_eq!((stats[1].nodata, stats[2].nodata), (10 * 1098, 20 * 1098));
}

/// A real 408x652 crop (a shape `gdalwarp` often produces), as a COG from the streaming writer.
fn narrow_cog(dir: &Path) -> Option<(String, PathBuf)> {
    let b04 = fixture("s2-l2a-29RKH/B04.tif")?;
    let crop = dir.join("crop.tif");
    let crop_s = crop.display().to_string();
    eoforge_testkit::gdal_tool(
        "gdal_translate",
        &["-q", "-srcwin", "100", "200", "408", "652", b04.to_str().expect("utf-8"), &crop_s],
    );
    let cog = dir.join("crop_cog.tif");
    eoforge_raster::translate_to_cog(
        &crop_s,
        &StoreOptions::default(),
        &cog,
        &eoforge_raster::CogWriterOptions::default(),
    )
    .expect("cog");
    Some((crop_s, cog))
}

#[test]
fn a_narrow_tall_raster_in_512_tiles_is_tiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_, cog)) = narrow_cog(dir.path()) else { return };
    let (valid, output) = eoforge_testkit::gdal_cog_validator(&cog);
    assert!(valid, "{output}");
    let report = run_qc(&cog, &QcConfig::default(), &BTreeMap::new()).expect("qc");
    assert!(report.passed, "{}", report.failures());
    let tiled = report.checks.iter().find(|c| c.name == "tiled").expect("tiled check");
    assert!(tiled.detail.contains("512x512 on 408x652"), "{}", tiled.detail);
}

#[test]
fn a_product_must_keep_its_sources_crs_and_geotransform() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((source, cog)) = narrow_cog(dir.path()) else { return };
    let src = Raster::open(&source).expect("open");
    let reference = eoforge_qc::SourceReference {
        location: source.clone(),
        crs: src.crs(),
        geo_transform: src.geo_transform(),
        nodata_fraction: vec![],
        nodata_tolerance: 0.01,
    };
    let config = QcConfig { source: Some(reference.clone()), ..QcConfig::default() };
    let report = run_qc(&cog, &config, &BTreeMap::new()).expect("qc");
    assert!(report.passed, "{}", report.failures());

    // Planted: the product claims another UTM zone, or sits one pixel off.
    let wrong_crs = QcConfig {
        source: Some(eoforge_qc::SourceReference {
            crs: Some(eoforge_raster::Crs::from_epsg(32_630).expect("32630")),
            ..reference.clone()
        }),
        ..QcConfig::default()
    };
    let report = run_qc(&cog, &wrong_crs, &BTreeMap::new()).expect("qc");
    assert_eq!(failed(&report), vec!["crs".to_owned()]);
    assert!(
        report.failures().contains("EPSG:32629") && report.failures().contains("EPSG:32630"),
        "{}",
        report.failures()
    );
    let mut shifted = src.geo_transform().expect("gt");
    shifted.0[0] += 100.0;
    let wrong_gt = QcConfig {
        source: Some(eoforge_qc::SourceReference { geo_transform: Some(shifted), ..reference.clone() }),
        ..QcConfig::default()
    };
    let report = run_qc(&cog, &wrong_gt, &BTreeMap::new()).expect("qc");
    assert_eq!(failed(&report), vec!["geotransform".to_owned()]);
    let no_crs =
        QcConfig { source: Some(eoforge_qc::SourceReference { crs: None, ..reference }), ..QcConfig::default() };
    assert_eq!(failed(&run_qc(&cog, &no_crs, &BTreeMap::new()).expect("qc")), vec!["crs".to_owned()]);
}

#[test]
fn nodata_is_judged_against_the_sources_share() {
    // The CDL class map with nodata planted over 87% of it (a coastal tile is mostly ocean).
    let Some(cdl) = fixture("labels/cdl_2021_30m_kansas_1000.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let src = Raster::open(&cdl.display().to_string()).expect("open");
    let mut data = src.read_window::<u8>(Window::full(1000, 1000), None).expect("read");
    for ((_, y, _), v) in data.indexed_iter_mut() {
        if y >= 130 {
            *v = 0;
        }
    }
    let spec = RasterSpec {
        width: 1000,
        height: 1000,
        bands: 1,
        geo_transform: src.geo_transform(),
        crs: src.crs(),
        nodata: Some(0.0),
        ..RasterSpec::default()
    };
    let mut writer = eoforge_raster::CogWriter::<u8>::create(
        &dir.path().join("ocean.tif"),
        &spec,
        &eoforge_raster::CogWriterOptions::default(),
    )
    .expect("create");
    let (nx, ny) = writer.blocks();
    for by in 0..ny {
        for bx in 0..nx {
            let (x0, y0) = (bx * 512, by * 512);
            let view = data.slice(ndarray::s![.., y0..(y0 + 512).min(1000), x0..(x0 + 512).min(1000)]);
            writer.write_block(bx, by, view).expect("block");
        }
    }
    let product = writer.finish().expect("finish");
    let absolute = run_qc(&product, &QcConfig::default(), &BTreeMap::new()).expect("qc");
    assert_eq!(failed(&absolute), vec!["band_1.nodata_fraction".to_owned()], "no source: the absolute 0.5 applies");
    let source = |fraction: f64| eoforge_qc::SourceReference {
        location: "ocean source".into(),
        crs: src.crs(),
        geo_transform: src.geo_transform(),
        nodata_fraction: vec![fraction],
        nodata_tolerance: 0.01,
    };
    let config = QcConfig { source: Some(source(0.87)), ..QcConfig::default() };
    let report = run_qc(&product, &config, &BTreeMap::new()).expect("qc");
    assert!(report.passed, "as much nodata as its source: {}", report.failures());
    let config = QcConfig { source: Some(source(0.5)), ..QcConfig::default() };
    let report = run_qc(&product, &config, &BTreeMap::new()).expect("qc");
    assert_eq!(failed(&report), vec!["band_1.nodata_fraction".to_owned()], "more nodata than the source");
}

#[test]
fn byte_statistics_match_a_naive_scan_on_the_class_map() {
    // The CDL class map (UInt8) with nodata 0 planted over a block: the interleaved byte counters against a plain
    // histogram, including the entropy.
    let Some(cdl) = fixture("labels/cdl_2021_30m_kansas_1000.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let src = Raster::open(&cdl.display().to_string()).expect("open");
    let mut data = src.read_window::<u8>(Window::full(1000, 1000), None).expect("read");
    data.slice_mut(ndarray::s![0, 10..110, 3..1000]).fill(0);
    let spec = RasterSpec { width: 1000, height: 1000, bands: 1, nodata: Some(0.0), ..RasterSpec::default() };
    let path = dir.path().join("classes.tif");
    let mut w = TiledWriter::<u8>::create(&path, &spec, &TiffOptions::default()).expect("create");
    w.write_window(Window::full(1000, 1000), data.view()).expect("write");
    w.finish(None).expect("finish");
    let stats = eoforge_qc::band_stats(&Raster::open(&path.display().to_string()).expect("open")).expect("stats");
    let mut counts = [0u64; 256];
    for v in &data {
        counts[usize::from(*v)] += 1;
    }
    let valid: u64 = counts[1..].iter().sum();
    let entropy: f64 =
        counts[1..].iter().filter(|c| **c > 0).map(|&c| c as f64 / valid as f64).map(|p| -p * p.log2()).sum();
    let s = &stats[0];
    assert_eq!((s.pixels, s.nodata, s.zeros), (1_000_000, counts[0], 0));
    assert!((s.entropy - entropy).abs() < 1e-9, "{} vs {entropy}", s.entropy);
    let mean = counts.iter().enumerate().skip(1).map(|(v, &c)| v as f64 * c as f64).sum::<f64>() / valid as f64;
    assert!((s.mean - mean).abs() < 1e-9, "{} vs {mean}", s.mean);
    let min = counts.iter().enumerate().skip(1).find(|(_, c)| **c > 0).map(|(v, _)| v as f64);
    assert_eq!(Some(s.min), min);
}

/// A class map of one class everywhere (a cloud-free scene, all "clear") is a valid map: with its class values QC
/// passes it, where the continuous-product checks (std, entropy) reject it; a value that is no class fails.
#[test]
fn a_single_class_map_passes_as_a_class_map_and_foreign_values_fail() {
    let Some((_, spec)) = stack() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = RasterSpec { bands: 1, nodata: Some(255.0), ..spec };
    let mut data = Array3::<u16>::from_elem((1, 1098, 1098), 4);
    data.slice_mut(ndarray::s![.., ..10, ..]).fill(255);
    let clear = product(dir.path(), "clear", &data, &spec, true);
    let stages = BTreeMap::new();
    let report = run_qc(&clear, &QcConfig::default(), &stages).expect("qc");
    assert!(failed(&report).contains(&"band_1.std".to_owned()), "{:?}", failed(&report));
    let as_map = QcConfig { class_values: Some(vec![0.0, 4.0, 9.0]), ..QcConfig::default() };
    let report = run_qc(&clear, &as_map, &stages).expect("qc");
    assert!(report.passed, "{:?}", report.failures());
    assert!(report.checks.iter().any(|c| c.name == "band_1.classes"), "{:?}", report.checks);
    let other = QcConfig { class_values: Some(vec![0.0, 9.0]), ..QcConfig::default() };
    let report = run_qc(&clear, &other, &stages).expect("qc");
    assert_eq!(failed(&report), ["band_1.classes"], "{:?}", report.failures());
    assert!(report.failures().contains("4 ("), "{}", report.failures());
}
