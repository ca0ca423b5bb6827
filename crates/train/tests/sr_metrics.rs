//! PSNR and SSIM against scikit-image on real Sentinel-2 bands: a 29RKH window, its area-degraded and
//! nearest-upsampled version, and a noisy copy, scored by eoforge and by `skimage.metrics` on the same arrays.

use std::process::Command;

use eoforge_raster::{Raster, Window};
use eoforge_testkit::{fixture, python_with};
use eoforge_train::{degrade_area, psnr, ssim};
use ndarray::{Array2, Axis};

const SCRIPT: &str = r#"
import json, sys
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
h, w, rng = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
arrays = np.fromfile(sys.argv[1], dtype="<f4").reshape(-1, h, w).astype(np.float64)
ref = arrays[0]
out = []
for test in arrays[1:]:
    out.append([
        peak_signal_noise_ratio(ref, test, data_range=rng),
        structural_similarity(ref, test, data_range=rng, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False),
    ])
print(json.dumps(out))
"#;

#[test]
fn psnr_and_ssim_equal_scikit_image_on_real_bands() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let Some(python) = python_with(&["numpy", "skimage"]) else { return };
    let raster = Raster::open(&b04.display().to_string()).expect("open B04");
    let hr = raster.read_window::<f32>(Window::new(300, 200, 120, 90), None).expect("read");
    let reference = hr.index_axis(Axis(0), 0).to_owned();
    // Area-degraded by 3, then back to the grid by nearest neighbour: a blurred test image.
    let lr = degrade_area(hr.view(), 3).expect("divisible");
    let blurred = Array2::from_shape_fn(reference.dim(), |(y, x)| lr[[0, y / 3, x / 3]]);
    // Seeded noise of a few percent of the band's spread.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noisy = reference.mapv(|v| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        v + ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 80.0
    });
    let range = 10_000.0;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("arrays.f32");
    let bytes: Vec<u8> =
        [&reference, &blurred, &noisy].iter().flat_map(|a| a.iter().flat_map(|v| v.to_le_bytes())).collect();
    std::fs::write(&file, bytes).expect("write arrays");
    let (h, w) = reference.dim();
    let out = Command::new(python)
        .args(["-c", SCRIPT, &file.display().to_string(), &h.to_string(), &w.to_string(), &range.to_string()])
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: Vec<[f64; 2]> = serde_json::from_slice(&out.stdout).expect("JSON");
    for (test, [sk_psnr, sk_ssim]) in [&blurred, &noisy].into_iter().zip(expected) {
        let (p, q) = (psnr(reference.view(), test.view(), range), ssim(reference.view(), test.view(), range));
        assert!((p - sk_psnr).abs() < 1e-6, "PSNR {p} vs scikit-image {sk_psnr}");
        assert!((q - sk_ssim).abs() < 1e-6, "SSIM {q} vs scikit-image {sk_ssim}");
        assert!(q < 0.999 && p > 10.0, "a real difference: PSNR {p}, SSIM {q}");
    }
}
