//! One patch of a catalog.

use std::collections::BTreeMap;

use eoforge_sampling::Split;

/// Sentinel-2 band names of a BigEarthNet patch, in eoforge's stacking order (by wavelength, B8A after B08).
pub const S2_BANDS: [&str; 12] = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"];

/// Sentinel-1 polarisations of a BigEarthNet patch.
pub const S1_BANDS: [&str; 2] = ["VV", "VH"];

/// Column holding the URL of an optional per-pixel label raster (segmentation target) of each patch.
pub const LABEL_RASTER: &str = "label_raster";

/// Column name holding the storage URL of a band: `s2_B04`, `s1_VV`.
pub fn path_column(sensor: Sensor, band: &str) -> String {
    format!("{}_{band}", sensor.prefix())
}

/// Which sensor a band belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensor {
    /// Sentinel-2 multispectral.
    S2,
    /// Sentinel-1 radar.
    S1,
}

impl Sensor {
    fn prefix(self) -> &'static str {
        match self {
            Self::S2 => "s2",
            Self::S1 => "s1",
        }
    }
}

/// One catalog row.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PatchRecord {
    /// Unique patch id (BigEarthNet patch name).
    pub patch_id: String,
    /// Label names (19-class v2 or 43-class v1 nomenclature).
    pub labels: Vec<String>,
    /// Split from the catalog, if it has one.
    pub split: Option<Split>,
    /// Country, when known.
    pub country: Option<String>,
    /// Matching Sentinel-1 patch, when known.
    pub s1_name: Option<String>,
    /// Storage URL of each referenced file, keyed by path column name (`s2_B04`, `s1_VV`, `label_raster`).
    pub paths: BTreeMap<String, String>,
}

impl PatchRecord {
    /// The URL of a band, if the catalog has paths.
    pub fn path(&self, sensor: Sensor, band: &str) -> Option<&str> {
        self.paths.get(&path_column(sensor, band)).map(String::as_str)
    }
}
