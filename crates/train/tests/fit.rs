//! Training the multi-label classifier on shards of the real BigEarthNet patches: the loss falls, validation
//! metrics are written each epoch, and a run stopped part-way resumes from its last checkpoint to the same
//! final weights, byte for byte, as an uninterrupted run.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::{Tensor, TensorData};
use common::{open, shard_set};
use eoforge_models::{NormKind, PatchClassifierConfig};
use eoforge_train::{FitConfig, ModelConfig, StopWhen, fit};

type AD = Autodiff<Flex>;

/// Every float parameter's bits, in module order.
struct Bits(Vec<Vec<u32>>);

impl ModuleVisitor<Flex> for Bits {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Flex, D>>) {
        let values: Vec<f32> = param.val().into_data().to_vec().expect("f32");
        self.0.push(values.into_iter().map(f32::to_bits).collect());
    }
}

/// A saved model's parameter bits and its output bits on a fixed input.
fn weights(path: &std::path::Path) -> (Vec<Vec<u32>>, Vec<u32>) {
    let device = burn::backend::flex::FlexDevice;
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    let model =
        classifier(&config()).init::<Flex>(&device).expect("init").load_file(path, &recorder, &device).expect("load");
    let mut bits = Bits(Vec::new());
    model.visit(&mut bits);
    let input = Tensor::<Flex, 4>::from_data(
        TensorData::new((0..2 * 12 * 16 * 16).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>(), [2, 12, 16, 16]),
        &device,
    );
    let out: Vec<f32> = model.forward(input).into_data().to_vec().expect("f32");
    (bits.0, out.into_iter().map(f32::to_bits).collect())
}

fn config() -> FitConfig {
    FitConfig {
        batch_size: 4,
        shuffle_buffer: 4,
        epochs: 2,
        lr: 1e-2,
        warmup_steps: 2,
        min_lr: 1e-4,
        checkpoint_every: 2,
        seed: 3,
        ..FitConfig::new(ModelConfig::Classifier(PatchClassifierConfig {
            widths: vec![4, 8],
            norm: NormKind::Batch,
            ..PatchClassifierConfig::new(12, 19)
        }))
    }
}

fn classifier(config: &FitConfig) -> &PatchClassifierConfig {
    let ModelConfig::Classifier(c) = &config.model else { panic!("a classifier config") };
    c
}

#[test]
fn a_stopped_run_resumes_to_the_same_weights() {
    let data = tempfile::tempdir().expect("tempdir");
    let Some(_) = shard_set(data.path(), 28) else { return };
    let set = open(data.path());
    let device = burn::backend::flex::FlexDevice;

    let whole = tempfile::tempdir().expect("tempdir");
    let full = fit::<AD>(&set, &config(), whole.path(), &device, &StopWhen::default()).expect("uninterrupted run");
    assert!(full.finished && full.resumed_from == 0);
    assert!(full.losses.last() < full.losses.first(), "the loss falls: {:?}", full.losses);
    let metrics = std::fs::read_to_string(whole.path().join("metrics.jsonl")).expect("metrics.jsonl");
    assert_eq!(metrics.lines().count(), 2, "one line per epoch");
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().expect("line")).expect("json");
    assert!(first["validation"]["macro_map"].as_f64().is_some_and(|m| (0.0..=1.0).contains(&m)), "{first}");

    let parts = tempfile::tempdir().expect("tempdir");
    // Stopped in the second epoch, one step past a checkpoint (every 2 steps and at epoch ends).
    let stop = full.steps - 2 - full.steps % 2 + 1;
    let stopped =
        fit::<AD>(&set, &config(), parts.path(), &device, &StopWhen { max_steps: Some(stop), ..StopWhen::default() })
            .expect("stopped run");
    assert!(!stopped.finished && stopped.steps == stop);
    let resumed = fit::<AD>(&set, &config(), parts.path(), &device, &StopWhen::default()).expect("resumed run");
    let from = resumed.resumed_from;
    assert!(from > 0 && from < stop, "resumed from step {from}, the last checkpoint before step {stop}");
    assert!(resumed.finished && resumed.steps == full.steps);
    assert_eq!(&full.losses[from as usize..], &resumed.losses[..], "the resumed steps repeat the uninterrupted ones");
    // Parameter ids are random per process and stored in the file, so compare values: every parameter bit for
    // bit, and the outputs on a fixed input (they include the batch-norm running statistics).
    let (a, b) = (weights(&whole.path().join("model")), weights(&parts.path().join("model")));
    assert!(a.0 == b.0 && !a.0.is_empty(), "final parameters differ after resuming");
    assert!(a.1 == b.1, "final outputs differ after resuming");

    // A damaged checkpoint is an error naming it, not a silent fresh start.
    let latest = std::fs::read_to_string(parts.path().join("checkpoints/latest")).expect("latest");
    std::fs::write(parts.path().join("checkpoints").join(latest.trim()).join("model.mpk"), b"garbage").expect("damage");
    let err = fit::<AD>(&set, &config(), parts.path(), &device, &StopWhen::default()).expect_err("refused");
    assert!(err.to_string().contains(latest.trim()), "{err}");
}
