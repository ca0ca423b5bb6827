//! Super-resolution trained on real imagery: windows of the 29RKH scene are the high-resolution targets, their
//! area average by the scale the inputs. After a few CPU epochs the network beats bicubic upsampling of the same
//! inputs on held-back windows (PSNR, in the bands' original units), and a scale that does not divide the
//! windows is refused naming the field.

#![allow(clippy::print_stderr)] // the scores are printed beside the assertion for the record

mod common;

use burn::backend::{Autodiff, Flex};
use common::{open, scene_windows};
use eoforge_models::SuperResolutionConfig;
use eoforge_train::{
    FitConfig, Loader, LoaderConfig, ModelConfig, Report, Scores, StopWhen, TrainedRun, evaluate, fit, task_of,
};

type AD = Autodiff<Flex>;

fn config(scale: usize) -> FitConfig {
    FitConfig {
        batch_size: 8,
        shuffle_buffer: 32,
        epochs: 3,
        lr: 2e-3,
        warmup_steps: 5,
        min_lr: 1e-4,
        checkpoint_every: 100,
        seed: 3,
        ..FitConfig::new(ModelConfig::Sr(SuperResolutionConfig {
            features: 16,
            blocks: 4,
            ..SuperResolutionConfig::new(4, scale)
        }))
    }
}

#[test]
fn super_resolution_beats_bicubic_on_held_back_windows_of_a_real_scene() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = dir.path().join("shards");
    if scene_windows(dir.path(), &shards).is_none() {
        return;
    }
    let set = open(&shards);
    let run_dir = dir.path().join("run");
    let device = burn::backend::flex::FlexDevice;
    let outcome = fit::<AD>(&set, &config(2), &run_dir, &device, &StopWhen::default()).expect("fit");
    assert!(outcome.finished);
    for r in &outcome.validation {
        if let Report::SuperResolution(r) = r {
            eprintln!("validation after an epoch: PSNR {:.3} dB vs bicubic {:.3} dB", r.psnr, r.bicubic_psnr);
        }
    }
    let Some(Report::SuperResolution(last)) = outcome.validation.last() else { panic!("no validation report") };
    eprintln!(
        "validation ({} windows): PSNR {:.2} dB vs bicubic {:.2} dB; SSIM {:.4} vs {:.4}; per band {:?} vs {:?}",
        last.windows,
        last.psnr,
        last.bicubic_psnr,
        last.ssim,
        last.bicubic_ssim,
        last.band_psnr,
        last.band_bicubic_psnr
    );
    assert!(last.windows > 20 && last.band_psnr.len() == 4, "{last:?}");
    assert!(last.psnr.is_finite() && last.bicubic_psnr.is_finite());
    assert!(last.psnr > last.bicubic_psnr, "the trained network must beat bicubic: {last:?}");
    assert!((0.0..=1.0).contains(&last.ssim) && (0.0..=1.0).contains(&last.bicubic_ssim), "{last:?}");

    // The run directory's best weights score the same way when loaded back.
    let run = TrainedRun::open(&run_dir).expect("run");
    let model = run.sr::<Flex>(&device).expect("sr weights");
    let loader = Loader::for_run(
        set.clone(),
        LoaderConfig {
            split: "validation".into(),
            batch_size: 8,
            shuffle_buffer: 0,
            input: set.input_tensor().to_owned(),
            ..LoaderConfig::default()
        },
        &run.data,
    )
    .expect("loader");
    let task = task_of(&run.config, &run.data, &set);
    let Report::SuperResolution(again) =
        evaluate(&model, &loader, &task, Scores::for_model(&run.config.model, &task), &device).expect("evaluate")
    else {
        panic!("a super-resolution report")
    };
    let best = outcome.best.expect("best").0;
    assert!((again.psnr - best).abs() < 1e-3, "best checkpoint {best} vs reloaded {}", again.psnr);

    // 64 px windows cannot be reduced by 3.
    let err = fit::<AD>(&set, &config(3), &dir.path().join("run3"), &device, &StopWhen::default())
        .expect_err("scale 3 on 64 px windows")
        .to_string();
    assert!(err.contains("model.scale") && err.contains("64x64"), "{err}");
}
