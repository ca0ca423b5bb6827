//! A burn network (3×3 convolution, then nearest ×scale) on the Flex CPU backend runs through the engine over a
//! real 29RKH crop at 1× and 10× and gives what the same arithmetic gives in plain ndarray: bands, rows and
//! columns reach the network and come back in their places, and the engine's blending is unchanged.

mod common;

use std::path::Path;

use common::scene;

use burn::backend::Flex;
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Tensor, TensorData};
use eoforge_engine::{Blend, BurnModel, EngineOptions, FnModel, ImageNetwork, run};
use eoforge_raster::{CogWriterOptions, Compression, DataType, Raster, Window};
use ndarray::Array4;

const IN: usize = 4;
const OUT: usize = 2;

/// Seeded weights `[OUT, IN, 3, 3]` and biases `[OUT]`, asymmetric so a swapped axis changes the result.
fn weights() -> (Vec<f32>, Vec<f32>) {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let w = (0..OUT * IN * 9).map(|_| next() * 0.2).collect();
    let b = (0..OUT).map(|_| next() * 100.0).collect();
    (w, b)
}

/// The network under test: a plain burn convolution followed by nearest upsampling.
struct ConvUpsample<B: Backend> {
    conv: Conv2d<B>,
    scale: usize,
}

impl<B: Backend> ConvUpsample<B> {
    fn new(device: &B::Device, scale: usize) -> Self {
        let (w, b) = weights();
        let mut conv = Conv2dConfig::new([IN, OUT], [3, 3]).with_padding(PaddingConfig2d::Same).init::<B>(device);
        conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [OUT, IN, 3, 3]), device));
        conv.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [OUT]), device)));
        Self { conv, scale }
    }
}

impl<B: Backend> ImageNetwork<B> for ConvUpsample<B> {
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = self.conv.forward(input);
        if self.scale == 1 {
            return x;
        }
        let [_, _, h, w] = x.dims();
        interpolate(x, [h * self.scale, w * self.scale], InterpolateOptions::new(InterpolateMode::Nearest))
    }
}

/// The same arithmetic in ndarray: zero-padded 3×3 correlation, bias, nearest ×scale.
fn reference(scale: usize) -> impl FnMut(Array4<f32>) -> Result<Array4<f32>, eoforge_engine::ModelError> {
    let (w, b) = weights();
    move |x: Array4<f32>| {
        let (n, _, h, wd) = x.dim();
        let mut conv = Array4::<f32>::zeros((n, OUT, h, wd));
        for ((i, o, y, z), v) in conv.indexed_iter_mut() {
            let mut sum = b[o];
            for c in 0..IN {
                for dy in 0..3 {
                    for dz in 0..3 {
                        let (sy, sz) = ((y + dy).checked_sub(1), (z + dz).checked_sub(1));
                        if let (Some(sy), Some(sz)) = (sy, sz)
                            && sy < h
                            && sz < wd
                        {
                            sum += w[((o * IN + c) * 3 + dy) * 3 + dz] * x[[i, c, sy, sz]];
                        }
                    }
                }
            }
            *v = sum;
        }
        Ok(Array4::from_shape_fn((n, OUT, h * scale, wd * scale), |(i, o, y, z)| conv[[i, o, y / scale, z / scale]]))
    }
}

fn read(path: &Path) -> ndarray::Array3<f32> {
    let r = Raster::open(&path.display().to_string()).expect("open");
    r.read_window::<f32>(Window::full(r.width(), r.height()), None).expect("read")
}

#[test]
fn a_burn_network_runs_at_1x_and_10x_like_the_same_arithmetic_in_ndarray() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((input, _)) = scene(dir.path()) else { return };
    let input = input.display().to_string();
    let device = burn::backend::flex::FlexDevice;
    for (scale, crop, window, halo) in
        [(1, Window::new(300, 500, 300, 200), 64, 8), (10, Window::new(610, 220, 70, 50), 32, 4)]
    {
        let opts = EngineOptions {
            window,
            halo,
            crop: Some(crop),
            blend: Blend::Hann,
            out_dtype: DataType::Float32,
            cog: CogWriterOptions { compression: Compression::Zstd { level: 1 }, ..CogWriterOptions::default() },
            ..EngineOptions::default()
        };
        let with_burn = dir.path().join(format!("burn-{scale}.tif"));
        let mut model = BurnModel::<Flex, _>::new(ConvUpsample::<Flex>::new(&device, scale), device, OUT, scale);
        let profile = run(&input, &with_burn, &mut model, &opts).expect("burn run");
        assert_eq!(profile.output, (crop.width * scale, crop.height * scale, OUT), "{profile:?}");
        assert!(profile.windows > 4, "several overlapping windows: {profile:?}");

        let with_ndarray = dir.path().join(format!("ndarray-{scale}.tif"));
        run(&input, &with_ndarray, &mut FnModel::new(OUT, scale, reference(scale)), &opts).expect("reference run");
        let (got, want) = (read(&with_burn), read(&with_ndarray));
        assert_eq!(got.dim(), want.dim());
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "scale {scale}: burn and ndarray differ by {worst}");
        let spread = want.iter().fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        assert!(spread.1 - spread.0 > 100.0, "the comparison is over real, varied values: {spread:?}");
        let (ok, text) = eoforge_testkit::gdal_cog_validator(&with_burn);
        assert!(ok && !text.contains("warnings were found"), "{text}");
    }
}

#[test]
fn a_burn_network_with_the_wrong_output_is_refused_and_nothing_is_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((input, _)) = scene(dir.path()) else { return };
    let device = burn::backend::flex::FlexDevice;
    // The network upsamples 10× but claims 1×: the engine must refuse its output shape.
    let mut model = BurnModel::<Flex, _>::new(ConvUpsample::<Flex>::new(&device, 10), device, OUT, 1);
    let out = dir.path().join("wrong.tif");
    let opts = EngineOptions { window: 32, halo: 4, crop: Some(Window::new(0, 0, 64, 64)), ..EngineOptions::default() };
    let err = run(&input.display().to_string(), &out, &mut model, &opts).expect_err("a wrong shape must fail");
    let text = eoforge_cli::error_chain(&err);
    assert!(text.contains("returned (9, 2, 320, 320), expected (9, 2, 32, 32)"), "{text}");
    assert!(!out.exists(), "nothing published");

    // Three bands into a network built for four: burn panics inside the model; the run fails with the reason.
    let mut model = BurnModel::<Flex, _>::new(ConvUpsample::<Flex>::new(&device, 1), device, OUT, 1);
    let opts = EngineOptions { bands: Some(vec![1, 2, 3]), ..opts };
    let err = run(&input.display().to_string(), &out, &mut model, &opts).expect_err("wrong band count must fail");
    let text = eoforge_cli::error_chain(&err);
    assert!(text.contains("panicked on a") && text.contains("x3x"), "{text}");
    assert!(!out.exists(), "nothing published");
}
