//! Run a custom burn network over a scene with the tiled inference engine and stream its output into a COG.
//!
//! The network is a `#[derive(Module)]` struct holding one 1×1 convolution with fixed weights: per pixel it
//! computes two band combinations of a B02, B03, B04, B08 stack, the difference vegetation index
//! `DVI = B08 − B04` and the mean brightness `(B02 + B03 + B04 + B08) / 4`. Implementing
//! [`eoforge_engine::ImageNetwork`] for it and wrapping it in [`BurnModel`] on burn's Flex CPU backend makes it an
//! engine model: [`eoforge_engine::run`] reads the scene in overlapping windows, batches them through the
//! network, blends the overlaps with a Hann window and streams finished tiles into the COG at DEST (Float32, NaN
//! where any input band is nodata). The run's [`eoforge_engine::EngineProfile`] is printed: windows per second and
//! the busy seconds of each stage, the largest being the one that limits the run.
//!
//! SCENE is a path, `file://` or `s3://` URL of a 4-band stack, such as the fixture scene's bands stacked with
//! `F=../shared/fixtures/s2-l2a-29RKH; gdalbuildvrt -separate stack.vrt $F/B02.tif $F/B03.tif $F/B04.tif $F/B08.tif`.
//!
//! `cargo run -p eoforge-examples --example tiled_inference -- stack.vrt combination.tif`
#![allow(clippy::print_stdout)] // an example's output is its point

use std::path::Path;

use anyhow::Context;
use burn::backend::Flex;
use burn::backend::flex::FlexDevice;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use eoforge_engine::{Blend, BurnModel, EngineOptions, ImageNetwork, run};
use eoforge_raster::{CogWriterOptions, DataType, Raster};
use eoforge_storage::StoreOptions;

/// Input bands: B02, B03, B04, B08.
const IN: usize = 4;
/// Output bands and their names.
const OUT: [&str; 2] = ["DVI (B08 - B04)", "brightness (mean of B02, B03, B04, B08)"];

/// Output band `o` is `Σ_i WEIGHTS[o][i] · input_i`.
const WEIGHTS: [[f32; IN]; OUT.len()] = [[0.0, 0.0, -1.0, 1.0], [0.25, 0.25, 0.25, 0.25]];

/// A per-pixel linear band combination: a 1×1 convolution with fixed weights and no bias.
#[derive(Module, Debug)]
struct BandCombination<B: Backend> {
    conv: Conv2d<B>,
}

impl<B: Backend> BandCombination<B> {
    fn new(device: &B::Device) -> Self {
        let mut conv = Conv2dConfig::new([IN, OUT.len()], [1, 1]).with_bias(false).init::<B>(device);
        let weights: Vec<f32> = WEIGHTS.iter().flatten().copied().collect();
        conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weights, [OUT.len(), IN, 1, 1]), device));
        Self { conv }
    }
}

impl<B: Backend> ImageNetwork<B> for BandCombination<B> {
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        self.conv.forward(input)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [scene, dest] = args.as_slice() else {
        anyhow::bail!("usage: tiled_inference SCENE DEST");
    };
    let dest = Path::new(dest);
    let store = StoreOptions::from_env();
    let bands = Raster::open_with(scene, &store).with_context(|| format!("opening {scene}"))?.band_count();
    anyhow::ensure!(bands == IN, "{scene} has {bands} bands; the network takes {IN} (B02, B03, B04, B08)");

    let device = FlexDevice;
    let mut model = BurnModel::<Flex, _>::new(BandCombination::<Flex>::new(&device), device, OUT.len(), 1);
    let options = EngineOptions {
        window: 128,
        halo: 16,
        blend: Blend::Hann,
        out_dtype: DataType::Float32,
        out_nodata: Some(f64::NAN),
        out_band_descriptions: OUT.iter().map(|name| (*name).to_owned()).collect(),
        cog: CogWriterOptions::default(),
        store,
        ..EngineOptions::default()
    };
    let profile =
        run(scene, dest, &mut model, &options).with_context(|| format!("running the network over {scene}"))?;

    let (width, height, out_bands) = profile.output;
    println!("wrote {} ({width}x{height}, {out_bands} bands: {})", dest.display(), OUT.join(", "));
    println!(
        "{} windows of {} px (halo {}) in {} batches of {}: {:.1} windows/s, {:.2} s in all, peak memory {:.0} MiB",
        profile.windows,
        options.window,
        options.halo,
        profile.batches,
        profile.batch_size,
        profile.windows_per_s,
        profile.total_s,
        profile.peak_rss_mib
    );
    for (stage, seconds) in &profile.busy_s.0 {
        println!("  {stage:<13} busy {seconds:.3} s");
    }
    if let Some((stage, _)) = profile.busy_s.0.iter().max_by(|a, b| a.1.total_cmp(b.1)) {
        println!("limiting stage: {stage}");
    }
    Ok(())
}
