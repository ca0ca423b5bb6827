//! PNG previews of rasters (a report's pictures, a STAC Item's thumbnail): true colour with a percentile stretch, class maps in their own
//! colours, and continuous maps (NDVI, EVI) on a colour ramp; nodata is transparent. Rasters are read through
//! GDAL at preview size (overviews when the file has them), local or remote.

use std::path::Path;

use eoforge_storage::StoreOptions;
use ndarray::Array3;

use crate::error::{Error, Result};
use crate::{Raster, Resampling, Window};

/// The longest side of a preview in pixels (smaller rasters keep their size and are scaled up by the browser).
pub const MAX_SIDE: usize = 720;

/// A PNG written for a raster.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Preview {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// True colour of bands `rgb` (1-based), each stretched between its 2nd and 98th percentile.
pub fn rgb_preview(url: &str, rgb: [usize; 3], out: &Path, options: &StoreOptions) -> Result<Preview> {
    let raster = Raster::open_with(url, options)?;
    let (w, h) = preview_size(&raster);
    let data: Array3<f64> = read(&raster, (w, h), Some(&rgb), Resampling::Average)?;
    let nodata: Vec<Option<f64>> = rgb.iter().map(|&b| raster.nodata(b)).collect::<Result<_>>()?;
    let valid = |b: usize, v: f64| v.is_finite() && Some(v) != nodata[b];
    let ranges: Vec<(f64, f64)> = (0..3)
        .map(|b| {
            let mut values: Vec<f64> =
                data.index_axis(ndarray::Axis(0), b).iter().copied().filter(|&v| valid(b, v)).collect();
            values.sort_by(f64::total_cmp);
            let at =
                |q: f64| values.get(((values.len().saturating_sub(1)) as f64 * q) as usize).copied().unwrap_or(0.0);
            (at(0.02), at(0.98))
        })
        .collect();
    let mut rgba = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let mut alpha = 255;
            for (b, &(lo, hi)) in ranges.iter().enumerate() {
                let v = data[[b, y, x]];
                if !valid(b, v) {
                    alpha = 0;
                }
                rgba.push((255.0 * ((v - lo) / (hi - lo).max(1e-12)).clamp(0.0, 1.0)).round() as u8);
            }
            rgba.push(alpha);
        }
    }
    write_png(out, w, h, &rgba)
}

/// A single-band class map in the colours of its colour table (or `fallback[value]`), nodata transparent.
pub fn class_preview(url: &str, fallback: &[[u8; 3]], out: &Path, options: &StoreOptions) -> Result<Preview> {
    let raster = Raster::open_with(url, options)?;
    let (w, h) = preview_size(&raster);
    let data: Array3<f64> = read(&raster, (w, h), Some(&[1]), Resampling::Nearest)?;
    let table = raster.color_table(1)?.unwrap_or_else(|| fallback.to_vec());
    let nodata = raster.nodata(1)?;
    let mut rgba = Vec::with_capacity(w * h * 4);
    for &v in &data {
        let color = (v >= 0.0).then(|| table.get(v as usize)).flatten();
        match color {
            Some(c) if Some(v) != nodata => rgba.extend_from_slice(&[c[0], c[1], c[2], 255]),
            _ => rgba.extend_from_slice(&[0, 0, 0, 0]),
        }
    }
    write_png(out, w, h, &rgba)
}

/// A continuous single-band map on a brown-yellow-green ramp from `lo` to `hi`; NaN and nodata transparent.
pub fn ramp_preview(url: &str, (lo, hi): (f64, f64), out: &Path, options: &StoreOptions) -> Result<Preview> {
    let raster = Raster::open_with(url, options)?;
    let (w, h) = preview_size(&raster);
    let data: Array3<f64> = read(&raster, (w, h), Some(&[1]), Resampling::Average)?;
    let nodata = raster.nodata(1)?;
    let mut rgba = Vec::with_capacity(w * h * 4);
    for &v in &data {
        if !v.is_finite() || Some(v) == nodata {
            rgba.extend_from_slice(&[0, 0, 0, 0]);
        } else {
            let color = ramp(((v - lo) / (hi - lo)).clamp(0.0, 1.0));
            rgba.extend_from_slice(&[color[0], color[1], color[2], 255]);
        }
    }
    write_png(out, w, h, &rgba)
}

/// The ramp's colour at `t` in 0..=1 (also drawn as the legend in the report).
pub fn ramp(t: f64) -> [u8; 3] {
    const STOPS: [(f64, [f64; 3]); 4] = [
        (0.0, [120.0, 72.0, 30.0]),
        (0.4, [230.0, 205.0, 120.0]),
        (0.7, [130.0, 190.0, 70.0]),
        (1.0, [20.0, 110.0, 40.0]),
    ];
    let segment = STOPS.iter().rposition(|(at, _)| *at <= t).unwrap_or(0).min(STOPS.len() - 2);
    let ((start, from), (end, to)) = (STOPS[segment], STOPS[segment + 1]);
    let frac = ((t - start) / (end - start)).clamp(0.0, 1.0);
    [0, 1, 2].map(|k| (from[k] + (to[k] - from[k]) * frac).round() as u8)
}

fn preview_size(raster: &Raster) -> (usize, usize) {
    let (w, h) = (raster.width(), raster.height());
    let f = (w.max(h) as f64 / MAX_SIDE as f64).max(1.0);
    (((w as f64 / f).round() as usize).max(1), ((h as f64 / f).round() as usize).max(1))
}

fn read(raster: &Raster, size: (usize, usize), bands: Option<&[usize]>, resampling: Resampling) -> Result<Array3<f64>> {
    let whole = Window::new(0, 0, raster.width(), raster.height());
    raster.read_window_resampled::<f64>(whole, size, bands, resampling)
}

fn write_png(out: &Path, width: usize, height: usize, rgba: &[u8]) -> Result<Preview> {
    let file = std::fs::File::create(out).map_err(|source| Error::Io {
        operation: "create",
        path: out.display().to_string(),
        source,
    })?;
    let err = |e: png::EncodingError| Error::Write { path: out.display().to_string(), reason: e.to_string() };
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(rgba).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(Preview { width, height })
}

#[cfg(test)]
mod tests {
    use super::ramp;

    #[test]
    fn ramp_runs_from_brown_to_green() {
        assert_eq!(ramp(0.0), [120, 72, 30]);
        assert_eq!(ramp(1.0), [20, 110, 40]);
        let mid = ramp(0.55);
        assert!(mid[0] > 130 && mid[1] > 190, "{mid:?}");
    }
}
