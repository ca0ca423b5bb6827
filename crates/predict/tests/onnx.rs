//! The model fixtures (real Swin2SR and SegFormer architectures exported by Hugging Face `transformers`) run through
//! [`OnnxModel`] give ONNX Runtime's own outputs for their reference batches, as Python's onnxruntime wrote them.

use std::path::{Path, PathBuf};

use eoforge_engine::Model;
use eoforge_predict::{CardFlags, ModelCard, OnnxModel, OnnxOptions, OutputGeometry, OutputKind};
use eoforge_testkit::{fixture, onnxruntime_library};
use ndarray::{Array4, Ix4, s};

fn npy(path: &Path) -> Array4<f32> {
    let bytes = std::fs::read(path).expect("npy");
    eoforge_shards::npy::from_npy::<f32>(&bytes).expect("decode").into_dimensionality::<Ix4>().expect("4-d")
}

fn open(model: &Path, output: OutputKind, window: usize, library: PathBuf) -> OnnxModel {
    let flags = CardFlags { output: Some(output), ..CardFlags::default() };
    let card = ModelCard::for_model(model, &flags).expect("card");
    OnnxModel::open(model, &card, 4, window, &OnnxOptions { library: Some(library), ..OnnxOptions::default() })
        .expect("open")
}

fn max_abs_diff(a: &Array4<f32>, b: &Array4<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn swin2sr_gives_onnx_runtimes_output_at_four_times_the_input() {
    let (Some(model), Some(library)) = (fixture("models/swin2sr_x4_tiny.onnx"), onnxruntime_library()) else { return };
    let mut net = open(&model, OutputKind::Image, 64, library);
    assert_eq!(net.signature().geometry, OutputGeometry::Up(4));
    assert_eq!((net.out_bands(), net.scale()), (4, 4));
    let input = npy(&model.with_extension("input.npy"));
    let expected = npy(&model.with_extension("output.npy"));
    let out = net.forward(input.clone()).expect("forward");
    let diff = max_abs_diff(&out, &expected);
    assert!(diff < 1e-5, "max |Δ| {diff}");
    // A window that is no multiple of the network's attention window (8) is padded by reflection and cropped back.
    let mut card = ModelCard::for_model(&model, &CardFlags { output: Some(OutputKind::Image), ..CardFlags::default() })
        .expect("card");
    card.size_multiple = 8;
    let mut padded = OnnxModel::open(
        &model,
        &card,
        4,
        50,
        &OnnxOptions { library: onnxruntime_library(), threads: 1, ..OnnxOptions::default() },
    )
    .expect("open");
    let odd = input.slice(s![.., .., ..45, ..61]).to_owned();
    let out = padded.forward(odd).expect("padded forward");
    assert_eq!(out.dim(), (2, 4, 180, 244));
}

#[test]
fn segformer_logits_come_back_at_the_windows_size() {
    let (Some(model), Some(library)) = (fixture("models/segformer_tiny.onnx"), onnxruntime_library()) else { return };
    let mut net = open(&model, OutputKind::Classes, 64, library);
    assert_eq!(net.signature().geometry, OutputGeometry::Down(4));
    assert_eq!((net.out_bands(), net.scale()), (5, 1));
    let input = npy(&model.with_extension("input.npy"));
    let expected = npy(&model.with_extension("output.npy"));
    let out = net.forward(input).expect("forward");
    assert_eq!(out.dim(), (2, 5, 64, 96));
    // The upsampled logits agree with ONNX Runtime's at 1/4 where the bilinear taps fall on its pixels' centres
    // (half-pixel centres: output pixel 4i + 1.5 sits on input pixel i), and everywhere between their neighbours.
    let upsampled = eoforge_predict::upsample_bilinear(&expected.view(), 64, 96);
    let diff = max_abs_diff(&out, &upsampled);
    assert!(diff < 1e-4, "max |Δ| {diff}");
}

#[test]
fn bad_models_and_band_counts_are_refused_naming_the_file() {
    let (Some(model), Some(library)) = (fixture("models/swin2sr_x4_tiny.onnx"), onnxruntime_library()) else { return };
    let options = OnnxOptions { library: Some(library), threads: 1, ..OnnxOptions::default() };
    let card = ModelCard::for_model(&model, &CardFlags { output: Some(OutputKind::Image), ..CardFlags::default() })
        .expect("card");
    let text = OnnxModel::open(&model, &card, 3, 64, &options).err().expect("3 bands").to_string();
    assert!(text.contains("takes 4 input channels, but 3 bands") && text.contains("swin2sr_x4_tiny.onnx"), "{text}");
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("model.onnx");
    std::fs::write(&fake, b"not a protobuf").expect("write");
    let text = OnnxModel::open(&fake, &card, 4, 64, &options).err().expect("not onnx").to_string();
    assert!(text.contains("model.onnx") && text.contains("not a model ONNX Runtime can load"), "{text}");
    let no_card = ModelCard::for_model(&fake, &CardFlags::default()).expect_err("no card, no --output").to_string();
    assert!(no_card.contains("--output") && no_card.contains("model.onnx.json"), "{no_card}");
}
