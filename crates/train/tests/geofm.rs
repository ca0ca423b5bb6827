//! A Prithvi-style ViT encoder fine-tuned on three kinds of downstream task built from the real fixtures, each
//! against its trivial baseline ([`trivial_baseline`]): pixel regression of NDVI from the 29RKH scene's visible
//! bands (FCN decoder on a frozen encoder, UPerNet on a trained one), multi-label classification of BigEarthNet
//! patches, and segmentation of the eo-learn patch's land use from four dated NDVI frames, with the frames' dates
//! and the windows' locations fed to the encoder's coordinate encodings. A frame with nodata skips its windows and
//! is named in the report.

#![allow(clippy::print_stderr)] // the scores are printed beside the assertions for the record

mod common;

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use common::{open, scene_stack, shard_set};
use eoforge_models::{VitClassifierConfig, VitConfig, VitDecoder, VitPool, VitSegmenterConfig};
use eoforge_raster::{Compression, Raster, RasterSpec, TiffOptions, TiledWriter, Window};
use eoforge_sampling::SplitRatios;
use eoforge_testkit::fixture;
use eoforge_train::{
    FitConfig, Loader, LoaderConfig, ModelConfig, Report, StopWhen, TrainedRun, draw_run, fit, trivial_baseline,
};

type AD = Autodiff<Flex>;
const DEVICE: burn::backend::flex::FlexDevice = burn::backend::flex::FlexDevice;

fn encoder(in_chans: usize, size: usize, patch: usize, frames: usize, coords: &[&str]) -> VitConfig {
    serde_json::from_value(serde_json::json!({
        "img_size": size, "patch_size": [1, patch, patch], "num_frames": frames, "in_chans": in_chans,
        "embed_dim": 32, "depth": 4, "num_heads": 2, "mlp_ratio": 2.0, "coords_encoding": coords,
    }))
    .expect("encoder config")
}

/// An initialised encoder saved as safetensors under TerraTorch's names: the "pretrained" weights a run starts from.
fn pretrained(config: &VitConfig, path: &Path) -> PathBuf {
    let start = config.init::<Flex>(&DEVICE).expect("encoder");
    eoforge_models::save_safetensors(&start, path, &std::collections::BTreeMap::new()).expect("save");
    path.to_owned()
}

fn fit_config(model: ModelConfig, epochs: u64) -> FitConfig {
    FitConfig { batch_size: 8, epochs, lr: 3e-3, warmup_steps: 4, checkpoint_every: 1000, ..FitConfig::new(model) }
}

/// A Float32 GeoTIFF of `values` on `like`'s grid.
fn write_f32(like: &Raster, values: &ndarray::Array2<f32>, path: &Path, name: &str) {
    let spec = RasterSpec {
        width: like.width(),
        height: like.height(),
        bands: 1,
        geo_transform: like.geo_transform(),
        crs: like.crs(),
        band_descriptions: vec![name.to_owned()],
        ..RasterSpec::default()
    };
    let options = TiffOptions { compression: Compression::None, ..TiffOptions::default() };
    let mut w = TiledWriter::<f32>::create(path, &spec, &options).expect("create");
    w.write_window(Window::full(spec.width, spec.height), values.view().insert_axis(ndarray::Axis(0))).expect("write");
    w.finish(None).expect("finish");
}

#[test]
fn a_vit_regressor_learns_ndvi_from_the_visible_bands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(stack) = scene_stack(dir.path()) else { return };
    let scene = Raster::open(&stack.display().to_string()).expect("stack");
    let bands = scene.read_window::<f64>(Window::full(scene.width(), scene.height()), None).expect("read");
    // NDVI from B04 and B08; the scene's nodata (0) gives no value.
    let ndvi =
        ndarray::Zip::from(bands.index_axis(ndarray::Axis(0), 2))
            .and(bands.index_axis(ndarray::Axis(0), 3))
            .map_collect(|&red, &nir| {
                if red == 0.0 || nir == 0.0 { f32::NAN } else { eoforge_raster::normalized_difference(nir, red) }
            });
    let target = dir.path().join("ndvi.tif");
    write_f32(&scene, &ndvi, &target, "NDVI");
    let shards = dir.path().join("shards");
    let options = eoforge_convert::WindowOptions {
        out: shards.display().to_string(),
        size: 32,
        stride: 48,
        bands: Some(vec![1, 2, 3]),
        block: 2,
        ratios: SplitRatios { train: 0.75, validation: 0.25, test: 0.0 },
        samples_per_shard: 32,
        target: Some(target.display().to_string()),
        ..eoforge_convert::WindowOptions::default()
    };
    eoforge_convert::convert_windows(&stack.display().to_string(), None, &options, &|| {}).expect("windows");
    let set = open(&shards);
    assert_eq!(set.target().expect("a regression set").name, "NDVI");
    let encoder = encoder(3, 32, 8, 1, &[]);
    let weights = pretrained(&encoder, &dir.path().join("encoder.safetensors"));
    for (freeze, decoder) in [(true, VitDecoder::Fcn), (false, VitDecoder::Upernet)] {
        let model = ModelConfig::VitRegressor(VitSegmenterConfig {
            encoder: encoder.clone(),
            classes: 1,
            decoder,
            decoder_channels: 16,
            feature_blocks: None,
            freeze,
            encoder_weights: Some(weights.clone()),
            encoder_remap: Vec::new(),
        });
        let run_dir = dir.path().join(format!("run-{freeze}"));
        fit::<AD>(&set, &fit_config(model, 4), &run_dir, &DEVICE, &StopWhen::default()).expect("fit");
        let run = TrainedRun::open(&run_dir).expect("run");
        let Report::Regression(scores) = run.evaluate::<Flex>(&set, "validation", &DEVICE).expect("eval") else {
            panic!("regression scores")
        };
        let Report::Regression(base) = trivial_baseline::<Flex>(&run, &set, "validation", &DEVICE).expect("baseline")
        else {
            panic!("regression baseline")
        };
        eprintln!(
            "NDVI ({decoder:?}, freeze = {freeze}): R² {:.3} RMSE {:.4} MAE {:.4}; training mean: R² {:.3} RMSE {:.4}",
            scores.r2, scores.rmse, scores.mae, base.r2, base.rmse
        );
        assert_eq!(scores.pixels, base.pixels, "both score the same pixels");
        assert!(scores.pixels > 0 && (base.rmse - scores.baseline_rmse).abs() < 1e-9);
        assert!(scores.r2 > base.r2 + 0.2, "R² {:.3} beats the training mean's {:.3}", scores.r2, base.r2);
        assert!(scores.rmse < base.rmse);
        draw_run::<Flex>(&run, &set, &DEVICE).expect("pictures");
        for picture in ["curves.png", "samples.png", "scatter.png"] {
            assert!(run_dir.join(picture).is_file(), "{picture}");
        }
    }
}

#[test]
fn a_vit_classifier_learns_bigearthnet_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(_) = shard_set(dir.path(), 28) else { return };
    let set = open(dir.path());
    let encoder = encoder(12, 120, 8, 1, &[]);
    let weights = pretrained(&encoder, &dir.path().join("encoder.safetensors"));
    for freeze in [true, false] {
        let model = ModelConfig::VitClassifier(VitClassifierConfig {
            encoder: encoder.clone(),
            classes: 19,
            pool: VitPool::Mean,
            freeze,
            encoder_weights: Some(weights.clone()),
            encoder_remap: Vec::new(),
        });
        let run_dir = dir.path().join(format!("run-{freeze}"));
        let config = FitConfig { lr: 1e-2, ..fit_config(model, 8) };
        fit::<AD>(&set, &config, &run_dir, &DEVICE, &StopWhen::default()).expect("fit");
        let run = TrainedRun::open(&run_dir).expect("run");
        let Report::MultiLabel(scores) = run.evaluate::<Flex>(&set, "validation", &DEVICE).expect("eval") else {
            panic!("multi-label scores")
        };
        let Report::MultiLabel(base) = trivial_baseline::<Flex>(&run, &set, "validation", &DEVICE).expect("baseline")
        else {
            panic!("multi-label baseline")
        };
        eprintln!(
            "BigEarthNet (freeze = {freeze}): macro mAP {:.3}; label frequencies {:.3}",
            scores.macro_map, base.macro_map
        );
        assert!(scores.macro_map > base.macro_map, "freeze = {freeze}");
    }
}

#[test]
fn multi_temporal_windows_feed_a_vit_with_their_dates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (Some(ndvi), Some(lulc)) =
        (fixture("labels/eolearn_TestEOPatch_NDVI_68dates.tif"), fixture("labels/eolearn_TestEOPatch_LULC.tif"))
    else {
        return;
    };
    let stamps = std::fs::read_to_string(ndvi.with_extension("timestamps.json")).expect("timestamps");
    let dates = eoforge_convert::Date::parse_list(&stamps).expect("dates");
    let ndvi = ndvi.display().to_string();
    let picks: Vec<usize> = (0..16).map(|k| 1 + 4 * k).collect();
    let frames = eoforge_convert::Frame::of_stack(&ndvi, &dates, &picks, 1).expect("frames");
    let shards = dir.path().join("shards");
    let options = eoforge_convert::WindowOptions {
        out: shards.display().to_string(),
        size: 16,
        stride: 16,
        block: 1,
        ratios: SplitRatios { train: 0.7, validation: 0.3, test: 0.0 },
        samples_per_shard: 16,
        seed: 2,
        ignore: Some(0),
        frames,
        ..eoforge_convert::WindowOptions::default()
    };
    eoforge_convert::convert_windows(&ndvi, Some(&lulc.display().to_string()), &options, &|| {}).expect("windows");
    let set = open(&shards);
    assert_eq!((set.frames(), set.input_channels()), (16, 16));
    // Every sample carries its frames' dates (every fourth of the series: 2015-07-11, 2015-09-09, 2015-12-08,
    // 2016-01-17, … are days 192, 252, 342 and 17) and its place on the ground (Slovenia).
    let loader =
        Loader::new(set.clone(), LoaderConfig { input: "image".into(), batch_size: 4, ..LoaderConfig::default() })
            .expect("loader");
    let batch = loader.epoch(0).next().expect("a batch").expect("batch");
    assert_eq!((batch.frames, batch.inputs.dim().1), (16, 16));
    let sample_dates = batch.dates.as_ref().expect("dates");
    assert_eq!(sample_dates[..4], [[2015.0, 192.0], [2015.0, 252.0], [2015.0, 342.0], [2016.0, 17.0]]);
    assert_eq!(sample_dates.len(), 4 * 16);
    let [lat, lon] = batch.location.as_ref().expect("location")[0];
    assert!((45.0..47.5).contains(&lat) && (13.0..17.0).contains(&lon), "location {lat}, {lon}");

    let encoder = encoder(1, 16, 4, 16, &["time", "location"]);
    let weights = pretrained(&encoder, &dir.path().join("encoder.safetensors"));
    let classes = set.class_table().expect("classes").len();
    let model = ModelConfig::Vit(VitSegmenterConfig {
        encoder,
        classes,
        decoder: VitDecoder::Fcn,
        decoder_channels: 16,
        feature_blocks: None,
        freeze: false,
        encoder_weights: Some(weights),
        encoder_remap: Vec::new(),
    });
    let run_dir = dir.path().join("run");
    let config = FitConfig { lr: 3e-3, batch_size: 4, ..fit_config(model, 4) };
    let outcome = fit::<AD>(&set, &config, &run_dir, &DEVICE, &StopWhen::default()).expect("fit");
    let run = TrainedRun::open(&run_dir).expect("run");
    assert_eq!(run.data.frames, 16);
    let Report::Segmentation(base) = trivial_baseline::<Flex>(&run, &set, "validation", &DEVICE).expect("baseline")
    else {
        panic!("segmentation baseline")
    };
    let (best, epoch) = outcome.best.expect("a best checkpoint");
    // Scores are recorded, not asserted: on this 100 px patch the land use is barely separable from a handful of
    // NDVI dates (a single-date network over the same 16 values does no better); the point is the plumbing.
    eprintln!("land use from 16 dates: best mean IoU {best:.3} (epoch {epoch}); majority class {:.3}", base.mean_iou);
    // The trained encoder reads the dates: the same windows a year later give other logits.
    let Ok(eoforge_models::SegmentationNet::Vit(net)) = run.segmentation::<Flex>(&DEVICE) else {
        panic!("a ViT segmentation run")
    };
    let (n, c, h, w) = batch.inputs.dim();
    let input = || {
        burn::tensor::Tensor::<Flex, 4>::from_data(
            burn::tensor::TensorData::new(batch.inputs.iter().copied().collect::<Vec<f32>>(), [n, c, h, w]),
            &DEVICE,
        )
    };
    let logits = |coords: &eoforge_models::Coords| -> Vec<f32> {
        net.forward_with(input(), coords).into_data().convert::<f32>().to_vec().expect("f32")
    };
    let mut later = batch.coords();
    for date in later.temporal.as_mut().expect("dates") {
        date[0] += 1.0;
    }
    let (now, then) = (logits(&batch.coords()), logits(&later));
    let change = now.iter().zip(&then).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(change > 1e-4, "the dates reach the encoder (largest logit change {change})");

    // Two co-registered scenes as frames, the second with nodata over its top rows: the windows there are skipped
    // and counted against that frame's date.
    let stack = Raster::open(&ndvi).expect("ndvi");
    let read = |band: usize| {
        stack
            .read_window::<f32>(Window::full(stack.width(), stack.height()), Some(&[band]))
            .expect("read")
            .index_axis_move(ndarray::Axis(0), 0)
    };
    let first = dir.path().join("S2_20160426.tif");
    write_f32(&stack, &read(17), &first, "NDVI");
    let mut cloudy = read(21);
    cloudy.slice_mut(ndarray::s![..20, ..]).fill(f32::NAN);
    let second = dir.path().join("second.tif");
    write_f32(&stack, &cloudy, &second, "NDVI");
    let frames = vec![
        eoforge_convert::Frame::from_spec(&first.display().to_string(), Vec::new()).expect("date in the name"),
        eoforge_convert::Frame::from_spec(&format!("{}@2016-06-05", second.display()), Vec::new()).expect("frame"),
    ];
    let options =
        eoforge_convert::WindowOptions { out: dir.path().join("two").display().to_string(), frames, ..options };
    let report = eoforge_convert::convert_windows(
        &first.display().to_string(),
        Some(&lulc.display().to_string()),
        &options,
        &|| {},
    )
    .expect("windows");
    // Window rows start every 16 px: those at 0 and 16 overlap the first 20 rows, 6 windows each.
    assert_eq!(report.skipped_frames.get("2016-157"), Some(&12), "{report:?}");
    assert_eq!(report.skipped_frames.len(), 1);
    assert_eq!(report.skipped_nodata, 12);
}

#[test]
fn an_encoder_learns_at_its_own_rate_decayed_by_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(()) = common::land_use_windows(&shards) else { return };
    let set = open(&shards);
    let encoder = encoder(68, 16, 4, 1, &[]);
    let weights = pretrained(&encoder, &dir.path().join("encoder.safetensors"));
    let start = encoder.init::<Flex>(&DEVICE).expect("encoder");
    let start =
        eoforge_models::load_safetensors(start, &weights, &eoforge_models::LoadOptions::default()).expect("load").0;
    let qkv = |vit: &eoforge_models::Vit<Flex>, block: usize| -> Vec<f32> {
        vit.blocks[block].attn.qkv.weight.val().into_data().convert::<f32>().to_vec().expect("f32")
    };
    // How far each block's attention weights moved in one epoch, for a run with these settings.
    let moved = |name: &str, scale: Option<f64>, decay: Option<f64>| -> [f32; 4] {
        let model = ModelConfig::Vit(VitSegmenterConfig {
            encoder: encoder.clone(),
            classes: set.class_table().expect("classes").len(),
            decoder: VitDecoder::Fcn,
            decoder_channels: 16,
            feature_blocks: None,
            freeze: false,
            encoder_weights: Some(weights.clone()),
            encoder_remap: Vec::new(),
        });
        let config = FitConfig { encoder_lr_scale: scale, layer_decay: decay, ..fit_config(model, 1) };
        let run_dir = dir.path().join(name);
        fit::<AD>(&set, &config, &run_dir, &DEVICE, &StopWhen::default()).expect("fit");
        let Ok(eoforge_models::SegmentationNet::Vit(net)) =
            TrainedRun::open(&run_dir).expect("run").segmentation::<Flex>(&DEVICE)
        else {
            panic!("a ViT run")
        };
        std::array::from_fn(|b| {
            qkv(&net.encoder, b).iter().zip(qkv(&start, b)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max)
        })
    };
    let full = moved("full", None, None);
    let slow = moved("slow", Some(0.01), None);
    let decayed = moved("decayed", None, Some(0.5));
    eprintln!("largest qkv change per block: full {full:?}, encoder at 1% {slow:?}, decay 0.5 {decayed:?}");
    for b in 0..4 {
        assert!(full[b] > 0.0 && slow[b] < 0.05 * full[b], "block {b}: {} against {}", slow[b], full[b]);
    }
    // Block 0 steps at 0.5⁴ of the rate, block 3 at 0.5.
    assert!(decayed[0] < 0.3 * decayed[3], "{decayed:?}");
    assert!(decayed[3] < full[3]);
}
