//! `predict --model RUN_DIR`: a U-Net trained on windows of the real 29RKH scene (SCL labels) runs over the
//! whole scene and publishes a UInt8 class map — a valid COG with the run's colour table, class names, nodata
//! 255, the scene's CRS and grid — that QC passes; scenes whose bands do not match the run are refused.
//! Super-resolution runs write the scene at their scale, 2× over the whole scene and 10× over a crop.

#![allow(clippy::print_stderr)] // the 10x product's consistency is printed beside the assertion

#[path = "../../../crates/train/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use burn::backend::{Autodiff, Flex};
use eoforge_models::SuperResolutionConfig;
use eoforge_raster::{DataType, Raster};
use eoforge_testkit::gdal_cog_validator;
use eoforge_train::{FitConfig, ModelConfig, StopWhen, fit};

fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-infer"))
        .args(args)
        .env_remove("EOFORGE_S3_ENDPOINT")
        .output()
        .expect("run eoforge-infer")
}

/// One CPU epoch of a super-resolution network (16 features, `blocks` residual blocks) at `scale` into `run`.
fn train_sr(set: &eoforge_train::ShardSet, blocks: usize, scale: usize, run: &std::path::Path) {
    let config = FitConfig {
        batch_size: 8,
        epochs: 1,
        lr: 2e-3,
        warmup_steps: 5,
        checkpoint_every: 100,
        seed: 3,
        ..FitConfig::new(ModelConfig::Sr(SuperResolutionConfig {
            features: 16,
            blocks,
            ..SuperResolutionConfig::new(4, scale)
        }))
    };
    fit::<Autodiff<Flex>>(set, &config, run, &burn::backend::flex::FlexDevice, &StopWhen::default()).expect("fit");
}

#[test]
fn a_trained_unet_maps_the_scene_into_a_published_class_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(stack) = common::scene_windows(dir.path(), &shards) else { return };
    let set = common::open(&shards);
    let run = dir.path().join("run");
    common::fit_small_unet(&set, &run);

    let (scene, run_arg) = (stack.display().to_string(), run.display().to_string());
    let dest = dir.path().join("out/29RKH_scl.tif");
    let dest_arg = dest.display().to_string();
    let out = infer(&["predict", &scene, &dest_arg, "--model", &run_arg, "--window", "128", "--halo", "16"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "predict failed: {stderr}");
    let (valid, report) = gdal_cog_validator(&dest);
    assert!(valid, "not a valid COG: {report}");
    let product = Raster::open(&dest_arg).expect("open product");
    let source = Raster::open(&scene).expect("open scene");
    assert_eq!((product.width(), product.height(), product.band_count()), (1098, 1098, 1));
    assert_eq!(product.dtype(1).expect("dtype"), DataType::UInt8);
    assert_eq!(product.nodata(1).expect("nodata"), Some(255.0));
    assert!(product.crs().expect("crs").is_same(&source.crs().expect("crs")), "the scene's CRS");
    assert_eq!(product.geo_transform(), source.geo_transform(), "the scene's grid");
    let colors = product.color_table(1).expect("read colours").expect("a colour table");
    let table = set.class_table().expect("class table");
    assert!(table.index_of(0).is_none(), "SCL's no data (0) is no class: {:?}", table.values());
    let class = table.classes().iter().find(|c| c.value == 5).expect("SCL's bare soil");
    assert_eq!(colors[5], class.color, "value 5's colour comes from the run");
    let metadata = product.metadata().expect("metadata");
    let items = &metadata.bands[0].items;
    assert!(items.iter().any(|(k, v)| k == "CLASS_NAMES" && v.contains("5=")), "{items:?}");
    let pixels = product.read_window::<u8>(eoforge_raster::Window::full(1098, 1098), None).expect("read");
    let values = table.values();
    assert!(
        pixels.iter().all(|v| *v == 255 || values.contains(&u16::from(*v))),
        "only the run's class values and nodata"
    );
    assert!(pixels.iter().all(|v| *v != 0), "the ignored value (SCL's no data) is never predicted");
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/29RKH_scl.tif.qc.json")).expect("qc report"))
            .expect("json");
    assert_eq!(qc["passed"], true, "{qc}");

    // Bands that do not match the run's channels are refused, naming them.
    let other = dir.path().join("other.tif").display().to_string();
    let out = infer(&["predict", &scene, &other, "--model", &run_arg, "--input-bands", "1,2,3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("4 channels") && stderr.contains("B02, B03, B04, B08"), "{stderr}");
    let out = infer(&["predict", &scene, &other, "--model", &run_arg, "--input-bands", "2,1,3,4"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`B03`") && stderr.contains("`B02`"), "{stderr}");
    let out = infer(&["predict", &scene, &other, "--model", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "not a run directory is a usage error");
    assert!(!std::path::Path::new(&other).exists(), "nothing published on refusal");
}

/// A super-resolution network trained on windows of the 29RKH scene runs over the whole scene at its scale: a
/// valid COG, QC passed, twice as many pixels per side on the scene's CRS and a half-size grid, the input's type,
/// nodata and band names; averaged back to the scene's grid, it gives the scene back closely.
#[test]
fn a_trained_super_resolution_network_writes_the_scene_at_its_scale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(stack) = common::scene_windows(dir.path(), &shards) else { return };
    let set = common::open(&shards);
    let run = dir.path().join("run");
    train_sr(&set, 4, 2, &run);

    let (scene, run_arg) = (stack.display().to_string(), run.display().to_string());
    let dest = dir.path().join("out/29RKH_x2.tif");
    let dest_arg = dest.display().to_string();
    let out = infer(&["predict", &scene, &dest_arg, "--model", &run_arg, "--window", "128", "--halo", "8"]);
    assert!(out.status.success(), "predict failed: {}", String::from_utf8_lossy(&out.stderr));
    let (valid, report) = gdal_cog_validator(&dest);
    assert!(valid, "not a valid COG: {report}");
    let product = Raster::open(&dest_arg).expect("open product");
    let source = Raster::open(&scene).expect("open scene");
    assert_eq!((product.width(), product.height(), product.band_count()), (2196, 2196, 4));
    assert_eq!(product.dtype(1).expect("dtype"), source.dtype(1).expect("dtype"), "the input's type");
    assert_eq!(product.nodata(1).expect("nodata"), source.nodata(1).expect("nodata"), "the input's nodata");
    assert!(product.crs().expect("crs").is_same(&source.crs().expect("crs")), "the scene's CRS");
    let (p, s) = (product.geo_transform().expect("gt"), source.geo_transform().expect("gt"));
    assert!((p.0[0] - s.0[0]).abs() < 1e-6 && (p.0[3] - s.0[3]).abs() < 1e-6, "same origin: {p:?} {s:?}");
    assert!((p.0[1] * 2.0 - s.0[1]).abs() < 1e-9 && (p.0[5] * 2.0 - s.0[5]).abs() < 1e-9, "half-size pixels");
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/29RKH_x2.tif.qc.json")).expect("qc report"))
            .expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    // Consistency: the product averaged back by 2 is the scene again, closely (values are UInt16 reflectances).
    let window = eoforge_raster::Window::new(200, 300, 200, 150);
    let fine = product.read_window::<f32>(eoforge_raster::Window::new(400, 600, 400, 300), None).expect("read product");
    let coarse = source.read_window::<f32>(window, None).expect("read scene");
    let back = eoforge_train::degrade_area(fine.view(), 2).expect("divisible");
    for b in 0..4 {
        let psnr =
            eoforge_train::psnr(coarse.index_axis(ndarray::Axis(0), b), back.index_axis(ndarray::Axis(0), b), 10_000.0);
        assert!(psnr > 40.0, "band {}: PSNR of the product averaged back {psnr:.1} dB", b + 1);
    }

    // A scale other than the run's is a usage error naming the flag.
    let other = dir.path().join("other.tif").display().to_string();
    let out = infer(&["predict", &scene, &other, "--model", &run_arg, "--scale", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--scale 3") && stderr.contains("upscales by 2"), "{stderr}");
}

/// The 10× product: a super-resolution network trained at scale 10 on 80 px windows of the 29RKH scene (8 px
/// inputs) writes a 300×300 px crop of the real scene as 3000×3000 px: a valid COG with overviews that QC passes,
/// the crop's CRS, a grid ten times finer, the input's type, nodata and band names; averaged back by 10 it gives
/// the crop again closely.
#[test]
fn a_ten_times_super_resolution_product_is_a_valid_cog_that_qc_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(stack) = common::scene_windows_of(dir.path(), &shards, 80) else { return };
    let set = common::open(&shards);
    let run = dir.path().join("run");
    train_sr(&set, 2, 10, &run);

    let crop = dir.path().join("crop.tif");
    let (stack_arg, crop_arg) = (stack.display().to_string(), crop.display().to_string());
    eoforge_testkit::gdal_tool("gdal_translate", &["-q", "-srcwin", "400", "500", "300", "300", &stack_arg, &crop_arg]);
    let dest = dir.path().join("out/29RKH_x10.tif");
    let dest_arg = dest.display().to_string();
    let run_arg = run.display().to_string();
    let out = infer(&["predict", &crop_arg, &dest_arg, "--model", &run_arg, "--window", "60", "--halo", "4"]);
    assert!(out.status.success(), "predict failed: {}", String::from_utf8_lossy(&out.stderr));
    let (valid, report) = gdal_cog_validator(&dest);
    assert!(valid, "not a valid COG: {report}");
    let product = Raster::open(&dest_arg).expect("open product");
    let source = Raster::open(&crop_arg).expect("open crop");
    assert_eq!((product.width(), product.height(), product.band_count()), (3000, 3000, 4));
    let overviews = product.dataset().rasterband(1).and_then(|b| b.overview_count()).expect("overviews");
    assert!(overviews >= 2, "a COG with overviews: {overviews}");
    assert_eq!(product.dtype(1).expect("dtype"), source.dtype(1).expect("dtype"), "the input's type");
    assert_eq!(product.nodata(1).expect("nodata"), source.nodata(1).expect("nodata"), "the input's nodata");
    for b in 1..=4 {
        let name = source.band_description(b).expect("name");
        assert_eq!(product.band_description(b).expect("name"), name, "the input's band names");
    }
    assert!(product.crs().expect("crs").is_same(&source.crs().expect("crs")), "the crop's CRS");
    let (p, s) = (product.geo_transform().expect("gt"), source.geo_transform().expect("gt"));
    assert!((p.0[0] - s.0[0]).abs() < 1e-6 && (p.0[3] - s.0[3]).abs() < 1e-6, "same origin: {p:?} {s:?}");
    assert!((p.0[1] * 10.0 - s.0[1]).abs() < 1e-9 && (p.0[5] * 10.0 - s.0[5]).abs() < 1e-9, "1 m pixels");
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/29RKH_x10.tif.qc.json")).expect("qc report"))
            .expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    let fine = product.read_window::<f32>(eoforge_raster::Window::full(3000, 3000), None).expect("read product");
    let coarse = source.read_window::<f32>(eoforge_raster::Window::full(300, 300), None).expect("read crop");
    let back = eoforge_train::degrade_area(fine.view(), 10).expect("divisible");
    for b in 0..4 {
        let psnr =
            eoforge_train::psnr(coarse.index_axis(ndarray::Axis(0), b), back.index_axis(ndarray::Axis(0), b), 10_000.0);
        eprintln!("band {}: the 10x product averaged back by 10, PSNR {psnr:.1} dB against the crop", b + 1);
        assert!(psnr > 30.0, "band {}: PSNR of the product averaged back {psnr:.1} dB", b + 1);
    }
}

/// An 8-bit scene super-resolved 4×: windows cut without labels (an image-only set), a network trained on them,
/// and the product published in the scene's UInt8 with values beyond 0–255 clipped (nodata 0 kept free) and
/// counted in the QC report; `--no-clip` refuses instead when any value was clipped.
#[test]
fn an_8_bit_scene_super_resolved_4x_is_published_in_uint8_with_the_clipped_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(scene) = eoforge_testkit::fixture("landsat/RGB.byte.tif") else { return };
    let scene_arg = scene.display().to_string();
    let shards = dir.path().join("shards");
    let options = eoforge_convert::WindowOptions {
        out: shards.display().to_string(),
        size: 64,
        stride: 64,
        block: 1,
        samples_per_shard: 32,
        seed: 1,
        ratios: eoforge_sampling::SplitRatios { train: 0.8, validation: 0.2, test: 0.0 },
        ..eoforge_convert::WindowOptions::default()
    };
    let report = eoforge_convert::convert_windows(&scene_arg, None, &options, &|| {}).expect("image-only windows");
    assert!(report.written.get("train").copied().unwrap_or(0) > 10, "{report:?}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shards.join("index.json")).expect("index")).expect("json");
    assert_eq!(index["task"], "images");
    assert!(index.get("classes").is_none() && index["tensors"].get("mask").is_none(), "{index}");
    let set = common::open(&shards);
    let run = dir.path().join("run");
    let config = FitConfig {
        batch_size: 8,
        epochs: 1,
        lr: 2e-3,
        warmup_steps: 3,
        checkpoint_every: 100,
        seed: 3,
        ..FitConfig::new(ModelConfig::Sr(SuperResolutionConfig {
            features: 8,
            blocks: 1,
            ..SuperResolutionConfig::new(3, 4)
        }))
    };
    fit::<Autodiff<Flex>>(&set, &config, &run, &burn::backend::flex::FlexDevice, &StopWhen::default()).expect("fit");

    let crop = dir.path().join("crop.tif");
    let crop_arg = crop.display().to_string();
    eoforge_testkit::gdal_tool("gdal_translate", &["-q", "-srcwin", "300", "250", "120", "120", &scene_arg, &crop_arg]);
    let dest = dir.path().join("out/x4.tif");
    let (dest_arg, run_arg) = (dest.display().to_string(), run.display().to_string());
    let out = infer(&["predict", &crop_arg, &dest_arg, "--model", &run_arg, "--window", "40", "--halo", "4"]);
    assert!(out.status.success(), "predict failed: {}", String::from_utf8_lossy(&out.stderr));
    let product = Raster::open(&dest_arg).expect("open product");
    assert_eq!(product.dtype(1).expect("dtype"), DataType::UInt8, "the scene's type");
    assert_eq!((product.width(), product.height()), (480, 480));
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dest_arg}.qc.json")).expect("qc report")).expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    let clipped = qc["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "clipped_pixels"))
        .expect("a clipped_pixels check")["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    let count: u64 = clipped.split(' ').next().and_then(|n| n.parse().ok()).expect("a count");
    assert!(clipped.contains("clipped to the UInt8 range"), "{clipped}");
    eprintln!("4x of an 8-bit scene: {clipped}");
    let profile = std::fs::read_to_string(format!("{dest_arg}.profile.json")).expect("profile");
    assert!(profile.contains(&format!("\"clipped_pixels\": {count}")), "the profile has the count too");
    if count > 0 {
        let strict = dir.path().join("out/x4_strict.tif").display().to_string();
        let out = infer(&["predict", &crop_arg, &strict, "--model", &run_arg, "--window", "40", "--no-clip"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("does not fit UInt8"));
        assert!(!std::path::Path::new(&strict).exists(), "nothing published");
    }
}

/// `predict --model RUN` on users' mistakes: options a class map cannot honour are refused naming the flag; a
/// band-reversed stack with unnamed bands is refused naming the band (`--force-bands` lets it through); an
/// unfinished run is refused unless `--allow-unfinished`, and then the product records the run's state.
#[test]
fn predict_refuses_what_it_cannot_honour_and_records_an_unfinished_run() {
    use eoforge_raster::{RasterSpec, TiffOptions, TiledWriter, Window};
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(stack) = common::scene_windows(dir.path(), &shards) else { return };
    let set = common::open(&shards);
    let run = dir.path().join("run");
    common::fit_small_unet(&set, &run);
    let (scene, run_arg) = (stack.display().to_string(), run.display().to_string());
    let dest = |name: &str| dir.path().join(name).display().to_string();
    for (flags, named) in [
        (&["--scale", "2"][..], "--scale"),
        (&["--out-dtype", "float32"][..], "--out-dtype"),
        (&["--derivatives", "ndvi"][..], "--derivatives"),
        (&["--out-nodata", "5"][..], "--out-nodata 5"),
    ] {
        let refused = dest("refused.tif");
        let mut args = vec!["predict", &scene, &refused, "--model", &run_arg];
        args.extend_from_slice(flags);
        let out = infer(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(named), "{flags:?}: {stderr}");
    }
    assert!(!dir.path().join("refused.tif").exists());

    // The scene's bands in reverse order, unnamed: the names cannot tell, the statistics do.
    let source = Raster::open(&scene).expect("scene");
    let data = source.read_window::<u16>(Window::full(1098, 1098), None).expect("read");
    let mut reversed = data.clone();
    reversed.invert_axis(ndarray::Axis(0));
    let spec = RasterSpec {
        width: 1098,
        height: 1098,
        bands: 4,
        geo_transform: source.geo_transform(),
        crs: source.crs(),
        nodata: Some(0.0),
        ..RasterSpec::default()
    };
    let reversed_path = dir.path().join("reversed.tif");
    let mut w = TiledWriter::<u16>::create(&reversed_path, &spec, &TiffOptions::default()).expect("create");
    w.write_window(Window::full(1098, 1098), reversed.view()).expect("write");
    w.finish(None).expect("finish");
    let reversed_arg = reversed_path.display().to_string();
    let out = infer(&["predict", &reversed_arg, &dest("reversed_map.tif"), "--model", &run_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("standard deviations") && stderr.contains("--force-bands"), "{stderr}");
    assert!(!dir.path().join("reversed_map.tif").exists());
    let out = infer(&["predict", &reversed_arg, &dest("forced.tif"), "--model", &run_arg, "--force-bands"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A run stopped after a few steps.
    let stopped = dir.path().join("stopped");
    let config = FitConfig {
        batch_size: 8,
        epochs: 3,
        checkpoint_every: 2,
        ..FitConfig::new(ModelConfig::Unet(eoforge_models::UNetConfig {
            depth: 2,
            base_width: 8,
            ..eoforge_models::UNetConfig::new(4, set.class_table().expect("table").len())
        }))
    };
    let stop = StopWhen { max_steps: Some(2), ..StopWhen::default() };
    fit::<Autodiff<Flex>>(&set, &config, &stopped, &burn::backend::flex::FlexDevice, &stop).expect("fit");
    let stopped_arg = stopped.display().to_string();
    let out = infer(&["predict", &scene, &dest("early.tif"), "--model", &stopped_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unfinished (epoch 0 of 3, step 2)") && stderr.contains("--allow-unfinished"), "{stderr}");
    let early = dest("early.tif");
    let out = infer(&["predict", &scene, &early, "--model", &stopped_arg, "--allow-unfinished"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata = Raster::open(&early).expect("product").metadata().expect("metadata");
    let state = metadata.bands[0].items.iter().find(|(k, _)| k == "MODEL_RUN_STATE").expect("state");
    assert_eq!(state.1, "unfinished (epoch 0 of 3, step 2)");
    let profile = std::fs::read_to_string(format!("{early}.profile.json")).expect("profile");
    assert!(profile.contains("\"finished\": false"), "{profile}");
}

/// The crop-segmentation workflow end to end: embedding tiles (signed bytes with −128 nodata, one bottom-up) over
/// the CDL crop map cut as one window set de-quantised as AlphaEarth publishes (`--dequantize aef`), a SegFormer
/// trained on it, and `predict` over a tile: the run's mapping is applied to the tile's stored values, the class
/// map keeps the tile's grid and nodata corner, and it agrees with CDL on most of the tile.
#[test]
fn a_segformer_run_on_dequantised_embeddings_maps_a_tile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(tiles) = eoforge_testkit::embedding_tiles(dir.path(), 192, 192, 0) else { return };
    let text: Vec<String> = tiles.tiles.iter().map(|t| format!("{} {}", t.display(), tiles.cdl.display())).collect();
    let list = eoforge_convert::SceneList::parse_text("scenes.txt", &text.join("\n")).expect("list");
    let shards = dir.path().join("shards");
    let options = eoforge_convert::WindowOptions {
        out: shards.display().to_string(),
        size: 32,
        stride: 32,
        block: 1,
        max_ignored: 0.2,
        dequantize: Some(eoforge_convert::Dequantize::Aef),
        ..eoforge_convert::WindowOptions::default()
    };
    let all = eoforge_sampling::ShardSpec::new(0, 1).expect("0/1");
    assert!(eoforge_convert::cut_window_set(&list, &options, all, None, &|| {}).expect("set").complete);
    let set = common::open(&shards);
    let model = ModelConfig::Segformer(eoforge_models::SegFormerConfig {
        hidden_sizes: [16, 32, 48, 64],
        depths: [1, 1, 1, 1],
        num_attention_heads: [1, 2, 3, 4],
        decoder_hidden_size: 32,
        ..eoforge_models::SegFormerConfig::b0(8, set.class_table().expect("classes").len())
    });
    let config = FitConfig {
        batch_size: 8,
        epochs: 8,
        lr: 3e-3,
        warmup_steps: 4,
        checkpoint_every: 1000,
        ..FitConfig::new(model)
    };
    let run = dir.path().join("run");
    fit::<Autodiff<Flex>>(&set, &config, &run, &burn::backend::flex::FlexDevice, &StopWhen::default()).expect("fit");

    let tile = tiles.tiles[1].display().to_string();
    let dest = dir.path().join("tile1_crops.tif");
    let out = infer(&["predict", &tile, dest.to_str().expect("utf-8"), "--model", run.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (valid, report) = gdal_cog_validator(&dest);
    assert!(valid, "{report}");
    let (product, source) =
        (Raster::open(&dest.display().to_string()).expect("map"), Raster::open(&tile).expect("tile"));
    assert_eq!(product.geo_transform(), source.geo_transform());
    let nodata = product.nodata(1).expect("nodata").expect("a nodata value") as u16;
    let map = product.read_window::<u16>(eoforge_raster::Window::full(192, 192), None).expect("read");
    let cdl = std::fs::read(&tiles.tile1_cdl).expect("CDL on tile 1");
    let (mut agree, mut mapped) = (0usize, 0usize);
    for ((_, r, c), v) in map.indexed_iter() {
        if r < 20 && c < 20 {
            assert!(*v == nodata, "the tile's nodata corner stays nodata");
        } else if *v != nodata {
            mapped += 1;
            agree += usize::from(*v == u16::from(cdl[r * 192 + c]));
        }
    }
    let share = agree as f64 / mapped.max(1) as f64;
    eprintln!("SegFormer class map of a de-quantised AEF-style tile: {share:.3} of {mapped} pixels agree with CDL");
    assert!(mapped > 30_000 && share > 0.6, "{agree} of {mapped} pixels agree with CDL");
}
