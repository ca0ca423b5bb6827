//! The engine on the real 29RKH scene: identity at 1× reproduces the input exactly, a 10× upsampling model
//! gives the upsampled scene with 10× finer georeferencing, outputs validate as COGs and are deterministic.

mod common;

use std::path::Path;

use common::scene;

use eoforge_engine::{Blend, EngineOptions, FnModel, run};
use eoforge_raster::{CogWriterOptions, Compression, DataType, Raster, Window};
use ndarray::Array4;

/// The defaults (128 px windows, 16 px halo, Hann), UInt16 out, ZSTD 1.
fn options() -> EngineOptions {
    EngineOptions {
        out_dtype: DataType::UInt16,
        cog: CogWriterOptions { compression: Compression::Zstd { level: 1 }, ..CogWriterOptions::default() },
        ..EngineOptions::default()
    }
}

#[test]
fn identity_at_1x_reproduces_the_scene_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((input, data)) = scene(dir.path()) else { return };
    for blend in [Blend::Hann, Blend::Center] {
        let out = dir.path().join(format!("identity-{blend:?}.tif"));
        let mut model = FnModel::new(4, 1, Ok);
        let profile =
            run(&input.display().to_string(), &out, &mut model, &EngineOptions { blend, ..options() }).expect("run");
        assert_eq!(profile.output, (1098, 1098, 4));
        assert!(profile.windows >= 100 && profile.busy_s.0.len() == 3, "{profile:?}");
        let back = Raster::open(&out.display().to_string()).expect("open");
        assert_eq!(back.read_window::<u16>(Window::full(1098, 1098), None).expect("read"), data, "{blend:?}");
        assert_eq!(back.geo_transform(), Raster::open(&input.display().to_string()).expect("open").geo_transform());
        let (ok, text) = eoforge_testkit::gdal_cog_validator(&out);
        assert!(ok && !text.contains("warnings were found"), "{text}");
    }
    // Deterministic: the same run gives the same bytes.
    let again = dir.path().join("identity-again.tif");
    run(&input.display().to_string(), &again, &mut FnModel::new(4, 1, Ok), &options()).expect("run");
    assert!(std::fs::read(&again).expect("read") == std::fs::read(dir.path().join("identity-Hann.tif")).expect("read"));
}

#[test]
fn a_10x_model_over_an_aoi_gives_the_upsampled_crop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((input, data)) = scene(dir.path()) else { return };
    let crop = Window::new(300, 500, 150, 90);
    let upsample = |x: Array4<f32>| -> Result<Array4<f32>, eoforge_engine::ModelError> {
        let (n, b, h, w) = x.dim();
        Ok(Array4::from_shape_fn((n, b, h * 10, w * 10), |(i, c, y, z)| x[[i, c, y / 10, z / 10]]))
    };
    let out = dir.path().join("sr.tif");
    let opts = EngineOptions { window: 64, halo: 8, crop: Some(crop), ..options() };
    let profile = run(&input.display().to_string(), &out, &mut FnModel::new(4, 10, upsample), &opts).expect("run");
    assert_eq!(profile.output, (1500, 900, 4));
    let back = Raster::open(&out.display().to_string()).expect("open");
    let got = back.read_window::<u16>(Window::full(1500, 900), None).expect("read");
    for (b, y, x) in [(0, 0, 0), (2, 455, 777), (3, 899, 1499), (1, 123, 1400)] {
        assert_eq!(got[[b, y, x]], data[[b, crop.row + y / 10, crop.col + x / 10]], "pixel {b},{y},{x}");
    }
    let gt = back.geo_transform().expect("gt");
    assert_eq!(gt.pixel_size(), (10.0, 10.0));
    assert_eq!((gt.0[0], gt.0[3]), (199_980.0 + 300.0 * 100.0, 2_800_020.0 - 500.0 * 100.0));
    assert!(eoforge_raster::check_cog(&out).expect("check").is_valid());
}

/// A model whose output depends on the whole window (each band's window mean plus a fraction of the pixel), so
/// overlapping windows disagree and the blend weights decide every seam pixel.
fn window_dependent(scale: usize) -> impl FnMut(Array4<f32>) -> Result<Array4<f32>, eoforge_engine::ModelError> {
    move |x: Array4<f32>| {
        let (n, b, h, w) = x.dim();
        let means: Vec<f32> = x
            .outer_iter()
            .flat_map(|win| win.outer_iter().map(|p| p.mean().unwrap_or(0.0)).collect::<Vec<_>>())
            .collect();
        Ok(Array4::from_shape_fn((n, b, h * scale, w * scale), |(i, c, y, z)| {
            means[i * b + c] + 0.25 * x[[i, c, y / scale, z / scale]]
        }))
    }
}

#[test]
fn column_stripes_give_the_same_bytes_as_the_whole_width() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((input, _)) = scene(dir.path()) else { return };
    let input = input.display().to_string();
    for (scale, crop, window, halo) in [(1, None, 128, 16), (10, Some(Window::new(200, 300, 260, 70)), 48, 8)] {
        let opts = EngineOptions { window, halo, crop, out_dtype: DataType::Float32, ..options() };
        let whole = dir.path().join(format!("whole-{scale}.tif"));
        let p1 = run(&input, &whole, &mut FnModel::new(4, scale, window_dependent(scale)), &opts).expect("whole");
        assert_eq!(p1.stripes, 1, "{p1:?}");
        // 1 MiB of accumulators forces stripes of one or two 512 px tiles.
        let striped = dir.path().join(format!("striped-{scale}.tif"));
        let narrow = EngineOptions { stitch_memory_mib: 1, ..opts.clone() };
        let p2 = run(&input, &striped, &mut FnModel::new(4, scale, window_dependent(scale)), &narrow).expect("striped");
        assert!(p2.stripes >= 3 && p2.windows > p1.windows, "{p2:?}");
        let read = |p: &Path| {
            let r = Raster::open(&p.display().to_string()).expect("open");
            r.read_window::<f32>(Window::full(r.width(), r.height()), None).expect("read")
        };
        let (a, b) = (read(&whole), read(&striped));
        assert!(a.iter().all(|v| v.is_finite() && *v > 0.0), "every pixel written");
        assert!(a == b, "scale {scale}: striped output differs");
        assert!(eoforge_raster::check_cog(&striped).expect("check").is_valid());
    }
}

#[test]
fn unsafe_batches_and_broken_models_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((input, _)) = scene(dir.path()) else { return };
    let out = dir.path().join("x.tif");
    let err = run(
        &input.display().to_string(),
        &out,
        &mut FnModel::new(5, 10, Ok),
        &EngineOptions { window: 512, batch: 200, ..options() },
    )
    .expect_err("too big");
    assert!(err.to_string().contains("2^31"), "{err}");
    let err = run(
        &input.display().to_string(),
        &out,
        &mut FnModel::new(4, 1, |x: Array4<f32>| Ok(x.slice_move(ndarray::s![.., 0..2, .., ..]))),
        &options(),
    )
    .expect_err("wrong shape");
    assert!(eoforge_cli::error_chain(&err).contains("expected"), "{err}");
    let err = run(
        &input.display().to_string(),
        &out,
        &mut FnModel::new(4, 1, |_| Err("CUDA out of memory".into())),
        &options(),
    )
    .expect_err("model error");
    assert!(eoforge_cli::error_chain(&err).contains("CUDA out of memory"), "{err}");
    let names = vec!["red".to_owned(), "nir".to_owned()];
    let opts = EngineOptions { out_band_descriptions: names, ..options() };
    let err = run(&input.display().to_string(), &out, &mut FnModel::new(4, 1, Ok), &opts).expect_err("names");
    assert!(err.to_string().contains("2 output band descriptions for 4 output bands"), "{err}");
    assert!(!out.exists(), "nothing published after a failed run");
}
