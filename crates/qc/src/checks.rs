//! The checks a product must pass before it is published, and the report they produce.

use std::collections::BTreeMap;
use std::path::Path;

use eoforge_raster::{Crs, DataType, GeoTransform, Raster, check_cog, overview_factors};

use crate::error::{Error, Result};
use crate::stats::{BandStats, band_stats};

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Within limits.
    Pass,
    /// Outside limits: blocks publishing.
    Fail,
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Check {
    /// Check name (`overviews`, `band_2.nodata_fraction`, …).
    pub name: String,
    /// Pass or fail.
    pub status: Status,
    /// What was measured against what limit.
    pub detail: String,
}

/// Limits of the checks; `None` skips the check.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QcConfig {
    /// Expected band count.
    pub bands: Option<usize>,
    /// Expected data type.
    pub dtype: Option<DataType>,
    /// Minimum overview levels; `None` requires min(4, the levels needed to reach one 512 px tile).
    pub min_overviews: Option<usize>,
    /// Largest allowed share of nodata pixels per band, where no source fraction is known (see `source`).
    pub max_nodata_fraction: f64,
    /// What the product must agree with: its source's CRS, geotransform and nodata share.
    pub source: Option<SourceReference>,
    /// Allowed range of each band's mean.
    pub mean_range: Option<(f64, f64)>,
    /// Smallest allowed standard deviation per band (a constant band is a broken product).
    pub min_std: f64,
    /// Smallest allowed entropy per band, in bits.
    pub min_entropy: f64,
    /// Require the cloud-optimized layout (tiled, internal overviews, IFDs first, overview data before base).
    pub require_cog: bool,
    /// Require compression.
    pub require_compression: bool,
    /// Time limit per stage: fixed seconds plus seconds per megapixel of the product.
    pub stage_limit: Option<(f64, f64)>,
    /// A class map of these values: every valid pixel must hold one of them (`band_N.classes`) and some pixel
    /// must hold data (`band_N.has_data`); the checks for continuous products (not all zero, std, entropy) do
    /// not apply, as one class over the whole map (a cloud-free scene all "clear") is a valid map.
    pub class_values: Option<Vec<f64>>,
    /// Output values the writer clipped to the product's type (a super-resolved 8-bit scene): recorded in the
    /// report as the `clipped_pixels` check, which informs and never fails.
    pub clipped_pixels: Option<u64>,
    /// The product's quality band (1-based; `predict --quality-band`): checked to hold only 0 (no data), 1 (valid),
    /// 2 (input nodata near) and 3 (clipped), each counted (`band_N.quality`), instead of the data bands' checks.
    pub quality_band: Option<usize>,
}

impl Default for QcConfig {
    fn default() -> Self {
        Self {
            bands: None,
            dtype: None,
            min_overviews: None,
            max_nodata_fraction: 0.5,
            source: None,
            mean_range: None,
            min_std: 0.0,
            min_entropy: 0.0,
            require_cog: true,
            require_compression: true,
            stage_limit: None,
            class_values: None,
            clipped_pixels: None,
            quality_band: None,
        }
    }
}

/// What a product derived from a source must keep: its CRS, its geotransform (with pixels `scale` times smaller),
/// and no more nodata than the source had plus a tolerance.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SourceReference {
    /// The source (path or URL), for the report.
    pub location: String,
    /// The source's CRS (`None`: the product must have none either).
    pub crs: Option<Crs>,
    /// The geotransform the product must have (the source's, shifted to a crop and scaled); `None` = none.
    pub geo_transform: Option<GeoTransform>,
    /// The source's nodata share (of the same pixels), per band or one for all; empty when unknown.
    pub nodata_fraction: Vec<f64>,
    /// How much more nodata than the source a product may have.
    pub nodata_tolerance: f64,
}

/// The QC report, written as JSON whether the product passes or not.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QcReport {
    /// The product.
    pub path: String,
    /// True when no check failed.
    pub passed: bool,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Per-band statistics.
    pub bands: Vec<BandStats>,
    /// File size in bytes.
    pub file_bytes: u64,
    /// Uncompressed size of all levels over file size.
    pub compression_ratio: f64,
    /// The limits used.
    pub config: QcConfig,
}

impl QcReport {
    /// The failed checks, as `name: detail` joined by `; `.
    pub fn failures(&self) -> String {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `Ok` when passed, else [`Error::Blocked`] naming the failed checks.
    pub fn gate(&self) -> Result<()> {
        if self.passed { Ok(()) } else { Err(Error::Blocked { path: self.path.clone(), failed: self.failures() }) }
    }

    /// Writes the report as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Report { path: path.display().to_string(), source: e.into() })?;
        std::fs::write(path, json).map_err(|source| Error::Report { path: path.display().to_string(), source })
    }
}

fn check(checks: &mut Vec<Check>, name: impl Into<String>, ok: bool, detail: String) {
    checks.push(Check { name: name.into(), status: if ok { Status::Pass } else { Status::Fail }, detail });
}

/// Runs every check on the local product at `path`; `stage_seconds` (from a run profile) feeds the timing checks.
/// An unreadable file is an error; everything else is a check in the report.
pub fn run_qc(path: &Path, config: &QcConfig, stage_seconds: &BTreeMap<String, f64>) -> Result<QcReport> {
    let shown = path.display().to_string();
    let raster = Raster::open(&shown)?;
    let info = raster.info()?;
    let mut checks = Vec::new();
    let (w, h) = (info.width, info.height);

    if let Some(bands) = config.bands {
        check(
            &mut checks,
            "band_count",
            info.band_count == bands,
            format!("{} bands, expected {bands}", info.band_count),
        );
    }
    if let Some(dtype) = config.dtype {
        let found: Vec<&str> = info.bands.iter().map(|b| b.dtype.as_str()).collect();
        // GDAL names UInt8 `Byte`.
        let same = |d: &str| d == dtype.name() || (d == "Byte" && dtype == DataType::UInt8);
        check(
            &mut checks,
            "dtype",
            found.iter().all(|d| same(d)),
            format!("{}, expected {}", found.join(","), dtype.name()),
        );
    }
    let block = info.bands.first().map_or([0, 0], |b| b.block_size);
    // Square blocks of a multiple of 16 are tiles (a 408x652 raster in 512 px tiles is tiled); strips span the
    // width.
    let tiled = (w <= 512 && h <= 512) || (block[0] == block[1] && block[0] % 16 == 0 && block[0] > 0);
    check(&mut checks, "tiled", tiled, format!("block {}x{} on {w}x{h}", block[0], block[1]));
    let overviews = info.bands.first().map_or(0, |b| b.overviews);
    let needed = config.min_overviews.unwrap_or_else(|| overview_factors(w, h, 512).len().min(4));
    check(&mut checks, "overviews", overviews >= needed, format!("{overviews} levels, at least {needed} required"));
    if config.require_compression {
        let codec = info.compression.clone().unwrap_or_else(|| "NONE".into());
        check(&mut checks, "compression", codec != "NONE", codec.clone());
    }
    if config.require_cog {
        let cog = check_cog(path)?;
        check(
            &mut checks,
            "cog_layout",
            cog.is_valid(),
            if cog.is_valid() { "valid".into() } else { cog.errors.join("; ") },
        );
    }

    if let Some(source) = &config.source {
        georeference_checks(&mut checks, &raster, source);
    }

    let bands = band_stats(&raster)?;
    for s in &bands {
        let b = s.band;
        if config.quality_band == Some(b) {
            quality_check(&mut checks, s, raster.nodata(b)?);
            continue;
        }
        let source_fraction = config.source.as_ref().and_then(|src| {
            src.nodata_fraction.get(b - 1).or(src.nodata_fraction.first()).map(|f| (f, src.nodata_tolerance))
        });
        if let Some(classes) = &config.class_values {
            check(
                &mut checks,
                format!("band_{b}.has_data"),
                s.nodata < s.pixels,
                format!("{} of {} pixels are nodata", s.nodata, s.pixels),
            );
            let foreign: Vec<String> = match &s.value_counts {
                Some(counts) => counts
                    .iter()
                    .filter(|(v, _)| !classes.contains(&(*v as f64)))
                    .map(|(v, n)| format!("{v} ({n} px)"))
                    .collect(),
                None => vec![format!("values of a non-integer type from {} to {}", s.min, s.max)],
            };
            check(
                &mut checks,
                format!("band_{b}.classes"),
                foreign.is_empty(),
                if foreign.is_empty() {
                    format!("every value one of the {} classes", classes.len())
                } else {
                    format!("not classes of the map: {}", foreign.join(", "))
                },
            );
        } else {
            check(
                &mut checks,
                format!("band_{b}.not_all_zero"),
                s.zeros + s.nodata < s.pixels,
                format!("{} of {} pixels are 0 or nodata", s.zeros + s.nodata, s.pixels),
            );
        }
        match source_fraction {
            Some((&source, tolerance)) => check(
                &mut checks,
                format!("band_{b}.nodata_fraction"),
                s.nodata_fraction() <= source + tolerance,
                format!("{:.4}, at most the source's {source:.4} + {tolerance}", s.nodata_fraction()),
            ),
            None => check(
                &mut checks,
                format!("band_{b}.nodata_fraction"),
                s.nodata_fraction() <= config.max_nodata_fraction,
                format!("{:.4}, at most {}", s.nodata_fraction(), config.max_nodata_fraction),
            ),
        }
        if let Some((lo, hi)) = config.mean_range {
            check(
                &mut checks,
                format!("band_{b}.mean"),
                s.mean >= lo && s.mean <= hi,
                format!("{:.3}, expected {lo}..{hi}", s.mean),
            );
        }
        if config.class_values.is_none() {
            check(
                &mut checks,
                format!("band_{b}.std"),
                s.std > config.min_std,
                format!("{:.3}, must exceed {}", s.std, config.min_std),
            );
            check(
                &mut checks,
                format!("band_{b}.entropy"),
                s.entropy > config.min_entropy,
                format!("{:.3} bits, must exceed {}", s.entropy, config.min_entropy),
            );
        }
    }

    if let Some(clipped) = config.clipped_pixels {
        let values = (w * h) as u64 * bands.len() as u64;
        check(
            &mut checks,
            "clipped_pixels",
            true,
            format!("{clipped} of {values} values clipped to the {dtype} range", dtype = raster.dtype(1)?),
        );
    }

    if let Some((base, per_mpx)) = config.stage_limit {
        let mpx = (w * h) as f64 / 1e6;
        let limit = base + per_mpx * mpx;
        for (stage, seconds) in stage_seconds {
            check(
                &mut checks,
                format!("time.{stage}"),
                *seconds <= limit,
                format!("{seconds:.2} s, limit {limit:.2} s for {mpx:.1} Mpx"),
            );
        }
    }

    let file_bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    // Uncompressed bytes of every level (base plus each overview at half the size of the level above).
    let pixels: u64 = (0..=overviews).map(|k| (w.div_ceil(1 << k) * h.div_ceil(1 << k)) as u64).sum();
    let raw: u64 = info.bands.iter().map(|b| dtype_size(&b.dtype) * pixels).sum();
    let passed = checks.iter().all(|c| c.status == Status::Pass);
    let report = QcReport {
        path: shown,
        passed,
        checks,
        bands,
        file_bytes,
        compression_ratio: raw as f64 / file_bytes.max(1) as f64,
        config: config.clone(),
    };
    if !passed {
        tracing::warn!(path = %report.path, failed = %report.failures(), "QC failed");
    }
    Ok(report)
}

/// The quality band's values: only its four, each counted (a nodata value of 0 counts as "no data").
fn quality_check(checks: &mut Vec<Check>, s: &BandStats, nodata: Option<f64>) {
    const NAMES: [&str; 4] = ["no data", "valid", "input nodata near", "clipped"];
    let mut counts = [0u64; 4];
    let mut foreign = Vec::new();
    match &s.value_counts {
        Some(values) => {
            for &(v, n) in values {
                match usize::try_from(v).ok().filter(|v| *v < 4) {
                    Some(v) => counts[v] += n,
                    None => foreign.push(format!("{v} ({n} px)")),
                }
            }
        }
        None if s.min >= 0.0 && s.max <= 3.0 => {}
        None => foreign.push(format!("values from {} to {}", s.min, s.max)),
    }
    if nodata == Some(0.0) {
        counts[0] += s.nodata;
    } else if s.nodata > 0 {
        foreign.push(format!("{} px of the nodata value", s.nodata));
    }
    let told: Vec<String> =
        counts.iter().zip(NAMES).enumerate().map(|(v, (n, name))| format!("{v} ({name}): {n}")).collect();
    let detail = if foreign.is_empty() {
        told.join(", ")
    } else {
        format!("not quality values: {}; {}", foreign.join(", "), told.join(", "))
    };
    check(checks, format!("band_{}.quality", s.band), foreign.is_empty(), detail);
}

/// The product's CRS and geotransform against its source's.
fn georeference_checks(checks: &mut Vec<Check>, raster: &Raster, source: &SourceReference) {
    let crs = raster.crs();
    let (ok, detail) = match (&crs, &source.crs) {
        (Some(a), Some(b)) if a.is_same(b) => (true, format!("{} as in {}", a.label(), source.location)),
        (Some(a), Some(b)) => (false, format!("{}, but the source {} is {}", a.label(), source.location, b.label())),
        (None, None) => (true, "none, as the source".to_owned()),
        (None, Some(b)) => (false, format!("none, but the source {} is {}", source.location, b.label())),
        (Some(a), None) => (false, format!("{}, but the source {} has none", a.label(), source.location)),
    };
    check(checks, "crs", ok, detail);
    let gt = raster.geo_transform();
    let close = |a: &GeoTransform, b: &GeoTransform| {
        a.0.iter().zip(b.0).all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs().max(1.0) + 1e-9)
    };
    let (ok, detail) = match (&gt, &source.geo_transform) {
        (Some(a), Some(b)) if close(a, b) => (true, format!("{:?}", a.0)),
        (Some(a), Some(b)) => (false, format!("{:?}, expected {:?} from {}", a.0, b.0, source.location)),
        (None, None) => (true, "none, as the source".to_owned()),
        (a, b) => (false, format!("{:?}, expected {:?} from {}", a.map(|g| g.0), b.map(|g| g.0), source.location)),
    };
    check(checks, "geotransform", ok, detail);
}

fn dtype_size(name: &str) -> u64 {
    match name {
        "UInt8" | "Int8" => 1,
        "UInt16" | "Int16" => 2,
        "Float64" | "Int64" | "UInt64" | "CFloat32" => 8,
        _ => 4,
    }
}
