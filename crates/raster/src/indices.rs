//! Spectral indices shared by every stage that computes them (derived maps, index-derived labels, area features),
//! so a zero denominator or a nodata pixel means the same thing everywhere.

/// `(a − b) / (a + b)`, the normalised difference (NDVI = nd(NIR, red), NDWI = nd(green, NIR)); NaN where the
/// denominator is zero or an input is not finite.
pub fn normalized_difference(a: f64, b: f64) -> f32 {
    let den = a + b;
    if !a.is_finite() || !b.is_finite() || den.abs() < 1e-12 { f32::NAN } else { ((a - b) / den) as f32 }
}

/// The enhanced vegetation index on reflectances, `2.5 (NIR − red) / (NIR + 6 red − 7.5 blue + 1)`; NaN where the
/// denominator is zero or an input is not finite.
pub fn enhanced_vegetation_index(blue: f64, red: f64, nir: f64) -> f32 {
    let (num, den) = (2.5 * (nir - red), nir + 6.0 * red - 7.5 * blue + 1.0);
    if !(num.is_finite() && den.is_finite()) || den.abs() < 1e-12 { f32::NAN } else { (num / den) as f32 }
}

#[cfg(test)]
mod tests {
    use super::{enhanced_vegetation_index, normalized_difference};

    #[test]
    fn normalized_difference_is_nan_where_undefined() {
        assert!((normalized_difference(3.0, 1.0) - 0.5).abs() < 1e-7);
        assert!((normalized_difference(0.0, 2.0) + 1.0).abs() < 1e-7);
        assert!(normalized_difference(0.0, 0.0).is_nan());
        assert!(normalized_difference(1.0, -1.0).is_nan());
        assert!(normalized_difference(f64::NAN, 1.0).is_nan());
    }

    #[test]
    fn evi_on_reflectances() {
        // Dense vegetation: blue 0.04, red 0.05, NIR 0.4 → 2.5 · 0.35 / (0.4 + 0.3 − 0.3 + 1) = 0.625.
        assert!((enhanced_vegetation_index(0.04, 0.05, 0.4) - 0.625).abs() < 1e-6);
        assert!(enhanced_vegetation_index(0.0, 0.0, -1.0).is_nan());
        assert!(enhanced_vegetation_index(f64::NAN, 0.1, 0.2).is_nan());
    }
}
