//! NumPy `.npy` (format 1.0) encoding of ndarray arrays, little-endian, C order.

use ndarray::{ArrayD, ArrayViewD};

/// Element types with a NumPy dtype.
pub trait NpyElement: Copy + 'static {
    /// NumPy `descr`, e.g. `<u2`.
    const DESCR: &'static str;
    /// NumPy dtype name, e.g. `uint16`.
    const DTYPE: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn put_le(self, out: &mut Vec<u8>);
    /// Writes the little-endian bytes of `self` into `out` (exactly its size).
    fn write_le(&self, out: &mut [u8]);
    /// Reads a value from little-endian bytes.
    fn get_le(bytes: &[u8]) -> Self;
}

macro_rules! npy_element {
    ($t:ty, $descr:literal, $dtype:literal) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $descr;
            const DTYPE: &'static str = $dtype;
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn write_le(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn get_le(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                raw.copy_from_slice(&bytes[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(raw)
            }
        }
    };
}
npy_element!(i8, "|i1", "int8");
npy_element!(u8, "|u1", "uint8");
npy_element!(u16, "<u2", "uint16");
npy_element!(i16, "<i2", "int16");
npy_element!(half::f16, "<f2", "float16");
npy_element!(f32, "<f4", "float32");

/// The array's elements as little-endian bytes in C (row-major) order.
pub fn raw_le_bytes<T: NpyElement>(array: &ArrayViewD<'_, T>) -> Vec<u8> {
    let size = std::mem::size_of::<T>();
    let mut out = vec![0u8; array.len() * size];
    match array.as_slice() {
        // Contiguous arrays (all of ours): fixed-size chunks the compiler turns into a plain copy.
        Some(values) => out.chunks_exact_mut(size).zip(values).for_each(|(o, v)| v.write_le(o)),
        None => out.chunks_exact_mut(size).zip(array.iter()).for_each(|(o, v)| v.write_le(o)),
    }
    out
}

/// The `.npy` header for an array of `descr` elements and `shape` (the data follows it).
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape = match shape {
        [] => "()".to_owned(),
        [n] => format!("({n},)"),
        dims => format!("({})", dims.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + header length (2) + header, padded with spaces and a newline to 64 bytes.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Encodes an array as a `.npy` file.
pub fn to_npy<T: NpyElement>(array: &ArrayViewD<'_, T>) -> Vec<u8> {
    let mut out = npy_header(T::DESCR, array.shape());
    out.extend(raw_le_bytes(array));
    out
}

/// Decodes a `.npy` file written by [`to_npy`] (or NumPy, C order, matching dtype); `None` if it is not one.
pub fn from_npy<T: NpyElement>(bytes: &[u8]) -> Option<ArrayD<T>> {
    if bytes.len() < 10 || &bytes[..8] != b"\x93NUMPY\x01\x00" {
        return None;
    }
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + len)?).ok()?;
    if !header.contains(&format!("'descr': '{}'", T::DESCR)) || !header.contains("'fortran_order': False") {
        return None;
    }
    let shape_text = header.split("'shape': (").nth(1)?.split(')').next()?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    let data = &bytes[10 + len..];
    let size = std::mem::size_of::<T>();
    let count: usize = shape.iter().product();
    if data.len() != count * size {
        return None;
    }
    let values: Vec<T> = data.chunks_exact(size).map(T::get_le).collect();
    ArrayD::from_shape_vec(shape, values).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn header_is_aligned_and_round_trips() {
        let a = Array3::<u16>::from_shape_fn((12, 5, 7), |(b, r, c)| (b * 100 + r * 10 + c) as u16).into_dyn();
        let bytes = to_npy(&a.view());
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert!(std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii").contains("'shape': (12, 5, 7)"));
        assert_eq!(from_npy::<u16>(&bytes).expect("decode"), a);
        assert!(from_npy::<f32>(&bytes).is_none(), "dtype is checked");
        let v = ndarray::arr1(&[1u8, 0, 1]).into_dyn();
        let bytes = to_npy(&v.view());
        assert!(
            String::from_utf8_lossy(&bytes[..64]).contains("'descr': '|u1', 'fortran_order': False, 'shape': (3,)")
        );
        assert_eq!(from_npy::<u8>(&bytes).expect("decode"), v);
    }
}
