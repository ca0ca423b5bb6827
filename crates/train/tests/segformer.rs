//! SegFormer trained on a many-channel window set as the crop-segmentation workflow builds it: embedding tiles (8
//! signed-byte channels, one tile bottom-up, one in the next UTM zone) over Kansas with the real CDL crop map warped
//! onto them, cut as one set stored as int8; the trained network beats the trivial baseline (the majority class) on
//! validation.

#![allow(clippy::print_stderr)] // the scores are printed beside the assertions for the record

mod common;

use burn::backend::{Autodiff, Flex};
use common::open;
use eoforge_convert::{SceneList, WindowOptions, cut_window_set};
use eoforge_models::SegFormerConfig;
use eoforge_sampling::{ShardSpec, SplitRatios};
use eoforge_testkit::embedding_tiles;
use eoforge_train::{FitConfig, ModelConfig, Report, StopWhen, TrainedRun, fit, trivial_baseline};

type AD = Autodiff<Flex>;
const DEVICE: burn::backend::flex::FlexDevice = burn::backend::flex::FlexDevice;

#[test]
fn segformer_learns_crops_from_embedding_tiles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(tiles) = embedding_tiles(dir.path(), 192, 192, 0) else { return };
    let text: Vec<String> = tiles.tiles.iter().map(|t| format!("{} {}", t.display(), tiles.cdl.display())).collect();
    let list = SceneList::parse_text("scenes.txt", &text.join("\n")).expect("list");
    let shards = dir.path().join("shards");
    let options = WindowOptions {
        out: shards.display().to_string(),
        size: 32,
        stride: 32,
        block: 1,
        ratios: SplitRatios { train: 0.7, validation: 0.3, test: 0.0 },
        samples_per_shard: 16,
        seed: 4,
        max_ignored: 0.2,
        // The tiles' own signed bytes, a quarter of float32's size: the loader widens them.
        store_dtype: Some(eoforge_convert::StoreDtype::Int8),
        ..WindowOptions::default()
    };
    let report = cut_window_set(&list, &options, ShardSpec::ALL, None, &|| {}).expect("window set");
    assert!(report.complete, "{report:?}");
    let set = open(&shards);
    assert_eq!(set.input_channels(), 8);
    let classes = set.class_table().expect("classes").len();
    assert!(classes >= 3, "CDL's crops in the windows: {classes}");

    let model = ModelConfig::Segformer(SegFormerConfig {
        hidden_sizes: [16, 32, 48, 64],
        depths: [1, 1, 1, 1],
        num_attention_heads: [1, 2, 3, 4],
        decoder_hidden_size: 32,
        ..SegFormerConfig::b0(8, classes)
    });
    let config = FitConfig {
        batch_size: 8,
        epochs: 8,
        lr: 3e-3,
        warmup_steps: 4,
        checkpoint_every: 1000,
        ..FitConfig::new(model)
    };
    let run_dir = dir.path().join("run");
    let outcome = fit::<AD>(&set, &config, &run_dir, &DEVICE, &StopWhen::default()).expect("fit");
    let run = TrainedRun::open(&run_dir).expect("run");
    let Report::Segmentation(base) = trivial_baseline::<Flex>(&run, &set, "validation", &DEVICE).expect("baseline")
    else {
        panic!("segmentation baseline")
    };
    let (best, epoch) = outcome.best.expect("a best checkpoint");
    eprintln!(
        "SegFormer on {classes} CDL classes: best mean IoU {best:.3} (epoch {epoch}); majority class {:.3}",
        base.mean_iou
    );
    assert!(best > base.mean_iou + 0.1, "mean IoU {best:.3} against the majority class's {:.3}", base.mean_iou);
    // The trained run applies as a segmentation network (tiled prediction, pictures) and exports its weights under
    // transformers' names.
    assert!(matches!(run.segmentation::<Flex>(&DEVICE), Ok(eoforge_models::SegmentationNet::SegFormer(_))));
    let exported = dir.path().join("segformer.safetensors");
    eoforge_train::export_safetensors::<Flex>(&run, &exported, &DEVICE).expect("export");
    let ModelConfig::Segformer(segformer) = &run.config.model else { panic!("a SegFormer run") };
    let fresh = segformer.init::<Flex>(&DEVICE).expect("init");
    let (_, loaded) =
        eoforge_models::load_safetensors(fresh, &exported, &eoforge_models::LoadOptions::default()).expect("reload");
    assert!(loaded.missing.is_empty() && loaded.unused.is_empty(), "{loaded:?}");
    for name in ["segformer.stages.0.blocks.0.attention.q_proj.weight", "decode_head.batch_norm.running_var"] {
        assert!(loaded.applied.iter().any(|n| n == name), "{name} in {:?}", loaded.applied);
    }
}
