//! The ViT encoder against TerraTorch's `PrithviViT` itself: the fixture's weights (under TerraTorch's names), input,
//! temporal and location coordinates, and every block's output from `forward_features`.

use burn::backend::Flex;
use burn::backend::flex::FlexDevice;
use burn::tensor::{Tensor, TensorData};
use eoforge_models::{Coords, LoadOptions, VitConfig, load_safetensors};
use eoforge_testkit::fixture;
use ndarray::ArrayD;

fn npy(path: &std::path::Path) -> ArrayD<f32> {
    eoforge_shards::npy::from_npy::<f32>(&std::fs::read(path).expect("read npy")).expect("decode npy")
}

#[test]
fn every_block_equals_terratorch_prithvi_vit() {
    let Some(dir) = fixture("models/prithvi_tiny") else { return };
    let config: VitConfig =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("config")).expect("TerraTorch config");
    let device = FlexDevice;
    let model = config.init::<Flex>(&device).expect("init");
    let (model, report) =
        load_safetensors(model, &dir.join("weights.safetensors"), &LoadOptions::default()).expect("load");
    assert!(report.missing.is_empty() && report.unused.is_empty(), "{report:?}");
    assert_eq!(report.applied.len(), 32, "every tensor of the checkpoint by its TerraTorch name: {report:?}");

    let input = npy(&dir.join("input.npy"));
    let shape: [usize; 5] = input.shape().try_into().expect("5-d input");
    let x = Tensor::<Flex, 5>::from_data(TensorData::new(input.iter().copied().collect::<Vec<_>>(), shape), &device);
    let pairs = |a: ArrayD<f32>| a.as_slice().expect("contiguous").chunks(2).map(|c| [c[0], c[1]]).collect::<Vec<_>>();
    let coords = Coords {
        temporal: Some(pairs(npy(&dir.join("temporal_coords.npy")))),
        location: Some(pairs(npy(&dir.join("location_coords.npy")))),
    };
    let blocks = model.forward_features(x, &coords).expect("forward");
    assert_eq!(blocks.len(), 2);
    for (i, block) in blocks.into_iter().enumerate() {
        let expected = npy(&dir.join(format!("features_block{i}.npy")));
        assert_eq!(block.dims().to_vec(), expected.shape().to_vec(), "block {i}");
        let got: Vec<f32> = block.into_data().convert::<f32>().to_vec().expect("f32");
        let worst = got.iter().zip(expected.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "block {i}: max |Δ| {worst}");
    }
}

#[test]
fn bad_configs_name_the_field() {
    let config = |extra: &str| -> VitConfig {
        serde_json::from_str(&format!(
            r#"{{"img_size": 32, "patch_size": [1, 8, 8], "num_frames": 3, "in_chans": 6, "embed_dim": 48, "depth": 1, "num_heads": 3{extra}}}"#
        ))
        .expect("json")
    };
    assert!(config("").init::<Flex>(&FlexDevice).is_ok());
    let e = config(r#", "coords_encoding": ["season"]"#).init::<Flex>(&FlexDevice).expect_err("season").to_string();
    assert!(e.contains("coords_encoding"), "{e}");
    let mut heads = config("");
    heads.num_heads = 5;
    assert!(heads.init::<Flex>(&FlexDevice).expect_err("heads").to_string().contains("num_heads"));
}

#[test]
fn the_position_embedding_is_terratorchs_and_other_sizes_run() {
    let Some(dir) = fixture("models/prithvi_tiny") else { return };
    let config: VitConfig =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("config")).expect("TerraTorch config");
    let model = config.init::<Flex>(&FlexDevice).expect("init");
    // Computed at init exactly as TerraTorch's get_3d_sincos_pos_embed (width, height, time parts; zero cls row).
    let bytes = std::fs::read(dir.join("weights.safetensors")).expect("weights");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let stored: Vec<f32> = file
        .tensor("pos_embed")
        .expect("pos_embed")
        .data()
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let ours: Vec<f32> = model.pos_embed.val().into_data().convert::<f32>().to_vec().expect("f32");
    let worst = ours.iter().zip(&stored).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(ours.len() == stored.len() && worst < 1e-6, "max |Δ| {worst}");
    // One frame instead of three: 1 + 16 tokens, the embedding recomputed for the shorter grid.
    let x = Tensor::<Flex, 5>::zeros([1, 6, 1, 32, 32], &FlexDevice);
    let coords = Coords { temporal: Some(vec![[2021.0, 200.0]]), location: Some(vec![[46.0, 7.0]]) };
    let blocks = model.forward_features(x, &coords).expect("one frame");
    assert_eq!(blocks[1].dims(), [1, 17, 48]);
    // Another size: the sin-cos embedding computed for its grid (8 x 6 patches).
    let x = Tensor::<Flex, 5>::zeros([1, 6, 3, 64, 48], &FlexDevice);
    assert_eq!(model.forward_features(x, &Coords::default()).expect("64 x 48")[0].dims(), [1, 1 + 3 * 8 * 6, 48]);
    let wrong = model.forward_features(Tensor::<Flex, 5>::zeros([1, 6, 3, 20, 32], &FlexDevice), &Coords::default());
    assert!(wrong.expect_err("20 rows").to_string().contains("img_size"));
}
