//! Pixel types eoforge reads and writes, and the conversions it allows.

use gdal::raster::{GdalDataType, GdalType};

/// A band data type eoforge reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DataType {
    /// Signed 8-bit (GDAL before 3.7 stores it as Byte with `PIXELTYPE=SIGNEDBYTE`; read, never written).
    Int8,
    /// Unsigned 8-bit.
    UInt8,
    /// Unsigned 16-bit.
    UInt16,
    /// Signed 16-bit.
    Int16,
    /// Unsigned 32-bit.
    UInt32,
    /// Signed 32-bit.
    Int32,
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
}

impl DataType {
    /// GDAL's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Int8 => "Int8",
            Self::UInt8 => "UInt8",
            Self::UInt16 => "UInt16",
            Self::Int16 => "Int16",
            Self::UInt32 => "UInt32",
            Self::Int32 => "Int32",
            Self::Float32 => "Float32",
            Self::Float64 => "Float64",
        }
    }

    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            Self::Int8 | Self::UInt8 => 1,
            Self::UInt16 | Self::Int16 => 2,
            Self::UInt32 | Self::Int32 | Self::Float32 => 4,
            Self::Float64 => 8,
        }
    }

    /// Whether the type is floating point.
    pub fn is_float(self) -> bool {
        matches!(self, Self::Float32 | Self::Float64)
    }

    /// The smallest and largest value of an integer type (`None` for floats).
    pub fn integer_range(self) -> Option<(f64, f64)> {
        match self {
            Self::Int8 => Some((-128.0, 127.0)),
            Self::UInt8 => Some((0.0, 255.0)),
            Self::UInt16 => Some((0.0, 65_535.0)),
            Self::Int16 => Some((-32_768.0, 32_767.0)),
            Self::UInt32 => Some((0.0, 4_294_967_295.0)),
            Self::Int32 => Some((-2_147_483_648.0, 2_147_483_647.0)),
            Self::Float32 | Self::Float64 => None,
        }
    }

    /// Whether `value` is a value of this type (integers: integral and in range; floats: any value, NaN
    /// included, that the type holds exactly), e.g. whether a nodata value can be stored.
    pub fn holds(self, value: f64) -> bool {
        let (lo, hi) = match self {
            Self::Int8 => (-128.0, 127.0),
            Self::UInt8 => (0.0, 255.0),
            Self::UInt16 => (0.0, 65_535.0),
            Self::Int16 => (-32_768.0, 32_767.0),
            Self::UInt32 => (0.0, 4_294_967_295.0),
            Self::Int32 => (-2_147_483_648.0, 2_147_483_647.0),
            Self::Float32 => return value.is_nan() || f64::from(value as f32).to_bits() == value.to_bits(),
            Self::Float64 => return true,
        };
        value.fract() == 0.0 && (lo..=hi).contains(&value)
    }

    /// Parses GDAL's name (`UInt16`, `float32`, `Byte` …), case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        let all = [
            Self::Int8,
            Self::UInt8,
            Self::UInt16,
            Self::Int16,
            Self::UInt32,
            Self::Int32,
            Self::Float32,
            Self::Float64,
        ];
        if name.eq_ignore_ascii_case("byte") {
            return Some(Self::UInt8);
        }
        all.into_iter().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The supported type matching a GDAL type, if any.
    pub fn from_gdal(t: GdalDataType) -> Option<Self> {
        match t {
            GdalDataType::UInt8 => Some(Self::UInt8),
            GdalDataType::UInt16 => Some(Self::UInt16),
            GdalDataType::Int16 => Some(Self::Int16),
            GdalDataType::UInt32 => Some(Self::UInt32),
            GdalDataType::Int32 => Some(Self::Int32),
            GdalDataType::Float32 => Some(Self::Float32),
            GdalDataType::Float64 => Some(Self::Float64),
            _ => None,
        }
    }

    /// Whether every value of `self` is exactly representable in `target`.
    pub fn fits_in(self, target: DataType) -> bool {
        use DataType::{Float32, Float64, Int8, Int16, Int32, UInt8, UInt16, UInt32};
        matches!(
            (self, target),
            (Int8, Int8 | Int16 | Int32 | Float32 | Float64)
                | (UInt8, UInt8 | UInt16 | Int16 | UInt32 | Int32 | Float32 | Float64)
                | (UInt16, UInt16 | UInt32 | Int32 | Float32 | Float64)
                | (Int16, Int16 | Int32 | Float32 | Float64)
                | (UInt32, UInt32 | Float64)
                | (Int32, Int32 | Float64)
                | (Float32, Float32 | Float64)
                | (Float64, Float64)
        )
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for i16 {}
    impl Sealed for u32 {}
    impl Sealed for i32 {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// An element type of the arrays eoforge reads and writes: `u8`, `u16`, `i16`, `u32`, `i32`, `f32` or `f64`.
pub trait Pixel:
    GdalType + Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static + sealed::Sealed
{
    /// The matching band data type.
    const DTYPE: DataType;
    /// The value as f64 (for statistics and nodata comparisons).
    fn to_f64(self) -> f64;
    /// The value as i64: exact for the integer types, truncated toward zero (saturating) for floats; for
    /// histogram bins without a float round trip.
    fn to_i64(self) -> i64;
    /// The nearest value of this type (rounded and saturated for integers).
    fn from_f64(v: f64) -> Self;
    /// Appends the little-endian bytes.
    fn put_le(self, out: &mut Vec<u8>);
    /// Writes the little-endian bytes into `out` (exactly `DTYPE.size()` bytes).
    fn write_le(self, out: &mut [u8]);
    /// The value whose little-endian bytes start `bytes` (at least `DTYPE.size()` of them).
    fn read_le(bytes: &[u8]) -> Self;
    /// `self - other`, wrapping for integers (TIFF horizontal predictor).
    fn wrapping_delta(self, other: Self) -> Self;
    /// Whether this is a floating-point NaN (always false for integers).
    fn is_nan(self) -> bool;
    /// The mean of four values, as `from_f64` of their f64 mean (rounded half away from zero for integers), without
    /// a division: the overview hot path.
    fn mean4(a: Self, b: Self, c: Self, d: Self) -> Self;
    /// `from_f64` of an f32, branch-free (the stitching hot path): exact because `v ± 0.5` is exact in f64.
    fn from_f32(v: f32) -> Self;
}

/// `v.round()` (half away from zero) without a libm call: the x86-64 baseline has no rounding instruction, and
/// this sits in the per-pixel paths (overviews, stitching). Exact for every f64.
#[inline]
fn round(v: f64) -> f64 {
    if v.is_nan() || v.abs() >= 4_503_599_627_370_496.0 {
        return v; // NaN, or already integral (|v| >= 2^52)
    }
    let t = v as i64 as f64; // toward zero, exact below 2^52
    let fraction = v - t; // exact
    let rounded = if fraction >= 0.5 {
        t + 1.0
    } else if fraction <= -0.5 {
        t - 1.0
    } else {
        t
    };
    rounded.copysign(v) // -0.3 rounds to -0.0, as f64::round does
}

macro_rules! integer_pixel {
    ($t:ty, $dtype:expr) => {
        impl Pixel for $t {
            const DTYPE: DataType = $dtype;
            #[inline]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                i64::from(self)
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                round(v).clamp(f64::from(<$t>::MIN), f64::from(<$t>::MAX)) as $t
            }
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn write_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn read_le(bytes: &[u8]) -> Self {
                let mut le = [0u8; std::mem::size_of::<$t>()];
                le.copy_from_slice(&bytes[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(le)
            }
            #[inline]
            fn wrapping_delta(self, other: Self) -> Self {
                self.wrapping_sub(other)
            }
            #[inline]
            fn is_nan(self) -> bool {
                false
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                let v = f64::from(v);
                // Truncating `v ± 0.5` rounds half away from zero; NaN becomes 0, as in `from_f64`.
                (v + 0.5f64.copysign(v)).clamp(f64::from(<$t>::MIN), f64::from(<$t>::MAX)) as $t
            }
            #[inline]
            fn mean4(a: Self, b: Self, c: Self, d: Self) -> Self {
                let sum = i64::from(a) + i64::from(b) + i64::from(c) + i64::from(d);
                // |sum| / 4 rounded half up, with the sum's sign: half away from zero, like `round`.
                let magnitude = (sum.abs() + 2) >> 2;
                // The mean of four values of the type lies within the type.
                <$t>::try_from(magnitude * sum.signum()).unwrap_or_default()
            }
        }
    };
}

integer_pixel!(u8, DataType::UInt8);
integer_pixel!(u16, DataType::UInt16);
integer_pixel!(i16, DataType::Int16);
integer_pixel!(u32, DataType::UInt32);
integer_pixel!(i32, DataType::Int32);

/// The float types: conversions through f64 (`from_f64` rounds to nearest for f32), mean of four in f64.
macro_rules! float_pixel {
    ($t:ty, $dtype:expr) => {
        impl Pixel for $t {
            const DTYPE: DataType = $dtype;
            #[inline]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn write_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn read_le(bytes: &[u8]) -> Self {
                let mut le = [0u8; std::mem::size_of::<$t>()];
                le.copy_from_slice(&bytes[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(le)
            }
            #[inline]
            fn wrapping_delta(self, other: Self) -> Self {
                self - other
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                <$t>::from(v)
            }
            #[inline]
            fn mean4(a: Self, b: Self, c: Self, d: Self) -> Self {
                ((f64::from(a) + f64::from(b) + f64::from(c) + f64::from(d)) * 0.25) as $t
            }
        }
    };
}

float_pixel!(f32, DataType::Float32);
float_pixel!(f64, DataType::Float64);

#[cfg(test)]
mod tests {
    use super::DataType::*;

    #[test]
    fn rounding_matches_the_standard_library() {
        let mut values =
            vec![0.5, -0.5, 1.5, -1.5, 2.5, 0.499_999_999_999_999_94, -0.499_999_999_999_999_94, 1e300, -7.25];
        values.extend((0..20_000).map(|i| f64::from(i - 10_000) * 0.137_5 + 1e-9 * f64::from(i % 7)));
        values.extend([4_503_599_627_370_495.5, 4_503_599_627_370_497.0, f64::MAX, f64::MIN_POSITIVE]);
        for v in values {
            assert_eq!(super::round(v).to_bits(), v.round().to_bits(), "{v}");
        }
        assert!(super::round(f64::NAN).is_nan());
    }

    #[test]
    fn mean4_is_the_rounded_f64_mean() {
        use super::Pixel;
        fn check<T: Pixel>(values: &[T]) {
            for (k, w) in values.windows(4).enumerate() {
                let (a, b, c, d) = (w[k % 4], w[(k + 1) % 4], w[(k + 2) % 4], w[3]);
                let sum = a.to_f64() + b.to_f64() + c.to_f64() + d.to_f64();
                assert_eq!(T::mean4(a, b, c, d), T::from_f64(sum / 4.0), "{a:?} {b:?} {c:?} {d:?}");
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let raw: Vec<u64> = (0..40_000).map(|_| next()).collect();
        check(&raw.iter().map(|v| *v as u8).collect::<Vec<_>>());
        check(&raw.iter().map(|v| *v as u16).collect::<Vec<_>>());
        check(&raw.iter().map(|v| *v as i16).collect::<Vec<_>>());
        check(&raw.iter().map(|v| (*v % 7) as i16 - 3).collect::<Vec<_>>()); // many exact halves, both signs
        check(&[u16::MAX, u16::MAX, u16::MAX, u16::MAX, 0, 1, 2, 1]);
        check(&[i16::MIN, i16::MIN, i16::MIN, i16::MIN, i16::MAX, i16::MAX, i16::MAX, i16::MAX, -2, -1]);
        check(&raw.iter().map(|v| (*v as i32) as f32 * 1e-3).collect::<Vec<_>>());
        check(&raw.iter().map(|v| *v as u32).collect::<Vec<_>>());
        check(&raw.iter().map(|v| *v as i32).collect::<Vec<_>>());
        check(&[u32::MAX, u32::MAX, u32::MAX, u32::MAX, i32::MIN as u32, 3, 1, 0]);
        check(&[i32::MIN, i32::MIN, i32::MIN, i32::MIN, i32::MAX, i32::MAX, i32::MAX, i32::MAX, -2, -1]);
    }

    #[test]
    fn from_f32_equals_from_f64() {
        use super::Pixel;
        fn check<T: Pixel>(v: f32) {
            let (fast, exact) = (T::from_f32(v), T::from_f64(f64::from(v)));
            assert!(fast == exact || (fast.is_nan() && exact.is_nan()), "{v}: {fast:?} vs {exact:?}");
        }
        let mut values = vec![0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.499_999_97, -0.499_999_97, 65_535.5, 65_534.5];
        values.extend([-32_768.5, 32_767.5, 255.5, 1e30, -1e30, f32::MAX, f32::MIN, f32::NAN, f32::INFINITY, -0.0]);
        values.extend([f32::NEG_INFINITY, 8_388_607.5, 16_777_215.0, 1e-40, -1e-40]);
        values.extend((0..200_000).map(|i| (i - 100_000) as f32 * 0.25 + (i % 3) as f32 * 0.001));
        values.extend((0..10_000).map(|i| f32::from_bits(0x3f00_0000 + i)));
        for v in values {
            check::<u8>(v);
            check::<u16>(v);
            check::<i16>(v);
            check::<u32>(v);
            check::<i32>(v);
            check::<f32>(v);
            check::<f64>(v);
        }
    }

    #[test]
    fn lossless_widening_only() {
        assert!(UInt8.fits_in(Float32) && UInt16.fits_in(Float32) && Int16.fits_in(Float32));
        assert!(UInt8.fits_in(UInt16) && UInt8.fits_in(Int16));
        assert!(!UInt16.fits_in(Int16) && !Int16.fits_in(UInt16) && !Float32.fits_in(UInt16));
        assert!(!UInt16.fits_in(UInt8));
        assert!(UInt16.fits_in(Int32) && Int16.fits_in(Int32) && UInt16.fits_in(UInt32) && !Int16.fits_in(UInt32));
        assert!(UInt32.fits_in(Float64) && Int32.fits_in(Float64) && Float32.fits_in(Float64));
        assert!(!UInt32.fits_in(Float32) && !Int32.fits_in(Float32) && !Float64.fits_in(Float32));
        assert!(!UInt32.fits_in(Int32) && !Int32.fits_in(UInt32));
    }

    #[test]
    fn holds_says_which_values_a_type_can_store() {
        assert!(UInt16.holds(65_535.0) && !UInt16.holds(70_000.0) && !UInt16.holds(-1.0) && !UInt16.holds(0.5));
        assert!(!UInt8.holds(f64::NAN) && Float32.holds(f64::NAN) && Float32.holds(-9999.0));
        assert!(!Float32.holds(0.1) && Float64.holds(0.1) && Int32.holds(-2_147_483_648.0));
        assert!(!Int32.holds(2_147_483_648.0) && UInt32.holds(4_294_967_295.0));
        assert_eq!(super::DataType::from_name("byte"), Some(UInt8));
        assert_eq!(super::DataType::from_name("FLOAT64"), Some(Float64));
    }
}
