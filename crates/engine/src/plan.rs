//! Where windows go and how overlapping outputs are weighted.

/// How overlapping window outputs are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Blend {
    /// Hann-weighted average: seams vanish; weights never reach 0 so every pixel has a value.
    #[default]
    Hann,
    /// Each output pixel comes from the window whose centre region holds it (no averaging).
    Center,
}

impl std::str::FromStr for Blend {
    type Err = eoforge_raster::UnknownName;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "hann" => Ok(Self::Hann),
            "center" | "centre" => Ok(Self::Center),
            _ => Err(eoforge_raster::UnknownName::new("blend", text, "hann or center")),
        }
    }
}

/// Window starts along one axis of length `len`: every `stride`, the last shifted back so it ends at `len`;
/// a single window (clamped to `len`) when the axis is shorter than a window.
pub fn window_starts(len: usize, window: usize, stride: usize) -> Vec<usize> {
    if len <= window {
        return vec![0];
    }
    let mut starts: Vec<usize> = (0..len).step_by(stride.max(1)).take_while(|s| s + window < len).collect();
    starts.push(len - window);
    starts.dedup();
    starts
}

/// The windows over a scene.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowPlan {
    /// Window size in input pixels (clamped to the scene).
    pub width: usize,
    /// Window height in input pixels (clamped to the scene).
    pub height: usize,
    /// Column starts.
    pub cols: Vec<usize>,
    /// Row starts.
    pub rows: Vec<usize>,
}

impl WindowPlan {
    /// Windows of `window` pixels overlapping by `2 * halo` over a `width` x `height` scene.
    pub fn new(width: usize, height: usize, window: usize, halo: usize) -> Self {
        let stride = window.saturating_sub(2 * halo).max(1);
        let (w, h) = (window.min(width), window.min(height));
        Self { width: w, height: h, cols: window_starts(width, w, stride), rows: window_starts(height, h, stride) }
    }
}

/// Per-pixel weights of a window's output (`size` pixels along one axis; `lo_edge`/`hi_edge` say whether the
/// window touches the scene border there, where no neighbour overlaps and the weight stays full).
pub(crate) fn weights_1d(blend: Blend, size: usize, halo: usize, lo_edge: bool, hi_edge: bool) -> Vec<f32> {
    (0..size)
        .map(|i| {
            let from_lo = i as f32 + 0.5;
            let from_hi = (size - i) as f32 - 0.5;
            let ramp = |d: f32| -> f32 {
                match blend {
                    // Half a Hann window over the halo, never exactly 0.
                    Blend::Hann => {
                        if halo == 0 || d >= (2 * halo) as f32 {
                            1.0
                        } else {
                            let x = d / (2 * halo) as f32;
                            (0.5 - 0.5 * (std::f32::consts::PI * x).cos()).max(1e-3)
                        }
                    }
                    Blend::Center => {
                        if d >= halo as f32 {
                            1.0
                        } else {
                            1e-6
                        }
                    }
                }
            };
            let lo = if lo_edge { 1.0 } else { ramp(from_lo) };
            let hi = if hi_edge { 1.0 } else { ramp(from_hi) };
            lo.min(hi)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_axis_exactly() {
        assert_eq!(window_starts(1098, 256, 224), vec![0, 224, 448, 672, 842]);
        assert_eq!(window_starts(100, 256, 224), vec![0]);
        assert_eq!(window_starts(256, 256, 224), vec![0]);
        for len in [257, 500, 1000, 1098] {
            let s = window_starts(len, 128, 96);
            assert_eq!(*s.last().expect("one") + 128, len);
            assert!(s.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 96));
        }
    }

    #[test]
    fn hann_weights_ramp_inside_and_stay_full_at_scene_edges() {
        let w = weights_1d(Blend::Hann, 64, 8, true, false);
        assert!((w[0] - 1.0).abs() < 1e-6 && w[63] < 0.05 && w[63] > 0.0);
        assert!((w[32] - 1.0).abs() < 1e-6);
    }
}
