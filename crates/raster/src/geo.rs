//! Grid geometry: affine geotransforms, pixel windows, map bounds and target grids.

use std::fmt;

/// GDAL's affine geotransform: `x = a0 + col*a1 + row*a2`, `y = a3 + col*a4 + row*a5`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoTransform(pub [f64; 6]);

impl GeoTransform {
    /// A north-up transform from the top-left corner and a square or rectangular pixel size.
    pub fn north_up(origin_x: f64, origin_y: f64, pixel_width: f64, pixel_height: f64) -> Self {
        Self([origin_x, pixel_width, 0.0, origin_y, 0.0, -pixel_height.abs()])
    }

    /// Map coordinates of a pixel position (`col`, `row` may be fractional; 0,0 is the top-left corner).
    pub fn pixel_to_map(&self, col: f64, row: f64) -> (f64, f64) {
        let g = &self.0;
        (g[0] + col * g[1] + row * g[2], g[3] + col * g[4] + row * g[5])
    }

    /// Pixel position (fractional) of map coordinates; `None` for a degenerate transform.
    pub fn map_to_pixel(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let g = &self.0;
        let det = g[1] * g[5] - g[2] * g[4];
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let (dx, dy) = (x - g[0], y - g[3]);
        Some(((dx * g[5] - dy * g[2]) / det, (dy * g[1] - dx * g[4]) / det))
    }

    /// True when the raster has no rotation terms.
    pub fn is_north_up(&self) -> bool {
        self.0[2] == 0.0 && self.0[4] == 0.0
    }

    /// Pixel width and (positive) height in map units, for north-up transforms.
    pub fn pixel_size(&self) -> (f64, f64) {
        (self.0[1], self.0[5].abs())
    }

    /// The transform of a sub-window whose top-left pixel is (`col`, `row`).
    #[must_use]
    pub fn shifted(&self, col: f64, row: f64) -> Self {
        let (x, y) = self.pixel_to_map(col, row);
        let g = self.0;
        Self([x, g[1], g[2], y, g[4], g[5]])
    }

    /// The transform of the same extent with pixels `factor` times smaller (factor 10: 10 m → 1 m).
    #[must_use]
    pub fn scaled(&self, factor: f64) -> Self {
        let g = self.0;
        Self([g[0], g[1] / factor, g[2] / factor, g[3], g[4] / factor, g[5] / factor])
    }
}

/// A rectangle of pixels: top-left column/row and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// Leftmost column.
    pub col: usize,
    /// Top row.
    pub row: usize,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Window {
    /// A window from its top-left corner and size.
    pub fn new(col: usize, row: usize, width: usize, height: usize) -> Self {
        Self { col, row, width, height }
    }

    /// The whole of a `width` x `height` raster.
    pub fn full(width: usize, height: usize) -> Self {
        Self::new(0, 0, width, height)
    }

    /// True when the window is non-empty and lies inside a `width` x `height` raster.
    pub fn fits(&self, width: usize, height: usize) -> bool {
        self.width > 0
            && self.height > 0
            && self.col.checked_add(self.width).is_some_and(|end| end <= width)
            && self.row.checked_add(self.height).is_some_and(|end| end <= height)
    }

    /// Number of pixels.
    pub fn area(&self) -> usize {
        self.width * self.height
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "col {} row {} size {}x{}", self.col, self.row, self.width, self.height)
    }
}

/// An axis-aligned rectangle in map (or lon/lat) coordinates.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bounds {
    /// West edge (min x / min lon).
    pub min_x: f64,
    /// South edge (min y / min lat).
    pub min_y: f64,
    /// East edge (max x / max lon).
    pub max_x: f64,
    /// North edge (max y / max lat).
    pub max_y: f64,
}

impl Bounds {
    /// Bounds from two corners in any order.
    pub fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Self {
        Self { min_x: x0.min(x1), min_y: y0.min(y1), max_x: x0.max(x1), max_y: y0.max(y1) }
    }

    /// The overlap of two bounds, if any.
    pub fn intersection(&self, other: &Bounds) -> Option<Bounds> {
        let b = Bounds {
            min_x: self.min_x.max(other.min_x),
            min_y: self.min_y.max(other.min_y),
            max_x: self.max_x.min(other.max_x),
            max_y: self.max_y.min(other.max_y),
        };
        (b.min_x < b.max_x && b.min_y < b.max_y).then_some(b)
    }
}

/// A target pixel grid in a raster's CRS: size plus geotransform.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grid {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Geotransform of the grid.
    pub transform: GeoTransform,
}

impl Grid {
    /// Map bounds covered by the grid (north-up grids).
    pub fn bounds(&self) -> Bounds {
        let (x0, y0) = self.transform.pixel_to_map(0.0, 0.0);
        let (x1, y1) = self.transform.pixel_to_map(self.width as f64, self.height as f64);
        Bounds::new(x0, y0, x1, y1)
    }

    /// The grid of a pixel window of a raster with `transform`.
    pub fn of_window(transform: &GeoTransform, window: Window) -> Self {
        Self {
            width: window.width,
            height: window.height,
            transform: transform.shifted(window.col as f64, window.row as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_map_round_trip() {
        let gt = GeoTransform([399_960.0, 100.0, 0.0, 3_300_000.0, 0.0, -100.0]);
        let (x, y) = gt.pixel_to_map(10.5, 20.25);
        assert_eq!((x, y), (401_010.0, 3_297_975.0));
        let (c, r) = gt.map_to_pixel(x, y).expect("invertible");
        assert!((c - 10.5).abs() < 1e-9 && (r - 20.25).abs() < 1e-9);
        let rotated = GeoTransform([0.0, 1.0, 0.5, 0.0, 0.25, -1.0]);
        let (x, y) = rotated.pixel_to_map(3.0, 7.0);
        let (c, r) = rotated.map_to_pixel(x, y).expect("invertible");
        assert!((c - 3.0).abs() < 1e-9 && (r - 7.0).abs() < 1e-9);
        assert!(GeoTransform([0.0; 6]).map_to_pixel(1.0, 1.0).is_none());
    }

    #[test]
    fn windows_must_fit() {
        assert!(Window::new(0, 0, 10, 10).fits(10, 10));
        assert!(!Window::new(1, 0, 10, 10).fits(10, 10));
        assert!(!Window::new(0, 0, 0, 10).fits(10, 10));
        assert!(!Window::new(usize::MAX, 0, 2, 2).fits(10, 10));
    }

    #[test]
    fn scaled_and_shifted_grids() {
        let gt = GeoTransform::north_up(100.0, 200.0, 10.0, 10.0);
        assert_eq!(gt.scaled(10.0).pixel_size(), (1.0, 1.0));
        let g = Grid::of_window(&gt, Window::new(2, 3, 4, 5));
        assert_eq!(g.bounds(), Bounds::new(120.0, 120.0, 160.0, 170.0));
    }
}
