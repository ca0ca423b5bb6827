//! Spectral indices shared by every stage that computes them (derived maps, index-derived labels, area features),
//! so a zero denominator or a nodata pixel means the same thing everywhere.

/// `(a − b) / (a + b)`, the normalised difference (NDVI = nd(NIR, red), NDWI = nd(green, NIR)); NaN where the
/// denominator is zero or an input is not finite.
pub fn normalized_difference(a: f64, b: f64) -> f32 {
    let den = a + b;
    if !a.is_finite() || !b.is_finite() || den.abs() < 1e-12 { f32::NAN } else { ((a - b) / den) as f32 }
}

#[cfg(test)]
mod tests {
    use super::normalized_difference;

    #[test]
    fn normalized_difference_is_nan_where_undefined() {
        assert!((normalized_difference(3.0, 1.0) - 0.5).abs() < 1e-7);
        assert!((normalized_difference(0.0, 2.0) + 1.0).abs() < 1e-7);
        assert!(normalized_difference(0.0, 0.0).is_nan());
        assert!(normalized_difference(1.0, -1.0).is_nan());
        assert!(normalized_difference(f64::NAN, 1.0).is_nan());
    }
}
