//! [`RasterMetadata`]: what a product carries over from its source besides pixels, georeferencing and nodata —
//! dataset items (`copyright`, `license`, `legend` …), `AREA_OR_POINT`, and per band scale, offset, colour
//! interpretation and items.

use gdal::Metadata;
use gdal::raster::{ColorInterpretation, RasterBand};

use crate::error::{Error, Result};

/// Dataset and band metadata of a raster, as GDAL reports it (default domain).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RasterMetadata {
    /// Dataset items of the default domain, `AREA_OR_POINT` excluded, in the source's order.
    pub items: Vec<(String, String)>,
    /// `Area` or `Point` (GeoTIFF's raster type), when set.
    pub area_or_point: Option<String>,
    /// Per band (empty, or one per band).
    pub bands: Vec<BandMetadata>,
}

/// Metadata of one band.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct BandMetadata {
    /// Value scale (physical = value × scale + offset), when set.
    pub scale: Option<f64>,
    /// Value offset, when set.
    pub offset: Option<f64>,
    /// GDAL colour interpretation name (`Red`, `Gray`, `Alpha` …), when not `Undefined`.
    pub color: Option<String>,
    /// Band items of the default domain.
    pub items: Vec<(String, String)>,
}

impl RasterMetadata {
    /// Reads the metadata of a GDAL dataset.
    pub(crate) fn read(dataset: &gdal::Dataset) -> Result<Self> {
        let mut items = split_items(dataset.metadata_domain("").unwrap_or_default());
        let area_or_point = items.iter().position(|(k, _)| k == "AREA_OR_POINT").map(|i| items.remove(i).1);
        let mut bands = Vec::with_capacity(dataset.raster_count());
        for index in 1..=dataset.raster_count() {
            let band = dataset.rasterband(index).map_err(|e| Error::Read {
                path: dataset.description().unwrap_or_default(),
                what: format!("band {index}"),
                reason: e.to_string(),
            })?;
            bands.push(BandMetadata::read(&band));
        }
        if bands.iter().all(|b| *b == BandMetadata::default()) {
            bands.clear();
        }
        Ok(Self { items, area_or_point, bands })
    }

    /// Writes the metadata onto a GDAL dataset with as many bands.
    pub(crate) fn apply(&self, dataset: &mut gdal::Dataset) -> gdal::errors::Result<()> {
        for (key, value) in &self.items {
            dataset.set_metadata_item(key, value, "")?;
        }
        if let Some(kind) = &self.area_or_point {
            dataset.set_metadata_item("AREA_OR_POINT", kind, "")?;
        }
        for (i, meta) in self.bands.iter().enumerate() {
            let mut band = dataset.rasterband(i + 1)?;
            meta.apply(&mut band)?;
        }
        Ok(())
    }

    /// The same metadata for a product of `bands` bands: per-band entries are kept only when the count matches.
    pub fn for_bands(&self, bands: usize) -> Self {
        let mut out = self.clone();
        if out.bands.len() != bands {
            out.bands.clear();
        }
        out
    }

    /// The colour interpretations of the bands (`None` where unset).
    pub fn colors(&self) -> Vec<Option<&str>> {
        self.bands.iter().map(|b| b.color.as_deref()).collect()
    }
}

impl BandMetadata {
    fn read(band: &RasterBand<'_>) -> Self {
        let color = band.color_interpretation();
        Self {
            scale: band.scale().filter(|s| s.to_bits() != 1.0f64.to_bits()),
            offset: band.offset().filter(|o| *o != 0.0),
            color: (color != ColorInterpretation::Undefined).then(|| color.name()),
            items: split_items(band.metadata_domain("").unwrap_or_default()),
        }
    }

    fn apply(&self, band: &mut RasterBand<'_>) -> gdal::errors::Result<()> {
        if let Some(scale) = self.scale {
            band.set_scale(scale)?;
        }
        if let Some(offset) = self.offset {
            band.set_offset(offset)?;
        }
        if let Some(name) = &self.color
            && let Ok(interp) = ColorInterpretation::from_name(name)
        {
            band.set_color_interpretation(interp)?;
        }
        for (key, value) in &self.items {
            band.set_metadata_item(key, value, "")?;
        }
        Ok(())
    }
}

fn split_items(lines: Vec<String>) -> Vec<(String, String)> {
    lines.into_iter().filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect()
}
