//! Fused sample decoding: little-endian tensor bytes straight into a batch buffer, converted, normalised and
//! flipped/rotated in one pass (no intermediate arrays).

use crate::augment::Dihedral;

/// A tensor element type the shards hold, read from its little-endian bytes.
trait Element {
    const SIZE: usize;
    fn get(b: &[u8]) -> f32;
}

struct U8;
struct I8;
struct U16;
struct F16;
struct I16;
struct F32;

impl Element for U8 {
    const SIZE: usize = 1;
    fn get(b: &[u8]) -> f32 {
        f32::from(b[0])
    }
}

impl Element for I8 {
    const SIZE: usize = 1;
    fn get(b: &[u8]) -> f32 {
        f32::from(i8::from_le_bytes([b[0]]))
    }
}

impl Element for F16 {
    const SIZE: usize = 2;
    fn get(b: &[u8]) -> f32 {
        half::f16::from_le_bytes([b[0], b[1]]).to_f32()
    }
}

impl Element for U16 {
    const SIZE: usize = 2;
    fn get(b: &[u8]) -> f32 {
        f32::from(u16::from_le_bytes([b[0], b[1]]))
    }
}

impl Element for I16 {
    const SIZE: usize = 2;
    fn get(b: &[u8]) -> f32 {
        f32::from(i16::from_le_bytes([b[0], b[1]]))
    }
}

impl Element for F32 {
    const SIZE: usize = 4;
    fn get(b: &[u8]) -> f32 {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// Bytes per element of a NumPy dtype name the loader reads, or `None` for one it does not.
pub(crate) fn element_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "uint8" | "int8" => U8::SIZE,
        "uint16" | "int16" | "float16" => U16::SIZE,
        "float32" => F32::SIZE,
        _ => return None,
    })
}

/// Writes `planes` planes of `h × w` elements of `dtype` from `src` into `out` (the same number of elements), the
/// plane numbered `k` through `f(k, value)`, each plane transformed by `t` (whose transpose is dropped when the
/// planes are not square). `dtype` must be one [`element_size`] knows; `src` and `out` must match the sizes.
pub(crate) fn decode_planes<T: Send>(
    dtype: &str,
    src: &[u8],
    (h, w): (usize, usize),
    t: Dihedral,
    out: &mut [T],
    f: impl Fn(usize, f32) -> T + Copy,
) {
    match dtype {
        "uint8" => planes::<U8, T>(src, (h, w), t, out, f),
        "int8" => planes::<I8, T>(src, (h, w), t, out, f),
        "float16" => planes::<F16, T>(src, (h, w), t, out, f),
        "uint16" => planes::<U16, T>(src, (h, w), t, out, f),
        "int16" => planes::<I16, T>(src, (h, w), t, out, f),
        "float32" => planes::<F32, T>(src, (h, w), t, out, f),
        other => unreachable!("dtype {other} was checked by element_size"),
    }
}

fn planes<E: Element, T>(
    src: &[u8],
    (h, w): (usize, usize),
    transform: Dihedral,
    out: &mut [T],
    f: impl Fn(usize, f32) -> T + Copy,
) {
    let bits = if h == w { transform.0 } else { transform.0 & !1 };
    let (transpose, flip_rows, flip_cols) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
    let plane_bytes = h * w * E::SIZE;
    for (k, (src, out)) in src.chunks_exact(plane_bytes).zip(out.chunks_exact_mut(h * w)).enumerate() {
        let map = |v: f32| f(k, v);
        for (r, row) in out.chunks_exact_mut(w).enumerate() {
            let r1 = if flip_rows { h - 1 - r } else { r };
            if transpose {
                // out[r][c] = in[c1][r1] (square planes): a column of the source.
                for (c, o) in row.iter_mut().enumerate() {
                    let c1 = if flip_cols { w - 1 - c } else { c };
                    let at = (c1 * w + r1) * E::SIZE;
                    *o = map(E::get(&src[at..at + E::SIZE]));
                }
            } else {
                let line = src[r1 * w * E::SIZE..(r1 + 1) * w * E::SIZE].chunks_exact(E::SIZE);
                if flip_cols {
                    row.iter_mut().zip(line.rev()).for_each(|(o, b)| *o = map(E::get(b)));
                } else {
                    row.iter_mut().zip(line).for_each(|(o, b)| *o = map(E::get(b)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// The fused pass equals the straightforward one: convert, normalise, then [`Dihedral::apply3`].
    #[test]
    fn fused_decoding_equals_convert_normalise_transform() {
        for (h, w) in [(5, 5), (3, 4)] {
            let values = Array3::from_shape_fn((2, h, w), |(c, r, k)| (c * 1000 + r * 37 + k * 11) as u16);
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let (mean, std) = ([3.0f32, 500.0], [2.0f32, 7.5]);
            let norm = |k: usize, v: f32| (v - mean[k]) / std[k];
            for n in 0..8 {
                let t = Dihedral::from_index(n);
                let mut out = vec![0f32; values.len()];
                decode_planes("uint16", &bytes, (h, w), t, &mut out, norm);
                let mut want = values.mapv(f32::from);
                for (k, mut plane) in want.axis_iter_mut(ndarray::Axis(0)).enumerate() {
                    plane.mapv_inplace(|v| norm(k, v));
                }
                let t = if h == w { t } else { Dihedral(t.0 & !1) };
                let want = t.apply3(&want.view());
                assert_eq!(out, want.iter().copied().collect::<Vec<_>>(), "transform {n} on {h}x{w}");
            }
        }
    }

    #[test]
    fn every_dtype_reads_its_little_endian_values() {
        let t = Dihedral::IDENTITY;
        let mut out = vec![0f32; 2];
        decode_planes("uint8", &[7, 250], (1, 2), t, &mut out, |_, v| v);
        assert_eq!(out, [7.0, 250.0]);
        decode_planes("int16", &[0xff, 0xff, 2, 1], (1, 2), t, &mut out, |_, v| v);
        assert_eq!(out, [-1.0, 258.0]);
        let bytes: Vec<u8> = [1.5f32, -2.25].iter().flat_map(|v| v.to_le_bytes()).collect();
        decode_planes("float32", &bytes, (1, 2), t, &mut out, |_, v| v);
        assert_eq!(out, [1.5, -2.25]);
        assert_eq!(element_size("int64"), None);
    }
}
