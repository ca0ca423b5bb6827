//! What `predict` is asked for, as typed values: the model, windows, output type and layout, derived maps, QC
//! limits. Built once (by a command line or a caller), recorded beside each product with serde and compared on
//! reruns.

use std::path::PathBuf;
use std::str::FromStr;

use eoforge_engine::{Blend, Derivative, DerivativeOptions};
use eoforge_qc::QcConfig;
use eoforge_raster::{Compression, DataType, OverviewResampling};

use crate::error::{Error, Result};
use eoforge_card::{NormalizeSpec, OutputKind};

/// The model a product is made with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// Output = input (a deployment check).
    Identity,
    /// Nearest-neighbour upsampling by the options' `scale` (a throughput check).
    Upsample,
    /// A run directory of `eoforge-train fit`.
    Run(PathBuf),
    /// An ONNX file, run by ONNX Runtime.
    Onnx(PathBuf),
}

impl FromStr for ModelSource {
    type Err = Error;
    /// `identity`, `upsample`, a run directory (it has `config.toml`), or an ONNX file.
    fn from_str(text: &str) -> Result<Self> {
        let path = std::path::Path::new(text);
        match text {
            "identity" => Ok(Self::Identity),
            "upsample" => Ok(Self::Upsample),
            _ if path.join("config.toml").is_file() => Ok(Self::Run(text.into())),
            _ if path.is_dir() => {
                Err(Error::Usage(format!("`{text}` has no config.toml: not a run directory of `eoforge-train fit`")))
            }
            _ if path.is_file() => Ok(Self::Onnx(text.into())),
            _ if text.to_ascii_lowercase().ends_with(".onnx") => {
                Err(Error::Usage(format!("`{text}`: no such ONNX file")))
            }
            _ => Err(Error::Usage(format!(
                "`{text}` is neither `identity`, `upsample`, a run directory nor an ONNX file"
            ))),
        }
    }
}

impl ModelSource {
    /// The model's name in records: `identity`, `upsample`, or the path.
    pub fn name(&self) -> String {
        match self {
            Self::Identity => "identity".into(),
            Self::Upsample => "upsample".into(),
            Self::Run(path) | Self::Onnx(path) => path.display().to_string(),
        }
    }
}

/// A lon/lat box (WGS 84): `MINLON,MINLAT,MAXLON,MAXLAT`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LonLatBox {
    /// West.
    pub min_lon: f64,
    /// South.
    pub min_lat: f64,
    /// East.
    pub max_lon: f64,
    /// North.
    pub max_lat: f64,
}

impl FromStr for LonLatBox {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        let usage = |reason: &str| Error::Usage(format!("--aoi `{text}` {reason}"));
        let values: Vec<f64> = text
            .split(',')
            .map(|part| part.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| usage("is not MINLON,MINLAT,MAXLON,MAXLAT"))?;
        let [min_lon, min_lat, max_lon, max_lat] = values.as_slice() else {
            return Err(usage("needs four numbers MINLON,MINLAT,MAXLON,MAXLAT"));
        };
        let lon = -180.0..=180.0;
        let lat = -90.0..=90.0;
        if !lon.contains(min_lon) || !lon.contains(max_lon) || !lat.contains(min_lat) || !lat.contains(max_lat) {
            return Err(usage(": longitudes must lie in -180..180 and latitudes in -90..90"));
        }
        if min_lon >= max_lon || min_lat >= max_lat {
            return Err(usage("is inverted or empty: give MINLON,MINLAT,MAXLON,MAXLAT with MIN < MAX"));
        }
        Ok(Self { min_lon: *min_lon, min_lat: *min_lat, max_lon: *max_lon, max_lat: *max_lat })
    }
}

/// How a trained run is applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrainedOptions {
    /// An integer image output beyond its type's range is an error instead of clipped.
    pub no_clip: bool,
    /// Apply a run to a scene whose band statistics are far from its training data's.
    pub force_bands: bool,
    /// Apply a run stopped before its last epoch.
    pub allow_unfinished: bool,
}

/// How an ONNX model is fed and read, where its card is silent or is to be overridden.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct OnnxFlags {
    /// The ONNX Runtime library.
    pub onnxruntime: Option<PathBuf>,
    /// What the output holds.
    pub output: Option<OutputKind>,
    /// Input scaling.
    pub normalize: Option<NormalizeSpec>,
    /// Input sizes must be multiples of this.
    pub size_multiple: Option<usize>,
}

/// Everything a `predict` product is made with.
#[derive(Clone, Debug)]
pub struct PredictOptions {
    /// The model.
    pub model: ModelSource,
    /// Where it runs.
    pub device: crate::device::Device,
    /// Run on the CPU when the GPU asked for cannot be used (ONNX models).
    pub allow_cpu_fallback: bool,
    /// Output pixels per input pixel (`upsample`; a model's own scale must match when given).
    pub scale: usize,
    /// Window size in input pixels.
    pub window: usize,
    /// Overlap on each side of a window.
    pub halo: usize,
    /// Windows per batch (0: a safe size).
    pub batch: usize,
    /// Input bands, 1-based (`None`: all, or the model card's by name).
    pub input_bands: Option<Vec<usize>>,
    /// Seam handling.
    pub blend: Blend,
    /// Only this box of the scene.
    pub aoi: Option<LonLatBox>,
    /// Output data type (default: the model's).
    pub out_dtype: Option<DataType>,
    /// Output nodata value.
    pub out_nodata: Option<f64>,
    /// Output tile size.
    pub blocksize: usize,
    /// Tile compression.
    pub compression: Compression,
    /// Overview reduction.
    pub resampling: OverviewResampling,
    /// Replace a destination that holds a passing product.
    pub force: bool,
    /// Maps derived from the output.
    pub derivatives: DerivativeOptions,
    /// Append a quality band: 0 no data, 1 valid, 2 input nodata within the halo, 3 clipped (see
    /// [`eoforge_engine::EngineOptions::quality_band`]).
    pub quality_band: bool,
    /// Memory for stitching, MiB.
    pub stitch_memory_mib: usize,
    /// Trained runs.
    pub trained: TrainedOptions,
    /// ONNX models.
    pub onnx: OnnxFlags,
    /// QC limits (the source reference is added per scene).
    pub qc: QcConfig,
    /// How far the product's nodata share may exceed the source's.
    pub nodata_tolerance: f64,
    /// A static STAC collection (folder or URL) each published product's Item is added to.
    pub stac_collection: Option<String>,
    /// A STAC API collection (`API/collections/ID`, Transactions extension) each published product's Item is sent
    /// to.
    pub stac_publish: Option<String>,
    /// Where a message about each product goes (published, rejected, failed).
    pub notify: eoforge_products::Notifier,
}

impl PredictOptions {
    /// The options a product is made with, as recorded beside it and compared on reruns (a scene whose product
    /// was made with other options is not skipped as done).
    pub fn recorded(&self) -> serde_json::Map<String, serde_json::Value> {
        #[derive(serde::Serialize)]
        struct Recorded<'a> {
            stage: &'static str,
            model: String,
            scale: usize,
            out_dtype: Option<&'static str>,
            out_nodata: Option<f64>,
            input_bands: &'a Option<Vec<usize>>,
            window: usize,
            halo: usize,
            blend: Blend,
            aoi: Option<LonLatBox>,
            derivatives: &'a [Derivative],
            quality_band: bool,
            band_roles: eoforge_engine::BandRoles,
            reflectance: [f64; 2],
            compression: Compression,
            blocksize: usize,
            resampling: OverviewResampling,
            trained: TrainedOptions,
            onnx: &'a OnnxFlags,
        }
        let recorded = Recorded {
            stage: "predict",
            model: self.model.name(),
            scale: self.scale,
            out_dtype: self.out_dtype.map(DataType::name),
            out_nodata: self.out_nodata,
            input_bands: &self.input_bands,
            window: self.window,
            halo: self.halo,
            blend: self.blend,
            aoi: self.aoi,
            derivatives: &self.derivatives.kinds,
            quality_band: self.quality_band,
            band_roles: self.derivatives.roles,
            reflectance: [self.derivatives.scale, self.derivatives.offset],
            compression: self.compression,
            blocksize: self.blocksize,
            resampling: self.resampling,
            trained: self.trained,
            onnx: &self.onnx,
        };
        match serde_json::to_value(recorded) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}
