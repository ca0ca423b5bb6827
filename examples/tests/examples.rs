//! Runs every example binary on the real fixtures and checks what it prints and writes against values computed
//! here from the fixture files themselves.
//!
//! The binaries are the ones cargo builds into `target/<profile>/examples/` (`cargo test --workspace` builds them
//! before running tests; `cargo test --test examples` alone does not).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eoforge_raster::{Raster, Window, normalized_difference};
use eoforge_testkit::{fixture, gdal_cog_validator, gdal_tool};
use ndarray::Array2;

/// The example binary `name`, built beside this test's binary: `target/<profile>/deps/examples-<hash>` →
/// `target/<profile>/examples/<name>`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(Path::parent).expect("the test binary lies in target/<profile>/deps");
    let binary = dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "the example binary {} is missing: build the examples first, with `cargo test --workspace` (which builds \
         them) or `cargo build --examples -p eoforge-examples`",
        binary.display()
    );
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(format!("{name}.rs"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(built), Some(edited)) = (modified(&binary), modified(&source)) {
        assert!(
            built >= edited,
            "{} is older than {}: rebuild the examples (`cargo build --examples -p eoforge-examples`)",
            binary.display(),
            source.display()
        );
    }
    binary
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name)).args(args).output().unwrap_or_else(|e| panic!("run the example {name}: {e}"))
}

/// Runs an example that must succeed and returns its standard output.
fn succeed(name: &str, args: &[&str]) -> String {
    let out = run(name, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {} failed ({}):\n{stdout}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// One band of a fixture of the 29RKH scene, as f64, and its nodata value.
fn fixture_band(band: &str) -> Option<(Array2<f64>, Option<f64>)> {
    let path = fixture(&format!("s2-l2a-29RKH/{band}.tif"))?;
    let raster = Raster::open(utf8(&path)).expect("open a fixture band");
    let data = raster.read_window::<f64>(Window::full(raster.width(), raster.height()), None).expect("read");
    let nodata = raster.nodata(1).expect("nodata");
    Some((data.index_axis_move(ndarray::Axis(0), 0), nodata))
}

/// The 29RKH scene's B02, B03, B04 and B08 as one 4-band VRT in `dir`, as the examples' documentation builds it.
fn stack(dir: &Path) -> Option<PathBuf> {
    let bands: Vec<String> = ["B02", "B03", "B04", "B08"]
        .iter()
        .map(|b| fixture(&format!("s2-l2a-29RKH/{b}.tif")).map(|p| p.display().to_string()))
        .collect::<Option<_>>()?;
    let vrt = dir.join("stack.vrt");
    let mut args = vec!["-q", "-separate", utf8(&vrt)];
    args.extend(bands.iter().map(String::as_str));
    gdal_tool("gdalbuildvrt", &args);
    Some(vrt)
}

fn same_value(got: f32, want: f64, tolerance: f64) -> bool {
    if want.is_nan() { got.is_nan() } else { (f64::from(got) - want).abs() <= tolerance * want.abs().max(1.0) }
}

/// Every 19th pixel of every 23rd row, and the four corners: a few thousand pixels spread over the scene.
fn sample_pixels(width: usize, height: usize) -> Vec<(usize, usize)> {
    let mut pixels: Vec<(usize, usize)> =
        (0..height).step_by(23).flat_map(|row| (0..width).step_by(19).map(move |col| (row, col))).collect();
    pixels.extend([(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)]);
    pixels
}

#[test]
fn window_stats_prints_the_valid_count_and_mean_of_a_real_band() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let out = succeed("window_stats", &[utf8(&b04), "100", "200", "256", "128"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("band ")).collect();
    assert_eq!(lines.len(), 1, "one band line for a one-band raster:\n{out}");

    let raster = Raster::open(utf8(&b04)).expect("open");
    let data = raster.read_window::<f64>(Window::new(100, 200, 256, 128), None).expect("read");
    let nodata = raster.nodata(1).expect("nodata");
    let valid: Vec<f64> = data.iter().copied().filter(|v| nodata.is_none_or(|nd| (v - nd).abs() > 0.0)).collect();
    assert!(!valid.is_empty());
    let mean = valid.iter().sum::<f64>() / valid.len() as f64;
    let expected = format!("band 1: {} valid of {}, mean {mean:.2},", valid.len(), 256 * 128);
    assert!(lines[0].starts_with(&expected), "expected `{expected}…`:\n{out}");
}

#[test]
fn missing_keys_lists_every_missing_key_of_a_local_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("a.txt"), b"a").expect("write");
    std::fs::write(dir.path().join("sub/b.txt"), b"b").expect("write");
    let store = utf8(dir.path());

    let out = succeed("missing_keys", &[store, "a.txt", "sub/b.txt"]);
    assert!(out.starts_with("checked 2 keys") && !out.contains("missing:"), "{out}");

    let out = run("missing_keys", &[store, "a.txt", "gone.txt", "sub/b.txt", "sub/none.txt"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "missing keys are a failure:\n{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 missing"), "{}", String::from_utf8_lossy(&out.stderr));
    let missing: Vec<&str> = stdout.lines().filter(|l| l.starts_with("missing: ")).collect();
    assert_eq!(missing.len(), 2, "{stdout}");
    assert!(missing[0].ends_with("gone.txt") && missing[1].ends_with("sub/none.txt"), "{stdout}");
}

#[test]
fn write_cog_streams_the_ndvi_of_a_real_scene_into_a_valid_cog_on_the_source_grid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(stack) = stack(dir.path()) else { return };
    let dest = dir.path().join("ndvi.tif");
    let out = succeed("write_cog", &[utf8(&stack), utf8(&dest), "3", "4"]);
    assert!(out.contains("2 overviews") && out.contains("valid COG"), "{out}");
    let (valid, text) = gdal_cog_validator(&dest);
    assert!(valid && !text.contains("warnings were found"), "{text}");

    let (source, ndvi) = (Raster::open(utf8(&stack)).expect("open"), Raster::open(utf8(&dest)).expect("open"));
    assert_eq!((ndvi.width(), ndvi.height(), ndvi.band_count()), (source.width(), source.height(), 1));
    assert_eq!(ndvi.dtype(1).expect("dtype"), eoforge_raster::DataType::Float32);
    let (crs, source_crs) = (ndvi.crs().expect("a CRS"), source.crs().expect("the source's CRS"));
    assert!(crs.is_same(&source_crs), "{} vs {}", crs.label(), source_crs.label());
    let (gt, source_gt) = (ndvi.geo_transform().expect("a geotransform"), source.geo_transform().expect("source's"));
    assert!(gt.0.iter().zip(source_gt.0).all(|(a, b)| (a - b).abs() < 1e-9), "{gt:?} vs {source_gt:?}");

    // NDVI from the fixture bands themselves, not through the stack.
    let (Some((red, red_nodata)), Some((nir, nir_nodata))) = (fixture_band("B04"), fixture_band("B08")) else {
        return;
    };
    let got = ndvi.read_window::<f32>(Window::full(ndvi.width(), ndvi.height()), None).expect("read");
    let is_nodata = |v: f64, nd: Option<f64>| nd.is_some_and(|nd| (v - nd).abs() < f64::EPSILON);
    let mut finite = Vec::new();
    for (row, col) in sample_pixels(ndvi.width(), ndvi.height()) {
        let (r, n) = (red[[row, col]], nir[[row, col]]);
        let want = if is_nodata(r, red_nodata) || is_nodata(n, nir_nodata) {
            f64::NAN
        } else {
            f64::from(normalized_difference(n, r))
        };
        let value = got[[0, row, col]];
        assert!(same_value(value, want, 1e-6), "pixel ({row}, {col}): red {r}, NIR {n}: NDVI {value}, expected {want}");
        if want.is_finite() {
            finite.push(want);
        }
    }
    let (lo, hi) = finite.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    assert!(finite.len() > 1000 && hi - lo > 0.05, "real, varied NDVI: {} values in {lo}..{hi}", finite.len());
}

#[test]
fn tiled_inference_writes_the_band_combination_of_a_real_scene_into_a_valid_cog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(stack) = stack(dir.path()) else { return };
    let dest = dir.path().join("combination.tif");
    let out = succeed("tiled_inference", &[utf8(&stack), utf8(&dest)]);
    assert!(out.contains("windows/s"), "{out}");
    for stage in ["read", "model", "stitch_write"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(stage) && l.contains("busy")), "{stage}:\n{out}");
    }
    let (valid, text) = gdal_cog_validator(&dest);
    assert!(valid && !text.contains("warnings were found"), "{text}");

    let bands: Vec<(Array2<f64>, Option<f64>)> =
        match ["B02", "B03", "B04", "B08"].iter().map(|b| fixture_band(b)).collect::<Option<Vec<_>>>() {
            Some(bands) => bands,
            None => return,
        };
    let output = Raster::open(utf8(&dest)).expect("open");
    assert_eq!(output.band_count(), 2);
    let got = output.read_window::<f32>(Window::full(output.width(), output.height()), None).expect("read");
    let (height, width) = bands[0].0.dim();
    assert_eq!(got.dim(), (2, height, width));
    let mut checked = 0;
    for (row, col) in sample_pixels(width, height) {
        let values: Vec<f64> = bands.iter().map(|(data, _)| data[[row, col]]).collect();
        let masked = bands.iter().zip(&values).any(|((_, nd), v)| nd.is_some_and(|nd| (v - nd).abs() < f64::EPSILON));
        let dvi = if masked { f64::NAN } else { values[3] - values[2] };
        let brightness = if masked { f64::NAN } else { values.iter().sum::<f64>() / 4.0 };
        for (band, want) in [dvi, brightness].into_iter().enumerate() {
            let value = got[[band, row, col]];
            assert!(
                same_value(value, want, 1e-3),
                "band {} at ({row}, {col}) from {values:?}: {value}, expected {want}",
                band + 1
            );
        }
        checked += usize::from(!masked);
    }
    assert!(checked > 1000, "{checked} unmasked pixels compared");
}

#[test]
fn train_loop_lowers_the_loss_on_shards_cut_from_a_real_scene() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(stack) = stack(dir.path()) else { return };
    let Some(scl) = fixture("s2-l2a-29RKH/SCL.tif") else { return };
    // A 276 px crop where the scene classification holds several classes (bare soil, clouds, cirrus, …).
    let scene = dir.path().join("scene.tif");
    gdal_tool("gdal_translate", &["-q", "-srcwin", "822", "0", "276", "276", utf8(&stack), utf8(&scene)]);
    let shards = dir.path().join("shards");
    let options = eoforge_convert::WindowOptions {
        out: utf8(&shards).to_owned(),
        size: 32,
        stride: 32,
        ignore: Some(0),
        ..eoforge_convert::WindowOptions::default()
    };
    let report =
        eoforge_convert::convert_windows(utf8(&scene), Some(utf8(&scl)), &options, &|| {}).expect("convert windows");
    let train_classes = report.class_pixels.get("train").map_or(0, std::collections::BTreeMap::len);
    assert!(train_classes >= 3, "several classes to learn: {report:?}");

    let out = succeed("train_loop", &[utf8(&shards), "4"]);
    let losses: Vec<f64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("epoch ")?.split_once(": mean loss ")?.1.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(losses.len(), 4, "one loss per epoch:\n{out}");
    assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0), "{losses:?}");
    assert!(losses[3] < losses[0], "the loss goes down: {losses:?}\n{out}");
}
