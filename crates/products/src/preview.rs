//! A product's preview PNG (`<stem>_preview.png`, the STAC Item's `thumbnail`): true colour where the product has
//! red, green and blue bands (given, or named so), a class map in its own colours, else its first band on a colour
//! ramp between its QC minimum and maximum; nodata transparent.

use std::path::Path;

use eoforge_qc::QcReport;
use eoforge_raster::Raster;
use eoforge_raster::preview::{class_preview, ramp_preview, rgb_preview};
use eoforge_storage::StoreOptions;

/// The key of a product's preview: `<stem>_preview.png`.
pub fn preview_key(dest: &str) -> String {
    format!("{}_preview.png", crate::product_stem(dest))
}

/// Draws the preview of the local product `file` into `out`: `rgb` (1-based red, green, blue bands) when given and
/// within the product's bands, else as the product's bands say (see the module). `None` with a warning when it
/// cannot be drawn: a preview never blocks a product.
pub(crate) fn draw(file: &Path, rgb: Option<[usize; 3]>, report: &QcReport, out: &Path) -> Option<()> {
    let location = file.display().to_string();
    let options = StoreOptions::default();
    let drawn = (|| -> eoforge_raster::Result<()> {
        let raster = Raster::open(&location)?;
        let bands = raster.band_count();
        let named = |name: &str| {
            (1..=bands).find(|&b| raster.band_description(b).is_ok_and(|d| d.trim().eq_ignore_ascii_case(name)))
        };
        let rgb = rgb
            .filter(|b| b.iter().all(|&i| (1..=bands).contains(&i)))
            .or_else(|| Some([named("red")?, named("green")?, named("blue")?]));
        match rgb {
            Some(rgb) => rgb_preview(&location, rgb, out, &options).map(drop),
            None if raster.color_table(1)?.is_some() => class_preview(&location, &[], out, &options).map(drop),
            None => {
                let stats = report.bands.iter().find(|s| s.band == 1);
                let (lo, hi) = stats.map_or((0.0, 1.0), |s| (s.min, if s.max > s.min { s.max } else { s.min + 1.0 }));
                ramp_preview(&location, (lo, hi), out, &options).map(drop)
            }
        }
    })();
    match drawn {
        Ok(()) => Some(()),
        Err(e) => {
            tracing::warn!(product = %location, error = %e, "no preview drawn");
            None
        }
    }
}
