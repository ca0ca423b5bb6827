//! Weights shared with Python through safetensors, in both directions, checked against a U-Net written in numpy
//! alone (`tests/python/unet_reference.py`): eoforge's export loads with the Python `safetensors` package and
//! gives the same logits there; weights Python writes (PyTorch names, a `model.` prefix, `num_batches_tracked`)
//! load into eoforge and give the same logits here. Missing and mis-shaped tensors are errors naming them; a
//! `Linear` weight is stored in PyTorch's `(out, in)` layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use burn::backend::Flex;
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use eoforge_models::{
    LoadOptions, NormKind, PatchClassifierConfig, UNet, UNetConfig, WeightsError, load_safetensors,
    safetensors_metadata, save_safetensors, tensor_names,
};

type B = Flex;
const CPU: burn::backend::flex::FlexDevice = burn::backend::flex::FlexDevice;
const N: usize = 2;
const SIDE: usize = 16;

fn reference_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/unet_reference.py")
}

fn config(norm: NormKind) -> UNetConfig {
    UNetConfig { depth: 2, base_width: 8, norm, ..UNetConfig::new(4, 3) }
}

/// A deterministic input in roughly [-2, 2).
fn input() -> Vec<f32> {
    let n = N * 4 * SIDE * SIDE;
    eoforge_testkit::seeded_u64s(9, n).into_iter().map(|v| (v % 4000) as f32 / 1000.0 - 2.0).collect()
}

fn eoforge_logits(model: &UNet<B>, x: &[f32]) -> Vec<f32> {
    let x = Tensor::<B, 4>::from_data(TensorData::new(x.to_vec(), [N, 4, SIDE, SIDE]), &CPU);
    model.forward(x).into_data().to_vec::<f32>().expect("f32 logits")
}

/// The numpy reference's logits for the weights in `weights`.
fn numpy_logits(python: &Path, dir: &Path, config: &UNetConfig, weights: &Path, x: &[f32]) -> Vec<f32> {
    let (cfg, inp, out) = (dir.join("config.json"), dir.join("input.f32"), dir.join("out.f32"));
    std::fs::write(&cfg, serde_json::to_vec(config).expect("json")).expect("config");
    std::fs::write(&inp, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).expect("input");
    let status = Command::new(python)
        .arg(reference_script())
        .args(["forward", &cfg.display().to_string(), &weights.display().to_string()])
        .args([inp.display().to_string(), N.to_string(), SIDE.to_string(), SIDE.to_string()])
        .arg(&out)
        .status()
        .expect("python");
    assert!(status.success(), "the numpy reference failed");
    std::fs::read(&out).expect("out").chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "same number of logits");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn an_exported_unet_gives_the_same_logits_in_numpy() {
    let Some(python) = eoforge_testkit::python_with(&["numpy", "safetensors"]) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for norm in [NormKind::Batch, NormKind::Group { groups: 4 }] {
        let config = config(norm);
        B::seed(&CPU, 5);
        let model = config.init::<B>(&CPU).expect("unet");
        let weights = dir.path().join("unet.safetensors");
        let metadata = BTreeMap::from([("eoforge.config".to_owned(), "{}".to_owned())]);
        let count = save_safetensors(&model, &weights, &metadata).expect("export");
        assert_eq!(count, tensor_names(&model).len());
        assert!(!dir.path().join("unet.safetensors.partial").exists(), "no partial file left");
        let meta = safetensors_metadata(&weights).expect("metadata");
        assert_eq!(meta.get("eoforge.config").map(String::as_str), Some("{}"));
        assert_eq!(meta.get("format").map(String::as_str), Some("pt"));

        let names: Vec<String> = tensor_names(&model).into_iter().map(|(n, _)| n).collect();
        for expected in ["down.0.conv1.weight", "down.0.norm1.weight", "down.0.norm1.bias", "up.1.weight", "head.bias"]
        {
            assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
        }
        assert!(names.iter().all(|n| !n.contains("gamma") && !n.contains("Batch") && !n.contains("Group")));
        if norm == NormKind::Batch {
            assert!(names.iter().any(|n| n == "bottom.norm2.running_var"), "{names:?}");
        }

        let x = input();
        let ours = eoforge_logits(&model, &x);
        let theirs = numpy_logits(&python, dir.path(), &config, &weights, &x);
        let d = max_difference(&ours, &theirs);
        assert!(d < 1e-4, "{norm:?}: eoforge and numpy logits differ by up to {d}");
    }
}

#[test]
fn weights_written_by_python_load_into_eoforge_and_give_the_same_logits() {
    let Some(python) = eoforge_testkit::python_with(&["numpy", "safetensors"]) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LoadOptions {
        remap: vec![(regex::Regex::new(r"^model\.").expect("regex"), String::new())],
        ..LoadOptions::default()
    };
    // Batch and group norm in f32, and batch norm from a half-precision file.
    for (norm, dtype) in
        [(NormKind::Batch, "float32"), (NormKind::Group { groups: 4 }, "float32"), (NormKind::Batch, "float16")]
    {
        let config = config(norm);
        let (cfg, weights) = (dir.path().join("config.json"), dir.path().join("python.safetensors"));
        std::fs::write(&cfg, serde_json::to_vec(&config).expect("json")).expect("config");
        let status = Command::new(&python)
            .arg(reference_script())
            .args(["init", &cfg.display().to_string(), "21", &weights.display().to_string(), "model.", dtype])
            .status()
            .expect("python");
        assert!(status.success(), "python init failed");

        // Without the prefix removed nothing matches: an error naming what is missing.
        let fresh = || config.init::<B>(&CPU).expect("unet");
        let err = load_safetensors(fresh(), &weights, &LoadOptions::default()).expect_err("names do not match");
        assert!(matches!(&err, WeightsError::Missing { names, .. } if names.contains(&"head.weight".to_owned())));
        assert!(err.to_string().contains("python.safetensors") && err.to_string().contains("down.0.conv1.weight"));

        let (model, report) = load_safetensors(fresh(), &weights, &options).expect("load");
        assert!(report.missing.is_empty(), "{report:?}");
        assert_eq!(report.applied.len(), tensor_names(&model).len());
        let tracked = if norm == NormKind::Batch { 10 } else { 0 };
        assert_eq!(report.unused.len(), tracked, "num_batches_tracked is PyTorch's alone: {report:?}");
        assert!(report.unused.iter().all(|n| n.ends_with("num_batches_tracked")));

        let x = input();
        let ours = eoforge_logits(&model, &x);
        let theirs = numpy_logits(&python, dir.path(), &config, &weights, &x);
        let d = max_difference(&ours, &theirs);
        assert!(d < 1e-4, "{norm:?} {dtype}: logits differ by up to {d}");
    }
}

#[test]
fn mis_shaped_and_missing_tensors_are_errors_unless_a_partial_load_is_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let three = config(NormKind::Batch).init::<B>(&CPU).expect("unet");
    let weights = dir.path().join("three.safetensors");
    save_safetensors(&three, &weights, &BTreeMap::new()).expect("export");

    let five = UNetConfig { classes: 5, ..config(NormKind::Batch) }.init::<B>(&CPU).expect("unet");
    let err = load_safetensors(five, &weights, &LoadOptions::default()).expect_err("head differs");
    let text = err.to_string();
    assert!(
        matches!(&err, WeightsError::Shape { name, expected, found, .. }
            if name == "head.weight" && expected == &[5, 8, 1, 1] && found == &[3, 8, 1, 1]),
        "{text}"
    );
    assert!(text.contains("three.safetensors"), "{text}");

    // A deeper network: its bottleneck differs in shape, and a partial load does not excuse that.
    let deeper = || UNetConfig { depth: 3, ..config(NormKind::Batch) }.init::<B>(&CPU).expect("unet");
    let partial = LoadOptions { allow_partial: true, ..LoadOptions::default() };
    for options in [&LoadOptions::default(), &partial] {
        let err = load_safetensors(deeper(), &weights, options).expect_err("the bottleneck differs in shape");
        assert!(matches!(&err, WeightsError::Shape { name, .. } if name == "bottom.conv1.weight"), "{err}");
    }

    // A file with the first stage alone: refused, or with a partial load applied to that stage only.
    let bytes = std::fs::read(&weights).expect("read");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let stage: Vec<(String, safetensors::tensor::TensorView<'_>)> =
        file.tensors().into_iter().filter(|(name, _)| name.starts_with("down.0.")).collect();
    let first = dir.path().join("first-stage.safetensors");
    safetensors::serialize_to_file(stage, None, &first).expect("write");
    let err = load_safetensors(three.clone(), &first, &LoadOptions::default()).expect_err("missing");
    assert!(err.to_string().contains("head.weight"), "{err}");
    let (_, report) = load_safetensors(three.clone(), &first, &partial).expect("partial load");
    assert_eq!(report.applied.len(), 10, "{report:?}");
    assert!(report.applied.iter().all(|n| n.starts_with("down.0.")) && report.unused.is_empty());
    assert_eq!(report.applied.len() + report.missing.len(), tensor_names(&three).len());

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file").expect("write");
    let err = load_safetensors(three.clone(), &garbage, &LoadOptions::default()).expect_err("garbage");
    assert!(err.to_string().contains("garbage.safetensors"), "{err}");
    let err =
        load_safetensors(three, &dir.path().join("absent.safetensors"), &LoadOptions::default()).expect_err("absent");
    assert!(matches!(err, WeightsError::Io { .. }) && err.to_string().contains("absent.safetensors"));
}

#[test]
fn a_linear_weight_is_stored_out_by_in_and_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = PatchClassifierConfig { widths: vec![8, 16], ..PatchClassifierConfig::new(4, 19) };
    B::seed(&CPU, 3);
    let model = config.init::<B>(&CPU).expect("classifier");
    let path = dir.path().join("classifier.safetensors");
    save_safetensors(&model, &path, &BTreeMap::new()).expect("export");
    let bytes = std::fs::read(&path).expect("read");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let head = file.tensor("head.weight").expect("head.weight");
    assert_eq!(head.shape(), &[19, 16], "PyTorch's Linear layout (out, in)");

    let fresh = {
        B::seed(&CPU, 4);
        config.init::<B>(&CPU).expect("classifier")
    };
    let (loaded, report) = load_safetensors(fresh, &path, &LoadOptions::default()).expect("load");
    assert!(report.missing.is_empty() && report.unused.is_empty(), "{report:?}");
    let x = Tensor::<B, 4>::from_data(TensorData::new(input(), [N, 4, SIDE, SIDE]), &CPU);
    let a = model.forward(x.clone()).into_data().to_vec::<f32>().expect("f32");
    let b = loaded.forward(x).into_data().to_vec::<f32>().expect("f32");
    assert_eq!(a, b, "the same logits after a round trip");
    assert!(loaded.num_params() == model.num_params());
}
