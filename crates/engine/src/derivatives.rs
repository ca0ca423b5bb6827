//! Maps derived from the output bands (NDVI, EVI, true-colour RGB, NIR), streamed into COGs beside the product
//! from the same finished tiles, so they cost no second pass over the product.

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayView3, s};

use eoforge_raster::{BandMetadata, CogWriter, CogWriterOptions, Pixel, RasterMetadata, RasterSpec};

use crate::error::{Error, Result};

/// One derived map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Derivative {
    /// (NIR − red) / (NIR + red), Float32, NaN where undefined.
    Ndvi,
    /// 2.5 (NIR − red) / (NIR + 6 red − 7.5 blue + 1) on reflectances, Float32, NaN where undefined.
    Evi,
    /// True colour, 3 × UInt8: reflectance 0..`rgb_max` stretched to 1..255, 0 = nodata.
    Rgb,
    /// The NIR band alone, in the product's data type.
    Nir,
}

impl Derivative {
    /// Lower-case name, used in file names (`<stem>_ndvi.tif`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ndvi => "ndvi",
            Self::Evi => "evi",
            Self::Rgb => "rgb",
            Self::Nir => "nir",
        }
    }

    /// Band count of the derived map.
    pub fn bands(self) -> usize {
        if self == Self::Rgb { 3 } else { 1 }
    }
}

impl std::str::FromStr for Derivative {
    type Err = eoforge_raster::UnknownName;
    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "ndvi" => Ok(Self::Ndvi),
            "evi" => Ok(Self::Evi),
            "rgb" => Ok(Self::Rgb),
            "nir" => Ok(Self::Nir),
            _ => Err(eoforge_raster::UnknownName::new("derived map", text, "ndvi, evi, rgb or nir")),
        }
    }
}

/// Which output bands (1-based, as in GDAL) hold which part of the spectrum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BandRoles {
    /// Blue (Sentinel-2 B02).
    pub blue: Option<usize>,
    /// Green (B03).
    pub green: Option<usize>,
    /// Red (B04).
    pub red: Option<usize>,
    /// Near infrared (B08).
    pub nir: Option<usize>,
}

impl std::str::FromStr for BandRoles {
    type Err = String;
    /// `blue=1,green=2,red=3,nir=4`: which output band (from 1) holds each role; a role given twice, or one not
    /// known, is an error naming it.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let mut roles = Self::default();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let bad = || format!("`{part}`: expected ROLE=BAND with ROLE blue, green, red or nir and BAND from 1");
            let (role, band) = part.split_once('=').ok_or_else(bad)?;
            let band: usize = band.trim().parse().ok().filter(|b| *b >= 1).ok_or_else(bad)?;
            let slot = match role.trim() {
                "blue" => &mut roles.blue,
                "green" => &mut roles.green,
                "red" => &mut roles.red,
                "nir" => &mut roles.nir,
                _ => return Err(bad()),
            };
            if slot.is_some() {
                return Err(format!("{} is given twice", role.trim()));
            }
            *slot = Some(band);
        }
        Ok(roles)
    }
}

/// What to derive and how to read the output values as reflectance (`value * scale + offset`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DerivativeOptions {
    /// The maps to write.
    pub kinds: Vec<Derivative>,
    /// Band roles in the model's output.
    pub roles: BandRoles,
    /// Reflectance scale (Sentinel-2 L2A digital numbers: 0.0001).
    pub scale: f64,
    /// Reflectance offset (Sentinel-2 L2A from baseline 04.00: −0.1).
    pub offset: f64,
    /// Reflectance shown as full brightness in `rgb`.
    pub rgb_max: f64,
}

impl Default for DerivativeOptions {
    fn default() -> Self {
        Self { kinds: Vec::new(), roles: BandRoles::default(), scale: 1e-4, offset: 0.0, rgb_max: 0.3 }
    }
}

/// Where a derived map of the product at `product` goes: `<stem>_<name>.tif` in the same folder.
pub fn derivative_path(product: &Path, kind: Derivative) -> PathBuf {
    let stem = product.file_stem().map_or_else(|| "product".into(), |s| s.to_string_lossy().into_owned());
    product.with_file_name(format!("{stem}_{}.tif", kind.name()))
}

/// A derived map's writer.
enum Sink<T: Pixel> {
    Float(Derivative, CogWriter<f32>),
    Byte(CogWriter<u8>),
    Same(CogWriter<T>),
}

/// The writers of every requested map; fed the product's finished tiles.
pub(crate) struct DerivedWriters<T: Pixel> {
    options: DerivativeOptions,
    sinks: Vec<Sink<T>>,
    nodata: Option<f64>,
}

impl<T: Pixel> DerivedWriters<T> {
    /// Checks that every map's bands exist among `out_bands` and creates the writers.
    pub(crate) fn create(
        product: &Path,
        spec: &RasterSpec,
        cog: &CogWriterOptions,
        options: &DerivativeOptions,
    ) -> Result<Self> {
        let roles = options.roles;
        let mut sinks = Vec::new();
        for &kind in &options.kinds {
            let needs: &[(&str, Option<usize>)] = match kind {
                Derivative::Ndvi => &[("red", roles.red), ("nir", roles.nir)],
                Derivative::Evi => &[("blue", roles.blue), ("red", roles.red), ("nir", roles.nir)],
                Derivative::Rgb => &[("red", roles.red), ("green", roles.green), ("blue", roles.blue)],
                Derivative::Nir => &[("nir", roles.nir)],
            };
            for (role, band) in needs {
                match band {
                    None => {
                        return Err(Error::Options(format!("{} needs the {role} band; give its band", kind.name())));
                    }
                    Some(b) if *b == 0 || *b > spec.bands => {
                        return Err(Error::Options(format!(
                            "{} needs the {role} band {b} (bands count from 1), but the model writes {} bands",
                            kind.name(),
                            spec.bands
                        )));
                    }
                    Some(_) => {}
                }
            }
            let path = derivative_path(product, kind);
            // Dataset items (licence, …) carry over; band metadata is the map's own: RGB colours, the NIR
            // band's scale and offset.
            let band_meta: Vec<BandMetadata> = match kind {
                Derivative::Rgb => ["Red", "Green", "Blue"]
                    .iter()
                    .map(|c| BandMetadata { color: Some((*c).to_owned()), ..BandMetadata::default() })
                    .collect(),
                Derivative::Nir => roles
                    .nir
                    .and_then(|b| spec.metadata.bands.get(b - 1))
                    .map(|m| vec![BandMetadata { color: None, ..m.clone() }])
                    .unwrap_or_default(),
                Derivative::Ndvi | Derivative::Evi => Vec::new(),
            };
            let one = |bands: usize, nodata: Option<f64>| RasterSpec {
                bands,
                nodata,
                band_descriptions: if bands == 3 {
                    vec!["red".into(), "green".into(), "blue".into()]
                } else {
                    vec![kind.name().into()]
                },
                metadata: RasterMetadata { bands: band_meta.clone(), ..spec.metadata.clone() },
                ..spec.clone()
            };
            sinks.push(match kind {
                Derivative::Ndvi | Derivative::Evi => {
                    Sink::Float(kind, CogWriter::create(&path, &one(1, Some(f64::NAN)), cog)?)
                }
                Derivative::Rgb => Sink::Byte(CogWriter::create(&path, &one(3, Some(0.0)), cog)?),
                Derivative::Nir => Sink::Same(CogWriter::create(&path, &one(1, spec.nodata), cog)?),
            });
        }
        // Checked above: every role in use names a band from 1 to the band count; tiles index from 0.
        let zero = |b: Option<usize>| b.and_then(|b| b.checked_sub(1));
        let roles =
            BandRoles { blue: zero(roles.blue), green: zero(roles.green), red: zero(roles.red), nir: zero(roles.nir) };
        Ok(Self { options: DerivativeOptions { roles, ..options.clone() }, sinks, nodata: spec.nodata })
    }

    /// Derives every map's tile (`bx`, `by`) from the product's tile `(bands, rows, cols)`.
    #[allow(clippy::needless_pass_by_value)] // array views are passed by value, like slices
    pub(crate) fn write_block(&mut self, bx: usize, by: usize, tile: ArrayView3<'_, T>) -> Result<()> {
        let (_, rows, cols) = tile.dim();
        let (scale, offset) = (self.options.scale, self.options.offset);
        let nodata = self.nodata;
        // Reflectance of one band at (y, x); `None` for nodata.
        let refl = |band: Option<usize>, y: usize, x: usize| -> Option<f64> {
            let v = tile[[band?, y, x]].to_f64();
            (Some(v) != nodata && !v.is_nan()).then_some(v * scale + offset)
        };
        let roles = self.options.roles;
        let rgb_max = self.options.rgb_max;
        for sink in &mut self.sinks {
            match sink {
                Sink::Float(kind, writer) => {
                    let kind = *kind;
                    let map = Array3::from_shape_fn((1, rows, cols), |(_, y, x)| {
                        let (Some(red), Some(nir)) = (refl(roles.red, y, x), refl(roles.nir, y, x)) else {
                            return f32::NAN;
                        };
                        if kind == Derivative::Ndvi {
                            return eoforge_raster::normalized_difference(nir, red);
                        }
                        let Some(blue) = refl(roles.blue, y, x) else { return f32::NAN };
                        eoforge_raster::enhanced_vegetation_index(blue, red, nir)
                    });
                    writer.write_block(bx, by, map.view())?;
                }
                Sink::Byte(writer) => {
                    let bands = [roles.red, roles.green, roles.blue];
                    let map = Array3::from_shape_fn((3, rows, cols), |(b, y, x)| {
                        refl(bands[b], y, x).map_or(0, |r| (1.0 + 254.0 * (r / rgb_max).clamp(0.0, 1.0)).round() as u8)
                    });
                    writer.write_block(bx, by, map.view())?;
                }
                Sink::Same(writer) => {
                    let nir = roles.nir.unwrap_or(0);
                    writer.write_block(bx, by, tile.slice(s![nir..=nir, .., ..]))?;
                }
            }
        }
        Ok(())
    }

    /// Finishes every map; returns their paths.
    pub(crate) fn finish(self) -> Result<Vec<PathBuf>> {
        self.sinks
            .into_iter()
            .map(|sink| {
                Ok(match sink {
                    Sink::Float(_, w) => w.finish()?,
                    Sink::Byte(w) => w.finish()?,
                    Sink::Same(w) => w.finish()?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_files_sit_beside_the_product() {
        assert_eq!(derivative_path(Path::new("/w/product.tif"), Derivative::Ndvi), Path::new("/w/product_ndvi.tif"));
        assert_eq!(Derivative::Rgb.bands(), 3);
    }
}
