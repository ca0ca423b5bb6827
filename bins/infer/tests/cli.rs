//! `eoforge-infer cog` and `qc` end to end: real rasters, planted failures, kill and rerun, S3 publishing.

use std::path::Path;
use std::process::{Command, Output};

use eoforge_raster::{RasterSpec, TiffOptions, TiledWriter, Window};
use eoforge_testkit::{S3Server, fixture};

fn infer(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eoforge-infer"));
    cmd.args(args).env_remove("EOFORGE_S3_ENDPOINT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run eoforge-infer")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).expect("json")
}

/// A tiled GeoTIFF of `value` everywhere (georeferenced like 29RKH).
fn constant(path: &Path, size: usize, value: u16, nodata: Option<f64>) {
    let spec = RasterSpec {
        width: size,
        height: size,
        bands: 1,
        geo_transform: Some(eoforge_raster::GeoTransform::north_up(199_980.0, 2_800_020.0, 100.0, 100.0)),
        crs: eoforge_raster::Crs::from_epsg(32_629).ok(),
        nodata,
        band_descriptions: vec![],
        ..RasterSpec::default()
    };
    let mut w = TiledWriter::<u16>::create(path, &spec, &TiffOptions::default()).expect("create");
    w.write_window(Window::full(size, size), ndarray::Array3::from_elem((1, size, size), value).view()).expect("write");
    w.finish(None).expect("finish");
}

#[test]
fn cog_publishes_a_good_product_once_and_blocks_a_bad_one() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("maps/B04.cog.tif");
    let d = dest.display().to_string();
    let src = b04.display().to_string();
    let args =
        ["cog", src.as_str(), d.as_str(), "--compress", "zstd", "--level", "9", "--bands", "1", "--dtype", "uint16"];
    let out = infer(&args, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("QC PASS") && text(&out).contains("published"), "{}", text(&out));
    assert_eq!(json(&dir.path().join("maps/B04.cog.tif.qc.json"))["passed"], true);
    let profile = json(&dir.path().join("maps/B04.cog.tif.profile.json"));
    assert!(
        profile["stages"]["write"].as_f64().is_some() && profile["peak_rss_mib"].as_f64().unwrap_or(0.0) > 0.0,
        "{profile}"
    );
    let check = eoforge_raster::check_cog(&dest).expect("check");
    assert!(check.is_valid() && check.overview_count >= 1, "{check:?}");
    let again = infer(&args, &[]);
    assert!(again.status.success() && text(&again).contains("already published"), "{}", text(&again));
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path().join("maps")).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(leftovers.len(), 5, "product, report, profile, STAC Item and preview only: {leftovers:?}");

    let zeros = dir.path().join("zeros.tif");
    constant(&zeros, 1024, 0, None);
    let bad = dir.path().join("maps/zeros.cog.tif");
    let out = infer(&["cog", &zeros.display().to_string(), &bad.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("failed QC") && text(&out).contains("not_all_zero"), "{}", text(&out));
    assert!(!bad.exists(), "a failed product must not be published");
    let rejected = json(&dir.path().join("maps/zeros.cog.tif.rejected.qc.json"));
    assert_eq!(rejected["passed"], false, "the report is written either way");
    assert_eq!(rejected["path"], bad.display().to_string(), "the report names DEST, not a working file");

    // A failed rerun onto a good product leaves the product and its passing report as they were.
    let before = std::fs::read(&dest).expect("product");
    let out = infer(&["cog", &zeros.display().to_string(), d.as_str(), "--force"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read(&dest).expect("product"), before, "the good product stays");
    assert_eq!(json(&dir.path().join("maps/B04.cog.tif.qc.json"))["passed"], true, "and so does its report");
    assert_eq!(json(&dir.path().join("maps/B04.cog.tif.rejected.qc.json"))["passed"], false);
    assert_eq!(json(&dir.path().join("maps/B04.cog.tif.qc.json"))["path"], d.as_str());
}

#[test]
fn qc_flags_missing_overviews_and_reports_either_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flat = dir.path().join("flat.tif");
    let spec_value = 1234;
    constant(&flat, 1100, spec_value, None);
    let f = flat.display().to_string();
    let out = infer(&["qc", &f, "--publish", &dir.path().join("pub/flat.tif").display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&dir.path().join("flat.tif.qc.json"));
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        failed.contains(&"overviews") && failed.contains(&"cog_layout") && failed.contains(&"band_1.std"),
        "{failed:?}"
    );
    assert!(!dir.path().join("pub/flat.tif").exists());
    let out = infer(&["qc", &f, "--bands", "3"], &[]);
    assert!(text(&out).contains("band_count"), "{}", text(&out));
    // A profile whose stage took too long for the product's size fails the timing check.
    let profile = dir.path().join("profile.json");
    std::fs::write(&profile, r#"{"stages": {"write": 120.0, "qc": 0.5}}"#).expect("write");
    let out = infer(
        &[
            "qc",
            &f,
            "--no-cog",
            "--min-overviews",
            "0",
            "--profile",
            &profile.display().to_string(),
            "--stage-limit",
            "10,1",
        ],
        &[],
    );
    assert!(text(&out).contains("time.write") && !text(&out).contains("time.qc"), "{}", text(&out));
}

#[test]
fn a_killed_cog_run_leaves_nothing_at_the_destination_and_reruns_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.tif");
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    // A 4x upsampled copy of the real band (4392²) takes long enough to be killed mid-write.
    let raster = eoforge_raster::Raster::open(&b04.display().to_string()).expect("open");
    let data = raster
        .read_window_resampled::<u16>(
            Window::full(1098, 1098),
            (4392, 4392),
            None,
            eoforge_raster::Resampling::Bilinear,
        )
        .expect("read");
    let spec = RasterSpec {
        width: 4392,
        height: 4392,
        bands: 1,
        geo_transform: raster.geo_transform().map(|g| g.scaled(4.0)),
        crs: raster.crs(),
        nodata: Some(0.0),
        band_descriptions: vec![],
        ..RasterSpec::default()
    };
    let mut w = TiledWriter::<u16>::create(&big, &spec, &TiffOptions::default()).expect("create");
    w.write_window(Window::full(4392, 4392), data.view()).expect("write");
    w.finish(None).expect("finish");

    let dest = dir.path().join("out/big.cog.tif");
    let args = [
        "cog",
        &big.display().to_string() as &str,
        &dest.display().to_string() as &str,
        "--compress",
        "deflate",
        "--level",
        "9",
        "--threads",
        "1",
    ]
    .map(str::to_owned);
    let mut child = Command::new(env!("CARGO_BIN_EXE_eoforge-infer"))
        .args(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Killed mid-write: once the writer's base level holds compressed tiles.
    let out_dir = dir.path().join("out");
    eoforge_testkit::wait_for(&mut child, "tiles were written", || {
        eoforge_testkit::largest_file_named(&out_dir, ".big.cog.tif.eoforge-work-", "level-0.bin") > 0
    });
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert!(!dest.exists(), "a killed run left a product at the destination");
    let out = infer(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(eoforge_raster::check_cog(&dest).expect("check").is_valid());
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir).expect("list").flatten().map(|e| e.file_name()).collect();
    assert_eq!(
        leftovers.len(),
        5,
        "product, report, profile, STAC Item and preview; the killed run's folder is gone: {leftovers:?}"
    );
}

#[test]
fn qc_publishes_to_a_real_s3_server_only_what_passes() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("maps");
    let endpoint = server.endpoint();
    let env = [
        ("AWS_ACCESS_KEY_ID", server.access_key()),
        ("AWS_SECRET_ACCESS_KEY", server.secret_key()),
        ("EOFORGE_S3_ENDPOINT", endpoint.as_str()),
    ];
    let out = infer(&["cog", &b04.display().to_string(), "s3://maps/29RKH/B04.tif"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let dir = tempfile::tempdir().expect("tempdir");
    let zeros = dir.path().join("zeros.tif");
    constant(&zeros, 600, 0, Some(0.0));
    let out = infer(&["cog", &zeros.display().to_string(), "s3://maps/29RKH/zeros.tif"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let mut options = eoforge_storage::StoreOptions::default();
    options.s3.endpoint = Some(endpoint.clone());
    options.s3.access_key_id = Some(server.access_key().into());
    options.s3.secret_access_key = Some(eoforge_storage::Secret::new(server.secret_key()));
    let store = eoforge_storage::Store::open_with("s3://maps/29RKH", &options).expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let keys: Vec<String> = rt.block_on(store.list("")).expect("list").into_iter().map(|o| o.key).collect();
    assert!(keys.contains(&"B04.tif".to_owned()) && keys.contains(&"B04.tif.qc.json".to_owned()), "{keys:?}");
    assert!(
        !keys.contains(&"zeros.tif".to_owned()) && keys.contains(&"zeros.tif.rejected.qc.json".to_owned()),
        "{keys:?}"
    );
    let info = eoforge_raster::Raster::open_with("s3://maps/29RKH/B04.tif", &options)
        .expect("open published")
        .info()
        .expect("info");
    assert_eq!(info.bands[0].overviews, 2);

    // predict reads its windows from S3 (range reads, no local copy) and publishes to S3: the same pixels as a
    // local run over the fixture.
    let args =
        ["--model", "upsample", "--scale", "10", "--window", "64", "--halo", "8", "--aoi", "-11.5,24.8,-11.45,24.84"];
    let remote = "s3://maps/29RKH/B04_x10.tif";
    let out = infer(&[&["predict", "s3://maps/29RKH/B04.tif", remote][..], &args[..]].concat(), &env);
    assert!(out.status.success(), "{}", text(&out));
    let local = dir.path().join("B04_x10.tif");
    let out =
        infer(&[&["predict", &b04.display().to_string(), &local.display().to_string()][..], &args[..]].concat(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let read = |r: eoforge_raster::Raster| {
        let window = Window::full(r.width(), r.height());
        r.read_window::<u16>(window, None).expect("read")
    };
    let from_s3 = read(eoforge_raster::Raster::open_with(remote, &options).expect("open the S3 product"));
    let from_disk = read(eoforge_raster::Raster::open(&local.display().to_string()).expect("open the local product"));
    assert!(from_s3.dim().1 > 400 && from_s3 == from_disk, "{:?} vs {:?}", from_s3.dim(), from_disk.dim());
    let keys: Vec<String> = rt.block_on(store.list("")).expect("list").into_iter().map(|o| o.key).collect();
    assert!(keys.contains(&"B04_x10.tif.qc.json".to_owned()), "{keys:?}");
}

#[test]
fn predict_runs_both_scale_modes_over_the_real_scene() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let src = b04.display().to_string();
    let same = dir.path().join("identity.tif");
    let out = infer(
        &["predict", &src, &same.display().to_string(), "--model", "identity", "--window", "256", "--halo", "32"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let input = eoforge_raster::Raster::open(&src)
        .expect("open")
        .read_window::<u16>(Window::full(1098, 1098), None)
        .expect("read");
    let output = eoforge_raster::Raster::open(&same.display().to_string())
        .expect("open")
        .read_window::<u16>(Window::full(1098, 1098), None)
        .expect("read");
    assert_eq!(input, output, "identity at 1x reproduces the scene");
    let info = eoforge_raster::Raster::open(&same.display().to_string()).expect("open").info().expect("info");
    assert_eq!(info.bands[0].nodata, Some(0.0), "the input's nodata carries over");
    let profile = json(&dir.path().join("identity.tif.profile.json"));
    assert!(
        profile["engine"]["busy_s"]["model"].as_f64().is_some() && profile["engine"]["windows"].as_u64() > Some(16),
        "{profile}"
    );

    let sr = dir.path().join("x10.tif");
    let out = infer(
        &[
            "predict",
            &src,
            &sr.display().to_string(),
            "--model",
            "upsample",
            "--scale",
            "10",
            "--window",
            "64",
            "--halo",
            "8",
            "--aoi",
            "-11.5,24.8,-11.3,24.9",
            "--out-dtype",
            "int16",
            "--out-nodata",
            "-1",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let raster = eoforge_raster::Raster::open(&sr.display().to_string()).expect("open");
    assert!(
        raster.width() > 2000
            && raster.height() > 1000
            && raster.geo_transform().expect("gt").pixel_size() == (10.0, 10.0)
    );
    assert_eq!(raster.dtype(1).expect("dtype"), eoforge_raster::DataType::Int16);
    assert_eq!(raster.info().expect("info").bands[0].nodata, Some(-1.0), "--out-nodata wins");
    let (ok, report) = eoforge_testkit::gdal_cog_validator(&sr);
    assert!(ok && !report.contains("warnings were found"), "{report}");
    let far = infer(
        &[
            "predict",
            &src,
            &dir.path().join("none.tif").display().to_string(),
            "--model",
            "identity",
            "--aoi",
            "10,45,10.1,45.1",
        ],
        &[],
    );
    assert_eq!(far.status.code(), Some(1));
    assert!(text(&far).contains("does not overlap"), "{}", text(&far));
}

/// The real 29RKH B02/B03/B04/B08 bands as one 4-band GeoTIFF at `path`; returns the data.
fn stack(path: &Path) -> Option<ndarray::Array3<u16>> {
    let mut planes = Vec::new();
    let mut spec = RasterSpec::default();
    for band in ["B02", "B03", "B04", "B08"] {
        let r = eoforge_raster::Raster::open(&fixture(&format!("s2-l2a-29RKH/{band}.tif"))?.display().to_string())
            .expect("open");
        spec = RasterSpec {
            width: 1098,
            height: 1098,
            bands: 4,
            geo_transform: r.geo_transform(),
            crs: r.crs(),
            nodata: None,
            band_descriptions: ["B02", "B03", "B04", "B08"].map(String::from).to_vec(),
            ..RasterSpec::default()
        };
        planes.push(r.read_window::<u16>(Window::full(1098, 1098), None).expect("read"));
    }
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    let data = ndarray::concatenate(ndarray::Axis(0), &views).expect("stack");
    let mut w = TiledWriter::<u16>::create(path, &spec, &TiffOptions::default()).expect("create");
    w.write_window(Window::full(1098, 1098), data.view()).expect("write");
    w.finish(None).expect("finish");
    Some(data)
}

#[test]
fn predict_shards_a_scene_list_writes_derivatives_and_survives_a_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = dir.path().join("stack.tif");
    let Some(data) = stack(&scene) else { return };
    let out = dir.path().join("out");
    let list = dir.path().join("scenes.txt");
    let s = scene.display().to_string();
    let o = out.display().to_string();
    std::fs::write(
        &list,
        format!("# three products of one scene\n{s} {o}/a.tif\n\n{s}   {o}/b.tif # second\n{s} {o}/c.tif\n"),
    )
    .expect("list");
    let list = list.display().to_string();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["predict", "--scenes", &list, "--model", "identity", "--window", "256", "--halo", "32"];
        args.extend_from_slice(&["--derivatives", "ndvi,evi,rgb,nir"]);
        args.extend_from_slice(extra);
        infer(&args, env)
    };

    // Worker 0 of 2 takes lines 1 and 3, with every derived map beside each product.
    let first = run(&["--shard", "0/2"], &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(out.join("a.tif").is_file() && out.join("c.tif").is_file() && !out.join("b.tif").exists());
    let info =
        eoforge_raster::Raster::open(&out.join("a.tif").display().to_string()).expect("open").info().expect("info");
    let names: Vec<&str> = info.bands.iter().map(|b| b.description.as_str()).collect();
    assert_eq!(names, ["B02", "B03", "B04", "B08"], "band names carry over");
    for name in ["a_ndvi", "a_evi", "a_rgb", "a_nir", "c_ndvi"] {
        let path = out.join(format!("{name}.tif"));
        let (ok, report) = eoforge_testkit::gdal_cog_validator(&path);
        assert!(ok && !report.contains("warnings were found"), "{name}: {report}");
        assert_eq!(json(&out.join(format!("{name}.tif.qc.json")))["passed"], true);
    }
    let ndvi = eoforge_raster::Raster::open(&out.join("a_ndvi.tif").display().to_string())
        .expect("open")
        .read_window::<f32>(Window::full(1098, 1098), None)
        .expect("read");
    for (y, x) in [(0, 0), (517, 233), (1097, 1097), (800, 40)] {
        let (red, nir) = (f64::from(data[[2, y, x]]), f64::from(data[[3, y, x]]));
        let want = if red + nir == 0.0 { f64::NAN } else { (nir - red) / (nir + red) };
        let got = f64::from(ndvi[[0, y, x]]);
        assert!((got - want).abs() < 1e-6 || (got.is_nan() && want.is_nan()), "NDVI at {y},{x}: {got} vs {want}");
    }
    let nir = eoforge_raster::Raster::open(&out.join("a_nir.tif").display().to_string())
        .expect("open")
        .read_window::<u16>(Window::full(1098, 1098), None)
        .expect("read");
    assert!(nir.index_axis(ndarray::Axis(0), 0) == data.index_axis(ndarray::Axis(0), 3));

    // Worker 1 of 2, picked by the SLURM array variables, takes line 2; a rerun of worker 0 skips its scenes.
    let second = run(&[], &[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "2")]);
    assert!(second.status.success() && out.join("b.tif").is_file(), "{}", text(&second));
    let again = run(&["--shard", "0/2"], &[]);
    assert!(again.status.success() && text(&again).matches("skipped").count() >= 2, "{}", text(&again));

    // Killed mid-run at several moments: nothing half-written at the destination, and the rerun completes.
    let fresh = dir.path().join("fresh.txt");
    std::fs::write(&fresh, format!("{s} {o}/k.tif\n")).expect("list");
    let fresh = fresh.display().to_string();
    let args = [
        "predict",
        "--scenes",
        &fresh,
        "--model",
        "upsample",
        "--scale",
        "4",
        "--window",
        "128",
        "--halo",
        "16",
        "--derivatives",
        "ndvi",
        "--compress",
        "deflate",
        "--level",
        "9",
    ];
    // Killed at three moments of the scene `k`, each seen in its working folder: the first base tiles, the
    // first overview tiles, and a megabyte of base tiles in one writer.
    let moments: [(&str, &str, u64); 3] = [
        ("the first base tiles", "level-0.bin", 0),
        ("the first overview tiles", "level-1.bin", 0),
        ("1 MB of base tiles", "level-0.bin", 1 << 20),
    ];
    for (what, name, bytes) in moments {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eoforge-infer"))
            .args(args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        eoforge_testkit::wait_for(&mut child, what, || {
            eoforge_testkit::largest_file_named(&out, ".k.tif.eoforge-work-", name) > bytes
        });
        child.kill().expect("kill");
        child.wait().expect("reap");
        assert!(!out.join("k.tif").exists() && !out.join("k_ndvi.tif").exists(), "partial product after kill");
    }
    let done = infer(&args, &[]);
    assert!(done.status.success(), "{}", text(&done));
    assert!(eoforge_raster::check_cog(&out.join("k.tif")).expect("check").is_valid());
    assert!(eoforge_raster::check_cog(&out.join("k_ndvi.tif")).expect("check").is_valid());
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "working folders of killed runs are cleaned up: {leftovers:?}");

    // A malformed list names the line.
    std::fs::write(dir.path().join("bad.txt"), format!("{s}\n")).expect("list");
    let bad =
        infer(&["predict", "--scenes", &dir.path().join("bad.txt").display().to_string(), "--model", "identity"], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("bad.txt:1"), "{}", text(&bad));
}

#[test]
fn class_rasters_get_nearest_overviews_and_imagery_averaged_ones() {
    let (Some(cdl), Some(rgb)) = (fixture("labels/cdl_2021_30m_kansas_1000.tif"), fixture("landsat/RGB.byte.tif"))
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Level 1 of a COG made with --blocksize 256 (1000² → 500²), band 1, as u8.
    let level1 = |src: &Path, name: &str| {
        let dest = dir.path().join(name);
        let out = infer(&["cog", &src.display().to_string(), &dest.display().to_string(), "--blocksize", "256"], &[]);
        assert!(out.status.success(), "{}", text(&out));
        let raster = eoforge_raster::Raster::open(&dest.display().to_string()).expect("open");
        let band = raster.dataset().rasterband(1).expect("band");
        let ovr = band.overview(0).expect("overview");
        let (w, h) = ovr.size();
        ovr.read_as::<u8>((0, 0), (w, h), (w, h), None).expect("read").to_array().expect("array")
    };
    let read = |src: &Path| {
        let r = eoforge_raster::Raster::open(&src.display().to_string()).expect("open");
        r.read_window::<u8>(Window::full(r.width(), r.height()), Some(&[1])).expect("read")
    };

    // A one-band UInt8 class map (USDA Cropland Data Layer): every overview pixel is the class of its top-left
    // source pixel, never a mean that would be another (or no) crop class.
    let classes = read(&cdl);
    let ovr = level1(&cdl, "cdl.tif");
    assert_eq!(ovr.dim(), (500, 500));
    let mut mixed = 0;
    for ((r, c), v) in ovr.indexed_iter() {
        assert_eq!(*v, classes[[0, 2 * r, 2 * c]], "overview pixel {r},{c}");
        let quad = [classes[[0, 2 * r, 2 * c]], classes[[0, 2 * r, 2 * c + 1]], classes[[0, 2 * r + 1, 2 * c]]];
        mixed += usize::from(quad.iter().any(|q| *q != quad[0]));
    }
    assert!(mixed > 1000, "the class map has boundaries to get wrong ({mixed} mixed quads)");
    // Its palette is carried over, so the product shows crops in the CDL's colours, and it is still a valid COG.
    let palette = |p: &Path| eoforge_raster::Raster::open(&p.display().to_string()).expect("open").color_table(1);
    let (source, product) = (palette(&cdl).expect("palette"), palette(&dir.path().join("cdl.tif")).expect("palette"));
    let source = source.expect("the CDL fixture has a colour table");
    assert!(source.iter().any(|c| *c != [0, 0, 0]), "a real palette");
    assert_eq!(product.as_deref(), Some(&source[..256.min(source.len())]));
    let (ok, report) = eoforge_testkit::gdal_cog_validator(&dir.path().join("cdl.tif"));
    assert!(ok && !report.contains("warnings were found"), "{report}");

    // Three-band UInt8 imagery (Landsat RGB, nodata 0): the nodata-aware mean.
    let image = read(&rgb);
    let ovr = level1(&rgb, "rgb.tif");
    let (h, w) = (image.dim().1, image.dim().2);
    for ((r, c), v) in ovr.indexed_iter() {
        let px: Vec<f64> = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .filter(|(dr, dc)| 2 * r + dr < h && 2 * c + dc < w)
            .map(|(dr, dc)| f64::from(image[[0, 2 * r + dr, 2 * c + dc]]))
            .filter(|v| *v != 0.0)
            .collect();
        let want = if px.is_empty() { 0 } else { (px.iter().sum::<f64>() / px.len() as f64).round() as u8 };
        assert_eq!(*v, want, "overview pixel {r},{c}");
    }
}
