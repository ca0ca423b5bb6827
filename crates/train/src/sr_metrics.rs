//! Super-resolution training pairs and scores: the degradation operator that makes a low-resolution input from a
//! high-resolution window ([`degrade_area`]), and PSNR and SSIM per band ([`psnr`], [`ssim`]), computed as
//! scikit-image computes them (`peak_signal_noise_ratio`; `structural_similarity` with a Gaussian window of σ 1.5,
//! K1 0.01, K2 0.03, population covariances, the mean over the valid region), so numbers compare with the
//! literature and with Python tooling.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, s};

/// The documented degradation: each `scale × scale` block of the high-resolution bands becomes one pixel, their
/// mean (area averaging, what a sensor with `scale` times larger pixels records, without its blur or noise).
/// `hr` is `(bands, h, w)` with `h` and `w` multiples of `scale`.
#[allow(clippy::needless_pass_by_value)] // array views are passed by value, like slices
pub fn degrade_area(hr: ArrayView3<'_, f32>, scale: usize) -> Result<Array3<f32>, String> {
    let (bands, h, w) = hr.dim();
    if scale == 0 || h % scale != 0 || w % scale != 0 {
        return Err(format!("a {h}x{w} window cannot be reduced by {scale}: its sides must be multiples of the scale"));
    }
    let area = (scale * scale) as f64;
    Ok(Array3::from_shape_fn((bands, h / scale, w / scale), |(b, y, x)| {
        let block = hr.slice(s![b, y * scale..(y + 1) * scale, x * scale..(x + 1) * scale]);
        (block.iter().map(|&v| f64::from(v)).sum::<f64>() / area) as f32
    }))
}

/// Peak signal-to-noise ratio in dB of `test` against `reference` for values spanning `data_range`
/// (`10·log10(range² / MSE)`; infinite for identical images).
#[allow(clippy::needless_pass_by_value)] // array views are passed by value, like slices
pub fn psnr(reference: ArrayView2<'_, f32>, test: ArrayView2<'_, f32>, data_range: f64) -> f64 {
    let n = reference.len().max(1) as f64;
    let mse = reference.iter().zip(test).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>() / n;
    10.0 * (data_range * data_range / mse).log10()
}

/// Mean structural similarity of `test` against `reference` (both at least 11 × 11) for values spanning
/// `data_range`: local means, variances and covariance under an 11-tap Gaussian window (σ 1.5), averaged over the
/// pixels where the window fits, as `skimage.metrics.structural_similarity(…, gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False, data_range=…)`.
#[allow(clippy::needless_pass_by_value)] // array views are passed by value, like slices
pub fn ssim(reference: ArrayView2<'_, f32>, test: ArrayView2<'_, f32>, data_range: f64) -> f64 {
    const RADIUS: usize = 5; // truncate = 3.5 σ, as scikit-image: int(3.5 · 1.5 + 0.5) = 5
    let (h, w) = reference.dim();
    if h <= 2 * RADIUS || w <= 2 * RADIUS || test.dim() != (h, w) {
        return f64::NAN;
    }
    let kernel: Vec<f64> = {
        let k: Vec<f64> =
            (0..=2 * RADIUS).map(|i| (-((i as f64 - RADIUS as f64).powi(2)) / (2.0 * 1.5 * 1.5)).exp()).collect();
        let sum: f64 = k.iter().sum();
        k.into_iter().map(|v| v / sum).collect()
    };
    let x = reference.mapv(f64::from);
    let y = test.mapv(f64::from);
    let filter = |img: &Array2<f64>| gaussian(img, &kernel);
    let (mx, my) = (filter(&x), filter(&y));
    let (mxx, myy, mxy) = (filter(&(&x * &x)), filter(&(&y * &y)), filter(&(&x * &y)));
    let (c1, c2) = ((0.01 * data_range).powi(2), (0.03 * data_range).powi(2));
    let mut sum = 0.0;
    let mut count = 0usize;
    for r in RADIUS..h - RADIUS {
        for c in RADIUS..w - RADIUS {
            let (ux, uy) = (mx[[r, c]], my[[r, c]]);
            let (vx, vy, vxy) = (mxx[[r, c]] - ux * ux, myy[[r, c]] - uy * uy, mxy[[r, c]] - ux * uy);
            sum += ((2.0 * ux * uy + c1) * (2.0 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    sum / count as f64
}

/// Separable Gaussian filter with mirrored edges (only interior values are used by [`ssim`]).
fn gaussian(img: &Array2<f64>, kernel: &[f64]) -> Array2<f64> {
    let (h, w) = img.dim();
    let radius = kernel.len() / 2;
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let rows = Array2::from_shape_fn((h, w), |(r, c)| {
        kernel
            .iter()
            .enumerate()
            .map(|(k, wt)| wt * img[[r, clamp(c as isize + k as isize - radius as isize, w)]])
            .sum::<f64>()
    });
    Array2::from_shape_fn((h, w), |(r, c)| {
        kernel
            .iter()
            .enumerate()
            .map(|(k, wt)| wt * rows[[clamp(r as isize + k as isize - radius as isize, h), c]])
            .sum::<f64>()
    })
}

/// PSNR and SSIM per band of a super-resolved image and of the bicubic baseline, against the reference.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SrScores {
    /// PSNR of the model per band (dB).
    pub psnr: Vec<f64>,
    /// SSIM of the model per band.
    pub ssim: Vec<f64>,
    /// PSNR of bicubic upsampling per band (dB).
    pub bicubic_psnr: Vec<f64>,
    /// SSIM of bicubic upsampling per band.
    pub bicubic_ssim: Vec<f64>,
}

impl SrScores {
    /// Scores `(bands, h, w)` images: the model's output and bicubic's against the reference.
    #[allow(clippy::needless_pass_by_value)] // array views are passed by value, like slices
    pub fn new(
        reference: ArrayView3<'_, f32>,
        model: ArrayView3<'_, f32>,
        bicubic: ArrayView3<'_, f32>,
        data_range: f64,
    ) -> Self {
        let mut scores = Self::default();
        for b in 0..reference.dim().0 {
            let r = reference.index_axis(ndarray::Axis(0), b);
            let m = model.index_axis(ndarray::Axis(0), b);
            let c = bicubic.index_axis(ndarray::Axis(0), b);
            scores.psnr.push(psnr(r, m, data_range));
            scores.ssim.push(ssim(r, m, data_range));
            scores.bicubic_psnr.push(psnr(r, c, data_range));
            scores.bicubic_ssim.push(ssim(r, c, data_range));
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn area_degradation_averages_blocks_and_refuses_ragged_sides() {
        let hr = Array3::from_shape_fn((1, 4, 6), |(_, y, x)| (y * 6 + x) as f32);
        let lr = degrade_area(hr.view(), 2).expect("divisible");
        assert_eq!(lr.dim(), (1, 2, 3));
        assert!((lr[[0, 0, 0]] - (0.0 + 1.0 + 6.0 + 7.0) / 4.0).abs() < 1e-6);
        assert!((lr[[0, 1, 2]] - (16.0 + 17.0 + 22.0 + 23.0) / 4.0).abs() < 1e-6);
        assert!(degrade_area(hr.view(), 4).expect_err("6 is not a multiple of 4").contains("4x6"));
    }

    #[test]
    fn identical_images_score_infinite_psnr_and_unit_ssim() {
        let a = Array2::from_shape_fn((16, 20), |(y, x)| ((y * 7 + x * 3) % 11) as f32);
        assert!(psnr(a.view(), a.view(), 10.0).is_infinite());
        assert!((ssim(a.view(), a.view(), 10.0) - 1.0).abs() < 1e-12);
        let b = a.mapv(|v| v + 1.0);
        assert!((psnr(a.view(), b.view(), 10.0) - 20.0).abs() < 1e-9); // MSE 1, range 10
        assert!(ssim(a.view(), b.view(), 10.0) < 1.0);
        assert!(ssim(a.view(), a.slice(s![..10, ..10]), 10.0).is_nan());
    }
}
