//! SegFormer against Hugging Face `transformers`' own, through the fixture's ONNX export: the exported weights,
//! recovered under `transformers`' names (`python/onnx_state_dict.py`, the `onnx` package), load by name with
//! nothing missing or left over, and the logits equal ONNX Runtime's for the fixture's input within 1e-4.

use burn::backend::Flex;
use burn::backend::flex::FlexDevice;
use burn::tensor::{Tensor, TensorData};
use eoforge_models::{LoadOptions, SegFormerConfig, load_safetensors};
use eoforge_testkit::{fixture, python_with};
use ndarray::ArrayD;

fn npy(path: &std::path::Path) -> ArrayD<f32> {
    eoforge_shards::npy::from_npy::<f32>(&std::fs::read(path).expect("read npy")).expect("decode npy")
}

/// The fixture's architecture (`segformer_tiny.json`; heads from its graph: 16 channels each).
fn tiny() -> SegFormerConfig {
    SegFormerConfig {
        hidden_sizes: [16, 32, 48, 64],
        depths: [1, 1, 1, 1],
        num_attention_heads: [1, 2, 3, 4],
        decoder_hidden_size: 64,
        ..SegFormerConfig::b0(4, 5)
    }
}

#[test]
fn logits_equal_transformers_segformer() {
    let (Some(onnx), Some(python)) = (fixture("models/segformer_tiny.onnx"), python_with(&["onnx", "safetensors"]))
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let weights = dir.path().join("segformer.safetensors");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/onnx_state_dict.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(&onnx)
        .arg(&weights)
        .args(["--folded", "decode_head.linear_fuse=decode_head.batch_norm"])
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let device = FlexDevice;
    let model = tiny().init::<Flex>(&device).expect("init");
    let (model, report) = load_safetensors(model, &weights, &LoadOptions::default()).expect("load");
    assert!(report.missing.is_empty() && report.unused.is_empty(), "{report:?}");
    assert_eq!(report.applied.len(), 123, "every tensor by its transformers name");

    let input = npy(&onnx.with_file_name("segformer_tiny.input.npy"));
    let expected = npy(&onnx.with_file_name("segformer_tiny.output.npy"));
    let shape: [usize; 4] = input.shape().try_into().expect("4-d");
    let x = Tensor::<Flex, 4>::from_data(TensorData::new(input.iter().copied().collect::<Vec<_>>(), shape), &device);
    let logits = model.forward_quarter(x.clone());
    assert_eq!(logits.dims().to_vec(), expected.shape().to_vec(), "logits at 1/4 of the input");
    let got: Vec<f32> = logits.into_data().convert::<f32>().to_vec().expect("f32");
    let worst = got.iter().zip(expected.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(worst < 1e-4, "max |Δ| {worst} (logits up to {scale})");
    // The full-resolution logits are those upsampled bilinearly (align_corners = False) to the input.
    let full = model.forward(x);
    assert_eq!(full.dims(), [shape[0], 5, shape[2], shape[3]]);
}

#[test]
fn bad_configs_name_the_field() {
    let mut config = tiny();
    config.num_attention_heads = [1, 2, 5, 4];
    let e = config.init::<Flex>(&FlexDevice).expect_err("48 channels, 5 heads").to_string();
    assert!(e.contains("num_attention_heads") && e.contains("stage 2"), "{e}");
    let parsed: SegFormerConfig =
        serde_json::from_str(r#"{"in_channels": 64, "classes": 10}"#).expect("B0 defaults from two fields");
    assert_eq!(parsed, SegFormerConfig::b0(64, 10));
    assert!(serde_json::from_str::<SegFormerConfig>(r#"{"in_channels": 64, "classes": 10, "heads": 3}"#).is_err());
    let missing = SegFormerConfig { weights: Some("/nonexistent/segformer.safetensors".into()), ..tiny() };
    let e = missing.init_pretrained::<Flex>(&FlexDevice).expect_err("no file").to_string();
    assert!(e.contains("weights") && e.contains("/nonexistent/segformer.safetensors"), "{e}");
}
