//! U-Nets trained on real labelled rasters: windows of the 29RKH scene with its SCL scene classification (the
//! shards carry the classes and colours, the loss falls, the run directory holds its records and pictures), and
//! the eo-learn test patch's NDVI series with its land-use map, where held-back windows score better than the
//! trivial baseline (the validation split's own majority class everywhere). Bad settings are refused naming the
//! field.

#![allow(clippy::print_stderr)] // the scores are printed beside the assertion for the record

mod common;

use burn::backend::{Autodiff, Flex};
use common::{land_use_windows, open, scene_windows};
use eoforge_models::{NormKind, SegmenterConfig, UNetConfig};
use eoforge_train::{
    ConfusionMatrix, FitConfig, Loader, LoaderConfig, ModelConfig, Report, ShardSet, StopWhen, TrainedRun, draw_run,
    fit,
};

type AD = Autodiff<Flex>;

fn config(classes: usize) -> FitConfig {
    FitConfig {
        batch_size: 8,
        shuffle_buffer: 32,
        epochs: 2,
        lr: 5e-3,
        warmup_steps: 5,
        min_lr: 1e-4,
        checkpoint_every: 10,
        seed: 7,
        ..FitConfig::new(ModelConfig::Unet(UNetConfig {
            depth: 2,
            base_width: 8,
            norm: NormKind::Batch,
            ..UNetConfig::new(4, classes)
        }))
    }
}

/// Mean IoU and pixel accuracy of predicting the validation split's most frequent labelled class everywhere.
fn majority_baseline(set: &ShardSet, classes: usize, ignore: Option<i64>) -> (f64, f64) {
    let config = LoaderConfig {
        split: "validation".into(),
        shuffle_buffer: 0,
        input: set.input_tensor().to_owned(),
        ..LoaderConfig::default()
    };
    let loader = Loader::new(set.clone(), config).expect("loader");
    let mut counts = vec![0u64; classes];
    let batches: Vec<_> = loader.epoch(0).map(|b| b.expect("batch")).collect();
    for batch in &batches {
        for v in batch.masks.as_ref().expect("masks").iter().filter(|v| Some(**v) != ignore) {
            counts[*v as usize] += 1;
        }
    }
    let majority = (0..classes).max_by_key(|c| counts[*c]).expect("classes") as i64;
    let mut matrix = ConfusionMatrix::new(classes, ignore);
    for batch in &batches {
        let masks = batch.masks.as_ref().expect("masks");
        matrix.update(&masks.mapv(|_| majority).view(), &masks.view()).expect("update");
    }
    let report = matrix.report();
    (report.mean_iou, report.pixel_accuracy)
}

#[test]
fn a_unet_trains_on_scene_windows_and_leaves_a_complete_run_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(_) = scene_windows(dir.path(), &shards) else { return };
    let set = open(&shards);
    assert!(set.is_segmentation());
    assert_eq!(set.input_tensor(), "image");
    assert_eq!(set.ignore(), Some(0), "SCL's nodata is the ignore value");
    assert_eq!(set.stats().channels, ["B02", "B03", "B04", "B08"], "band names come from the scene");
    let table = set.class_table().expect("class table");
    let present: std::collections::BTreeSet<u16> =
        ["train", "validation"].iter().flat_map(|s| set.class_pixels(s).into_keys()).collect();
    assert_eq!(table.values(), present.into_iter().collect::<Vec<_>>(), "the SCL values present are the classes");
    assert!(table.index_of(0).is_none() && table.len() >= 5, "{:?}", table.values());
    let classes = table.len();
    assert!(set.shards("validation").is_ok_and(|s| !s.is_empty()));

    let run = dir.path().join("run");
    let device = burn::backend::flex::FlexDevice;
    let outcome = fit::<AD>(&set, &config(classes), &run, &device, &StopWhen::default()).expect("fit");
    assert!(outcome.finished);
    let n = outcome.losses.len();
    let head: f64 = outcome.losses[..5].iter().sum::<f64>() / 5.0;
    let tail: f64 = outcome.losses[n - 5..].iter().sum::<f64>() / 5.0;
    assert!(tail < head, "the loss falls: first steps {head:.4}, last steps {tail:.4}");

    assert!(outcome.best.is_some(), "a best checkpoint");
    let Some(Report::Segmentation(last)) = outcome.validation.last() else { panic!("segmentation scores") };
    eprintln!("29RKH/SCL validation: mean IoU {:.4}, pixel accuracy {:.4}", last.mean_iou, last.pixel_accuracy);

    // The run directory: records, metrics per epoch, the best checkpoint, pictures.
    for file in ["data.json", "losses.jsonl", "metrics.jsonl", "model.mpk", "best/model.mpk", "best/best.json"] {
        assert!(run.join(file).is_file(), "{file} is written");
    }
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics");
    let line: serde_json::Value = serde_json::from_str(metrics.lines().last().expect("line")).expect("json");
    assert_eq!(line["validation"]["confusion"].as_array().map(Vec::len), Some(classes), "{line}");
    assert!(line["validation"]["iou"].as_array().is_some_and(|v| v.len() == classes));
    let trained = TrainedRun::open(&run).expect("run directory");
    assert_eq!(trained.data.channels, ["B02", "B03", "B04", "B08"]);
    assert_eq!(trained.data.ignore, Some(0));
    assert_eq!(trained.data.classes, table, "the run keeps the set's class table");
    draw_run::<Flex>(&trained, &set, &device).expect("pictures");
    for picture in ["curves.png", "samples.png"] {
        let bytes = std::fs::read(run.join(picture)).expect("picture");
        assert_eq!(&bytes[1..4], b"PNG", "{picture} is a PNG");
    }
}

#[test]
fn a_unet_beats_the_majority_baseline_on_held_back_land_use_windows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(()) = land_use_windows(&shards) else { return };
    let set = open(&shards);
    assert_eq!(set.stats().channels.len(), 68, "one channel per NDVI date");
    let config = FitConfig {
        batch_size: 4,
        epochs: 8,
        lr: 1e-2,
        warmup_steps: 4,
        checkpoint_every: 100,
        ..FitConfig::new(ModelConfig::Unet(UNetConfig {
            depth: 2,
            base_width: 16,
            norm: NormKind::Group { groups: 4 },
            ..UNetConfig::new(68, set.class_table().expect("class table").len())
        }))
    };
    let device = burn::backend::flex::FlexDevice;
    let outcome = fit::<AD>(&set, &config, &dir.path().join("run"), &device, &StopWhen::default()).expect("fit");
    let (base_iou, base_accuracy) =
        majority_baseline(&set, set.class_table().expect("class table").len(), Some(eoforge_train::IGNORED));
    let (best, epoch) = outcome.best.expect("a best checkpoint");
    let Some(Report::Segmentation(last)) = outcome.validation.last() else { panic!("segmentation scores") };
    eprintln!(
        "land use validation mean IoU: best {best:.4} (epoch {epoch}), last {:.4}; pixel accuracy {:.4}; majority \
         baseline: mean IoU {base_iou:.4}, pixel accuracy {base_accuracy:.4}",
        last.mean_iou, last.pixel_accuracy
    );
    assert!(best > base_iou + 0.05, "the U-Net's mean IoU {best:.4} beats the majority baseline's {base_iou:.4}");
}

#[test]
fn the_embedding_segmenter_beats_the_majority_baseline_on_68_channel_windows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(()) = land_use_windows(&shards) else { return };
    let set = open(&shards);
    assert_eq!(set.stats().channels.len(), 68, "a 68-channel input, as a 64-dimensional embedding is");
    let segmenter = SegmenterConfig {
        width: 32,
        output_stride: 4,
        rates: vec![1, 2],
        low_level_channels: 8,
        norm: NormKind::Group { groups: 4 },
        ..SegmenterConfig::new(68, set.class_table().expect("class table").len())
    };
    let config = FitConfig {
        batch_size: 4,
        epochs: 8,
        lr: 5e-3,
        warmup_steps: 4,
        checkpoint_every: 100,
        ..FitConfig::new(ModelConfig::Segmenter(segmenter.clone()))
    };
    let device = burn::backend::flex::FlexDevice;
    let run_dir = dir.path().join("run");
    let outcome = fit::<AD>(&set, &config, &run_dir, &device, &StopWhen::default()).expect("fit");
    let (base_iou, _) =
        majority_baseline(&set, set.class_table().expect("class table").len(), Some(eoforge_train::IGNORED));
    let (best, epoch) = outcome.best.expect("a best checkpoint");
    eprintln!("segmenter validation mean IoU: best {best:.4} (epoch {epoch}); majority baseline {base_iou:.4}");
    assert!(best > base_iou + 0.05, "the segmenter's mean IoU {best:.4} beats the majority baseline's {base_iou:.4}");

    // The run reads back as a segmentation run, with its pictures.
    let run = TrainedRun::open(&run_dir).expect("run");
    assert!(run.segmentation::<Flex>(&device).is_ok() && run.unet::<Flex>(&device).is_err());
    draw_run::<Flex>(&run, &set, &device).expect("pictures");
    assert!(run_dir.join("samples.png").is_file() && run_dir.join("curves.png").is_file());

    // An output stride that is not a power of two up to 16 is refused naming the field.
    let bad = FitConfig { model: ModelConfig::Segmenter(SegmenterConfig { output_stride: 3, ..segmenter }), ..config };
    let err = fit::<AD>(&set, &bad, &dir.path().join("bad"), &device, &StopWhen::default()).expect_err("refused");
    assert!(err.to_string().contains("output_stride"), "{err}");
}

#[test]
fn bad_settings_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(_) = scene_windows(dir.path(), &shards) else { return };
    let set = open(&shards);
    let device = burn::backend::flex::FlexDevice;
    let run = |config: &FitConfig, name: &str| {
        fit::<AD>(&set, config, &dir.path().join(name), &device, &StopWhen::default()).expect_err("refused").to_string()
    };
    let classes = set.class_table().expect("class table").len();
    let with_model = |model: UNetConfig| FitConfig { model: ModelConfig::Unet(model), ..config(classes) };
    let err = run(&with_model(UNetConfig { in_channels: 12, ..UNetConfig::new(12, classes) }), "channels");
    assert!(err.contains("model.in_channels") && err.contains("B02, B03, B04, B08"), "{err}");
    let wrong = UNetConfig { depth: 2, base_width: 8, ..UNetConfig::new(4, classes + 1) };
    let err = run(&with_model(wrong), "classes");
    assert!(err.contains("model.classes") && err.contains("class table"), "{err}");
    let err = run(&with_model(UNetConfig { depth: 7, ..UNetConfig::new(4, classes) }), "depth");
    assert!(err.contains("depth"), "{err}");
    let err = run(&FitConfig { best_metric: Some("accuracy".into()), ..config(classes) }, "metric");
    assert!(err.contains("best_metric") && err.contains("mean_iou"), "{err}");
    // A classifier on a segmentation set: it needs `labels`, the samples hold masks.
    let classifier =
        eoforge_models::PatchClassifierConfig { widths: vec![4], ..eoforge_models::PatchClassifierConfig::new(4, 19) };
    let err = run(&FitConfig { model: ModelConfig::Classifier(classifier), ..config(classes) }, "family");
    assert!(err.contains("labels") && err.contains("segmentation"), "{err}");
}

#[test]
fn a_vit_encoder_fine_tunes_frozen_and_trained_on_land_use_windows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    let Some(()) = land_use_windows(&shards) else { return };
    let set = open(&shards);
    let classes = set.class_table().expect("class table").len();
    let encoder: eoforge_models::VitConfig = serde_json::from_value(serde_json::json!({
        "img_size": 16, "patch_size": [1, 4, 4], "num_frames": 1, "in_chans": 68, "embed_dim": 32, "depth": 2,
        "num_heads": 2, "mlp_ratio": 2.0
    }))
    .expect("encoder config");
    // "Pretrained" encoder weights under TerraTorch's names (here: an initialised encoder saved as safetensors).
    let device = burn::backend::flex::FlexDevice;
    let pretrained = dir.path().join("encoder.safetensors");
    let start = encoder.init::<Flex>(&device).expect("encoder");
    eoforge_models::save_safetensors(&start, &pretrained, &std::collections::BTreeMap::new()).expect("save");
    let vit = |freeze: bool| eoforge_models::VitSegmenterConfig {
        encoder: encoder.clone(),
        classes,
        decoder: eoforge_models::VitDecoder::Fcn,
        decoder_channels: 16,
        feature_blocks: None,
        freeze,
        encoder_weights: Some(pretrained.clone()),
        encoder_remap: Vec::new(),
    };
    let config = |freeze: bool| FitConfig {
        batch_size: 4,
        epochs: 6,
        lr: 3e-3,
        warmup_steps: 4,
        checkpoint_every: 100,
        ..FitConfig::new(ModelConfig::Vit(vit(freeze)))
    };
    let (base_iou, _) = majority_baseline(&set, classes, Some(eoforge_train::IGNORED));
    let qkv = |run: &TrainedRun| -> Vec<f32> {
        let Ok(eoforge_models::SegmentationNet::Vit(net)) = run.segmentation::<Flex>(&device) else {
            panic!("a ViT segmentation run")
        };
        net.encoder.blocks[0].attn.qkv.weight.val().into_data().convert::<f32>().to_vec().expect("f32")
    };
    let initial: Vec<f32> = start.blocks[0].attn.qkv.weight.val().into_data().convert::<f32>().to_vec().expect("f32");
    for freeze in [true, false] {
        let run_dir = dir.path().join(if freeze { "frozen" } else { "trained" });
        let outcome = fit::<AD>(&set, &config(freeze), &run_dir, &device, &StopWhen::default()).expect("fit");
        let (best, epoch) = outcome.best.expect("a best checkpoint");
        eprintln!(
            "ViT (freeze = {freeze}) validation mean IoU: best {best:.4} (epoch {epoch}); majority {base_iou:.4}"
        );
        assert!(best > base_iou, "freeze = {freeze}: mean IoU {best:.4} beats the majority baseline's {base_iou:.4}");
        let run = TrainedRun::open(&run_dir).expect("run");
        let after = qkv(&run);
        let moved = after.iter().zip(&initial).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        if freeze {
            assert!(moved <= 0.0, "a frozen encoder keeps its pretrained weights (moved {moved})");
        } else {
            assert!(moved > 1e-4, "a trained encoder learns (moved {moved})");
        }
    }
}
