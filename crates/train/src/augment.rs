//! Dihedral augmentation: the eight flips and 90° rotations of a square sample, the same for its image and mask.
//! A sample that is not square is only flipped: the loader drops the transpose, so every batch keeps one shape.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};

/// One of the eight symmetries of the square: an optional transpose, then optional flips of rows and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dihedral(pub u8);

impl Dihedral {
    /// The identity.
    pub const IDENTITY: Self = Self(0);

    /// The transform numbered `n mod 8` (bit 0: transpose, bit 1: flip rows, bit 2: flip columns).
    pub fn from_index(n: u64) -> Self {
        Self((n % 8) as u8)
    }

    /// Applies the transform to the last two axes of a `(channels, h, w)` array (square when it transposes).
    pub fn apply3<T: Clone>(self, a: &ArrayView3<'_, T>) -> Array3<T> {
        let mut v = a.view();
        if self.0 & 1 != 0 {
            v.swap_axes(1, 2);
        }
        if self.0 & 2 != 0 {
            v.invert_axis(Axis(1));
        }
        if self.0 & 4 != 0 {
            v.invert_axis(Axis(2));
        }
        v.as_standard_layout().into_owned()
    }

    /// Applies the transform to a `(h, w)` array.
    pub fn apply2<T: Clone>(self, a: &ArrayView2<'_, T>) -> Array2<T> {
        let three = a.view().insert_axis(Axis(0));
        self.apply3(&three).index_axis_move(Axis(0), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn the_eight_transforms_are_distinct_and_keep_values() {
        let a = Array3::from_shape_fn((2, 3, 3), |(c, r, k)| c * 100 + r * 10 + k);
        let all: Vec<_> = (0..8).map(|i| Dihedral::from_index(i).apply3(&a.view())).collect();
        for (i, x) in all.iter().enumerate() {
            let mut sorted: Vec<_> = x.iter().copied().collect();
            sorted.sort_unstable();
            assert_eq!(sorted, a.iter().copied().collect::<Vec<_>>(), "transform {i} moves values only");
            assert!(all[..i].iter().all(|y| y != x), "transform {i} repeats an earlier one");
        }
        assert_eq!(Dihedral::IDENTITY.apply3(&a.view()), a);
        // The mask follows the image.
        let mask = a.index_axis(Axis(0), 1).to_owned();
        for i in 0..8 {
            let t = Dihedral::from_index(i);
            assert_eq!(t.apply2(&mask.view()), t.apply3(&a.view()).index_axis(Axis(0), 1));
        }
    }
}
