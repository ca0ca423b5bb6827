//! The architectures on burn's CPU backend: documented shapes, configs that name the wrong field, and that each
//! network learns (its loss falls on a task it can solve) when trained with autodiff and AdamW.

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::{Distribution, Int, Tensor};
use eoforge_models::{NormKind, PatchClassifierConfig, UNetConfig};

type B = Flex;
type AD = Autodiff<Flex>;

fn device() -> burn::backend::flex::FlexDevice {
    burn::backend::flex::FlexDevice
}

#[test]
fn unet_gives_per_pixel_logits_at_the_input_resolution() {
    let d = device();
    for norm in [NormKind::Batch, NormKind::Group { groups: 4 }] {
        let config = UNetConfig { depth: 3, base_width: 8, norm, ..UNetConfig::new(12, 5) };
        let net = config.init::<B>(&d).expect("valid config");
        let x = Tensor::<B, 4>::random([2, 12, 32, 32], Distribution::Normal(0.0, 1.0), &d);
        assert_eq!(net.forward(x).dims(), [2, 5, 32, 32]);
    }
    // A BigEarthNet patch: 120 is a multiple of 2^3.
    let config = UNetConfig { base_width: 4, ..UNetConfig::new(12, 19) };
    assert_eq!(config.size_multiple(), 8);
    let net = config.init::<B>(&d).expect("valid");
    assert_eq!(net.forward(Tensor::zeros([1, 12, 120, 120], &d)).dims(), [1, 19, 120, 120]);
    assert!(net.num_params() > 10_000);
}

#[test]
fn classifier_gives_one_logit_per_class() {
    let d = device();
    let config = PatchClassifierConfig { widths: vec![8, 16, 32], ..PatchClassifierConfig::new(12, 19) };
    let net = config.init::<B>(&d).expect("valid");
    let x = Tensor::<B, 4>::random([3, 12, 120, 120], Distribution::Normal(0.0, 1.0), &d);
    assert_eq!(net.forward(x).dims(), [3, 19]);
}

#[test]
fn configs_name_the_field_that_is_wrong() {
    let d = device();
    let bad = |config: UNetConfig| config.init::<B>(&d).expect_err("refused").to_string();
    assert!(bad(UNetConfig { depth: 0, ..UNetConfig::new(12, 2) }).contains("`depth`"));
    assert!(bad(UNetConfig::new(12, 0)).contains("`classes`"));
    assert!(bad(UNetConfig::new(0, 2)).contains("`in_channels`"));
    let groups = bad(UNetConfig { base_width: 6, norm: NormKind::Group { groups: 4 }, ..UNetConfig::new(12, 2) });
    assert!(groups.contains("`norm.groups`") && groups.contains("width 6"), "{groups}");
    let classifier = PatchClassifierConfig { widths: vec![], ..PatchClassifierConfig::new(12, 19) };
    assert!(classifier.init::<B>(&d).expect_err("refused").to_string().contains("`widths`"));

    // Serde: defaults fill in, unknown fields are refused by name (a typo in a run's config is an error).
    let parsed: UNetConfig = serde_json::from_str(r#"{"in_channels": 12, "classes": 19}"#).expect("defaults");
    assert_eq!(parsed, UNetConfig::new(12, 19));
    let group: UNetConfig =
        serde_json::from_str(r#"{"in_channels": 4, "classes": 2, "norm": {"kind": "group", "groups": 8}}"#)
            .expect("group norm");
    assert_eq!(group.norm, NormKind::Group { groups: 8 });
    let typo = serde_json::from_str::<UNetConfig>(r#"{"in_channels": 12, "classes": 19, "dept": 4}"#);
    assert!(typo.expect_err("refused").to_string().contains("dept"));
}

/// A seeded batch: inputs and the multi-hot targets "channel k's mean is positive" for each of 3 classes.
fn multilabel_batch(n: usize) -> (Tensor<AD, 4>, Tensor<AD, 2, Int>) {
    let d = device();
    <AD as burn::tensor::backend::Backend>::seed(&d, 7);
    let x = Tensor::<AD, 4>::random([n, 4, 16, 16], Distribution::Normal(0.0, 1.0), &d);
    let shift = Tensor::<AD, 4>::random([n, 4, 1, 1], Distribution::Normal(0.0, 1.0), &d);
    let x = x + shift.clone();
    let targets = shift.reshape([n, 4]).slice([0..n, 0..3]).greater_elem(0.0).int();
    (x, targets)
}

#[test]
fn classifier_learns_a_multilabel_task() {
    let d = device();
    let (x, y) = multilabel_batch(16);
    let mut net = PatchClassifierConfig { widths: vec![8, 16], ..PatchClassifierConfig::new(4, 3) }
        .init::<AD>(&d)
        .expect("valid");
    let loss_fn = BinaryCrossEntropyLossConfig::new().with_logits(true).init(&d);
    let mut optim = AdamWConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..25 {
        let loss = loss_fn.forward(net.forward(x.clone()), y.clone());
        losses.push(loss.clone().into_scalar());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-2, net, grads);
    }
    assert!(losses[24] < 0.5 * losses[0], "losses {losses:?}");
}

#[test]
fn unet_learns_a_per_pixel_task() {
    let d = device();
    <AD as burn::tensor::backend::Backend>::seed(&d, 11);
    let x = Tensor::<AD, 4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &d);
    // Class of a pixel: whether its first band is positive.
    let classes = x.clone().slice([0..4, 0..1, 0..16, 0..16]).greater_elem(0.0).int().reshape([4 * 16 * 16]);
    let mut net = UNetConfig { depth: 2, base_width: 8, norm: NormKind::Group { groups: 2 }, ..UNetConfig::new(3, 2) }
        .init::<AD>(&d)
        .expect("valid");
    let loss_fn = CrossEntropyLossConfig::new().init(&d);
    let mut optim = AdamWConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..25 {
        let logits = net.forward(x.clone()).permute([0, 2, 3, 1]).reshape([4 * 16 * 16, 2]);
        let loss = loss_fn.forward(logits, classes.clone());
        losses.push(loss.clone().into_scalar());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-2, net, grads);
    }
    assert!(losses[24] < 0.5 * losses[0], "losses {losses:?}");
}
