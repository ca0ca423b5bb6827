//! Labels derived from the scene itself when no label raster covers it: water where NDWI = nd(green, NIR) exceeds
//! a threshold, vegetation where NDVI = nd(NIR, red) does, everything else "other". The output is a UInt8 class
//! map on the scene's grid (CRS, geotransform, dataset metadata kept) with a colour table, `CLASS_NAMES` and the
//! rule that made it in its metadata, so nobody mistakes it for surveyed reference data.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use eoforge_raster::{CogWriter, CogWriterOptions, Raster, RasterSpec, Resampling, Window, normalized_difference};
use eoforge_storage::{Store, StoreOptions};
use ndarray::Array3;

use crate::error::{Error, Result};

/// Class value of pixels without a label (a nodata input pixel).
pub const NO_LABEL: u8 = 0;

/// The classes an index rule assigns: (value, name, colour).
pub const INDEX_CLASSES: [(u8, &str, [u8; 3]); 4] = [
    (NO_LABEL, "no label", [0, 0, 0]),
    (1, "water", [30, 110, 220]),
    (2, "vegetation", [40, 160, 60]),
    (3, "other (built-up, bare)", [200, 170, 120]),
];

/// Which scene bands (1-based) are green, red and NIR, and the thresholds of the rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct IndexLabelRule {
    /// Green band.
    pub green: usize,
    /// Red band.
    pub red: usize,
    /// Near-infrared band.
    pub nir: usize,
    /// Water where NDWI > this (checked first).
    pub water_ndwi: f32,
    /// Vegetation where NDVI > this.
    pub vegetation_ndvi: f32,
}

impl Default for IndexLabelRule {
    /// Bands 2, 3, 4 (green, red, NIR of a blue-green-red-NIR stack); water NDWI > 0, vegetation NDVI > 0.2.
    fn default() -> Self {
        Self { green: 2, red: 3, nir: 4, water_ndwi: 0.0, vegetation_ndvi: 0.2 }
    }
}

impl IndexLabelRule {
    /// The rule in words, as written into the label raster and shown in reports.
    pub fn describe(&self) -> String {
        format!(
            "water where NDWI = (B{g} - B{n}) / (B{g} + B{n}) > {w}; else vegetation where NDVI = (B{n} - B{r}) / \
             (B{n} + B{r}) > {v}; else other; no label where a band is nodata or an index is undefined",
            g = self.green,
            n = self.nir,
            r = self.red,
            w = self.water_ndwi,
            v = self.vegetation_ndvi
        )
    }

    /// The class of one pixel.
    pub fn classify(&self, green: f64, red: f64, nir: f64) -> u8 {
        if green.is_nan() || red.is_nan() || nir.is_nan() {
            return NO_LABEL;
        }
        let ndwi = normalized_difference(green, nir);
        let ndvi = normalized_difference(nir, red);
        if ndwi > self.water_ndwi {
            1
        } else if ndvi > self.vegetation_ndvi {
            2
        } else if ndwi.is_nan() || ndvi.is_nan() {
            NO_LABEL
        } else {
            3
        }
    }
}

/// What a label derivation produced.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct IndexLabelsReport {
    /// Where the label raster was written.
    pub dest: String,
    /// Raster size (width, height).
    pub size: (usize, usize),
    /// Pixels per class name.
    pub class_pixels: BTreeMap<String, u64>,
    /// The rule in words.
    pub rule: String,
    /// Wall seconds.
    pub seconds: f64,
}

/// Derives a label raster from `scene` by `rule` and writes it to `dest` (path or URL) as a UInt8 COG.
pub fn derive_index_labels(
    scene: &str,
    dest: &str,
    rule: &IndexLabelRule,
    options: &StoreOptions,
) -> Result<IndexLabelsReport> {
    let start = Instant::now();
    let raster = Raster::open_with(scene, options)?;
    let bands = [rule.green, rule.red, rule.nir];
    if let Some(b) = bands.iter().find(|&&b| b == 0 || b > raster.band_count()) {
        return Err(Error::Options(format!(
            "band {b} of `{scene}` does not exist (it has {} bands; bands count from 1)",
            raster.band_count()
        )));
    }
    let Some(transform) = raster.geo_transform() else {
        return Err(Error::Input { path: scene.to_owned(), reason: "the scene is not georeferenced".into() });
    };
    let nodata: Vec<Option<f64>> = bands.iter().map(|&b| raster.nodata(b)).collect::<eoforge_raster::Result<_>>()?;
    let mut metadata = raster.metadata()?.for_bands(1);
    metadata
        .items
        .push(("LABEL_SOURCE".into(), format!("derived from the scene's spectral indices: {}", rule.describe())));
    metadata.bands = vec![eoforge_raster::BandMetadata {
        items: vec![(
            "CLASS_NAMES".into(),
            INDEX_CLASSES.iter().map(|(v, n, _)| format!("{v}={n}")).collect::<Vec<_>>().join(";"),
        )],
        ..Default::default()
    }];
    let (width, height) = (raster.width(), raster.height());
    let spec = RasterSpec {
        width,
        height,
        bands: 1,
        geo_transform: Some(transform),
        crs: raster.crs(),
        nodata: Some(f64::from(NO_LABEL)),
        band_descriptions: vec!["class".into()],
        metadata,
    };
    let cog = CogWriterOptions { overview_resampling: Resampling::Nearest, ..CogWriterOptions::default() };
    let work = staging_path();
    let result = (|| -> Result<BTreeMap<String, u64>> {
        let mut writer = CogWriter::<u8>::create(&work, &spec, &cog)?;
        writer.set_color_map(&INDEX_CLASSES.iter().map(|c| c.2).collect::<Vec<_>>())?;
        let bs = cog.block_size;
        let (nx, ny) = writer.blocks();
        let mut counts = [0u64; INDEX_CLASSES.len()];
        for by in 0..ny {
            for bx in 0..nx {
                let window = Window::new(bx * bs, by * bs, bs.min(width - bx * bs), bs.min(height - by * bs));
                let data = raster.read_window::<f64>(window, Some(&bands))?;
                let labels = Array3::from_shape_fn((1, window.height, window.width), |(_, y, x)| {
                    let v = |i: usize| {
                        let v = data[[i, y, x]];
                        if Some(v) == nodata[i] { f64::NAN } else { v }
                    };
                    let class = rule.classify(v(0), v(1), v(2));
                    counts[usize::from(class)] += 1;
                    class
                });
                writer.write_block(bx, by, labels.view())?;
            }
        }
        writer.finish()?;
        Ok(INDEX_CLASSES.iter().zip(counts).map(|((_, name, _), n)| ((*name).to_owned(), n)).collect())
    })();
    let class_pixels = match result {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&work);
            return Err(e);
        }
    };
    let (store, key) = Store::open_object(dest, options)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if let Err(e) = rt.block_on(store.put_file_moving(&key, &work)) {
        let _ = std::fs::remove_file(&work);
        return Err(e.into());
    }
    Ok(IndexLabelsReport {
        dest: store.url_of(&key),
        size: (width, height),
        class_pixels,
        rule: rule.describe(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// A private file in the temporary folder for the label raster while it is written.
fn staging_path() -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(".eoforge-labels-{}-{nanos}.tif", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_orders_water_before_vegetation_and_marks_nodata() {
        let rule = IndexLabelRule::default();
        assert_eq!(rule.classify(50.0, 30.0, 10.0), 1); // green ≫ NIR: water
        assert_eq!(rule.classify(40.0, 20.0, 80.0), 2); // NDVI 0.6
        assert_eq!(rule.classify(60.0, 55.0, 58.0), 1); // NDWI = 2/118 > 0
        assert_eq!(rule.classify(50.0, 55.0, 58.0), 3); // NDWI < 0, NDVI = 3/113 < 0.2
        assert_eq!(rule.classify(f64::NAN, 20.0, 80.0), NO_LABEL);
        assert_eq!(rule.classify(0.0, 0.0, 0.0), NO_LABEL);
        assert!(rule.describe().contains("NDWI = (B2 - B4)"));
    }
}
