//! Pixel types eoforge reads and writes, and the conversions it allows.

use gdal::raster::{GdalDataType, GdalType};

/// A band data type eoforge reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DataType {
    /// Unsigned 8-bit.
    UInt8,
    /// Unsigned 16-bit.
    UInt16,
    /// Signed 16-bit.
    Int16,
    /// 32-bit float.
    Float32,
}

impl DataType {
    /// GDAL's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::UInt8 => "UInt8",
            Self::UInt16 => "UInt16",
            Self::Int16 => "Int16",
            Self::Float32 => "Float32",
        }
    }

    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            Self::UInt8 => 1,
            Self::UInt16 | Self::Int16 => 2,
            Self::Float32 => 4,
        }
    }

    /// The supported type matching a GDAL type, if any.
    pub fn from_gdal(t: GdalDataType) -> Option<Self> {
        match t {
            GdalDataType::UInt8 => Some(Self::UInt8),
            GdalDataType::UInt16 => Some(Self::UInt16),
            GdalDataType::Int16 => Some(Self::Int16),
            GdalDataType::Float32 => Some(Self::Float32),
            _ => None,
        }
    }

    /// Whether every value of `self` is exactly representable in `target`.
    pub fn fits_in(self, target: DataType) -> bool {
        use DataType::{Float32, Int16, UInt8, UInt16};
        matches!(
            (self, target),
            (UInt8, _) | (UInt16, UInt16 | Float32) | (Int16, Int16 | Float32) | (Float32, Float32)
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
    impl Sealed for f32 {}
}

/// An element type of the arrays eoforge reads and writes: `u8`, `u16`, `i16` or `f32`.
pub trait Pixel:
    GdalType + Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static + sealed::Sealed
{
    /// The matching band data type.
    const DTYPE: DataType;
    /// The value as f64 (for statistics and nodata comparisons).
    fn to_f64(self) -> f64;
    /// The nearest value of this type (rounded and saturated for integers).
    fn from_f64(v: f64) -> Self;
    /// Appends the little-endian bytes.
    fn put_le(self, out: &mut Vec<u8>);
    /// `self - other`, wrapping for integers (TIFF horizontal predictor).
    fn wrapping_delta(self, other: Self) -> Self;
}

impl Pixel for u8 {
    fn from_f64(v: f64) -> Self {
        v.round().clamp(f64::from(u8::MIN), f64::from(u8::MAX)) as u8
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn wrapping_delta(self, other: Self) -> Self {
        self.wrapping_sub(other)
    }
    const DTYPE: DataType = DataType::UInt8;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
impl Pixel for u16 {
    fn from_f64(v: f64) -> Self {
        v.round().clamp(f64::from(u16::MIN), f64::from(u16::MAX)) as u16
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn wrapping_delta(self, other: Self) -> Self {
        self.wrapping_sub(other)
    }
    const DTYPE: DataType = DataType::UInt16;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
impl Pixel for i16 {
    fn from_f64(v: f64) -> Self {
        v.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn wrapping_delta(self, other: Self) -> Self {
        self.wrapping_sub(other)
    }
    const DTYPE: DataType = DataType::Int16;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
impl Pixel for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn wrapping_delta(self, other: Self) -> Self {
        self - other
    }
    const DTYPE: DataType = DataType::Float32;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

#[cfg(test)]
mod tests {
    use super::DataType::*;

    #[test]
    fn lossless_widening_only() {
        assert!(UInt8.fits_in(Float32) && UInt16.fits_in(Float32) && Int16.fits_in(Float32));
        assert!(UInt8.fits_in(UInt16) && UInt8.fits_in(Int16));
        assert!(!UInt16.fits_in(Int16) && !Int16.fits_in(UInt16) && !Float32.fits_in(UInt16));
        assert!(!UInt16.fits_in(UInt8));
    }
}
