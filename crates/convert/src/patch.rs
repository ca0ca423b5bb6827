//! Reading one BigEarthNet patch: 12 Sentinel-2 bands at 10/20/60 m resampled onto the 10 m grid of B02 and
//! stacked as `(12, 120, 120)` u16 in [`S2_BANDS`] order, optional Sentinel-1 VV/VH as `(2, 120, 120)` f32,
//! and the 19-class multi-hot label vector.
//!
//! Resampling: 20 m and 60 m bands are upsampled with bilinear interpolation (reflectances are continuous; the
//! nearest neighbour would leave 2×2 and 6×6 blocks). The 10 m bands are read as they are.
//!
//! Reading: a patch's files are fetched whole first ([`fetch_local`] from disk, [`fetch_remote`] from object
//! storage with every file in flight at once), then decoded in memory ([`decode_patch`]); GDAL reads only what
//! the in-memory decoder declines, and both give the same values.

use std::collections::HashMap;

use bytes::Bytes;
use eoforge_catalog::labels::{BEN19, LabelClass, class19, multi_hot19};
use eoforge_catalog::{LABEL_RASTER, PatchRecord, S1_BANDS, S2_BANDS, Sensor};
use eoforge_raster::{DecodedBand, Grid, Pixel, Raster, Resampling, Window, decode_geotiff, upsample_bilinear};
use eoforge_shards::{Sample, Tensor};
use eoforge_storage::{StoreOptions, StoreUrl, UrlReader};
use ndarray::{Array1, Array2, Array3, Axis, s};

/// Grid size of a BigEarthNet patch at 10 m.
pub const PATCH_SIZE: usize = 120;

/// A converted patch.
#[derive(Clone, Debug)]
pub struct PatchData {
    /// Sentinel-2 stack `(12, 120, 120)`.
    pub s2: Array3<u16>,
    /// Sentinel-1 stack `(2, 120, 120)` (VV, VH in dB), when requested.
    pub s1: Option<Array3<f32>>,
    /// 19-class multi-hot labels.
    pub labels: [u8; 19],
    /// Per-pixel class raster `(120, 120)` (nearest-neighbour onto the 10 m grid), when the catalog has one.
    pub mask: Option<ndarray::Array2<u16>>,
}

/// Why a patch could not be read; the conversion reports it with the patch id.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The catalog row has no URL for a band the conversion needs.
    #[error("the catalog has no path for {band} (run gen-metadata)")]
    MissingPath {
        /// Band (`B04`, `VV`) or `label_raster`.
        band: String,
    },
    /// A band's file could not be fetched from its store.
    #[error("{band}: {error}")]
    Fetch {
        /// The band.
        band: String,
        /// The storage error (it names the URL).
        error: Box<eoforge_storage::Error>,
    },
    /// A band's file could not be decoded or resampled.
    #[error("{band}: {error}")]
    Read {
        /// The band.
        band: String,
        /// The raster error (it names the file).
        error: Box<eoforge_raster::Error>,
    },
    /// A band has the wrong size or georeferencing for its patch.
    #[error("{band}: {reason}")]
    Shape {
        /// The band.
        band: String,
        /// What is wrong.
        reason: String,
    },
    /// Every Sentinel-2 value is 0 (nodata).
    #[error("all Sentinel-2 values are 0 (nodata)")]
    AllNodata,
}

/// The encoded files of a patch fetched ahead of decoding, by URL. A file not held here is read through GDAL.
#[derive(Clone, Debug, Default)]
pub struct PatchFiles(pub HashMap<String, Bytes>);

/// The URLs a patch needs, with the band name each is reported as: the 12 Sentinel-2 bands, then VV/VH and the
/// label raster when asked for.
pub fn patch_urls(record: &PatchRecord, with_s1: bool, with_mask: bool) -> Result<Vec<(String, &str)>, PatchError> {
    let missing = |band: &str| PatchError::MissingPath { band: format!("band {band}") };
    let mut urls = Vec::with_capacity(S2_BANDS.len() + 3);
    for band in S2_BANDS {
        urls.push((format!("band {band}"), record.path(Sensor::S2, band).ok_or_else(|| missing(band))?));
    }
    if with_s1 {
        for band in S1_BANDS {
            urls.push((format!("band {band}"), record.path(Sensor::S1, band).ok_or_else(|| missing(band))?));
        }
    }
    if with_mask {
        let url =
            record.paths.get(LABEL_RASTER).ok_or_else(|| PatchError::MissingPath { band: LABEL_RASTER.into() })?;
        urls.push((LABEL_RASTER.to_owned(), url.as_str()));
    }
    Ok(urls)
}

/// Reads the patch's local files (`file://` URLs and plain paths) into memory; remote ones are left to GDAL.
pub fn fetch_local(record: &PatchRecord, with_s1: bool, with_mask: bool) -> Result<PatchFiles, PatchError> {
    let mut files = PatchFiles::default();
    for (band, url) in patch_urls(record, with_s1, with_mask)? {
        let Some(path) = StoreUrl::parse(url).ok().and_then(|u| u.local_path()) else { continue };
        let bytes = std::fs::read(&path).map_err(|e| {
            let error = if e.kind() == std::io::ErrorKind::NotFound {
                eoforge_raster::Error::NotFound { path: url.to_owned() }
            } else {
                eoforge_raster::Error::Open { path: url.to_owned(), reason: e.to_string() }
            };
            PatchError::Read { band: band.clone(), error: Box::new(error) }
        })?;
        files.0.insert(url.to_owned(), Bytes::from(bytes));
    }
    Ok(files)
}

/// Fetches every file of the patch concurrently through `reader` (one request per file, all in flight at once).
pub async fn fetch_remote(
    reader: &UrlReader,
    record: &PatchRecord,
    with_s1: bool,
    with_mask: bool,
) -> Result<PatchFiles, PatchError> {
    let urls = patch_urls(record, with_s1, with_mask)?;
    let got = futures::future::join_all(urls.iter().map(|(_, url)| reader.get(url))).await;
    let mut files = PatchFiles::default();
    for ((band, url), bytes) in urls.into_iter().zip(got) {
        let bytes = bytes.map_err(|error| PatchError::Fetch { band, error: Box::new(error) })?;
        files.0.insert(url.to_owned(), bytes);
    }
    Ok(files)
}

/// Reads a patch from its files on disk or through GDAL (the whole of [`fetch_local`] then [`decode_patch`]).
/// With `with_mask`, the patch's `label_raster` is read onto the 10 m grid with nearest-neighbour resampling
/// (class values are kept).
pub fn read_patch(
    record: &PatchRecord,
    with_s1: bool,
    with_mask: bool,
    options: &StoreOptions,
) -> Result<PatchData, PatchError> {
    let files = fetch_local(record, with_s1, with_mask)?;
    decode_patch(record, &files, with_s1, with_mask, options)
}

/// Decodes a patch from its fetched files. Files in the layouts [`eoforge_raster::decode_geotiff`] reads are
/// decoded in memory and upsampled exactly as GDAL would; anything else (another layout, a nodata value, a grid
/// that is not the band's whole extent) is read through GDAL, so the result is the same either way.
pub fn decode_patch(
    record: &PatchRecord,
    files: &PatchFiles,
    with_s1: bool,
    with_mask: bool,
    options: &StoreOptions,
) -> Result<PatchData, PatchError> {
    let urls = patch_urls(record, with_s1, with_mask)?;
    let band = |i: usize| Band { name: &urls[i].0, url: urls[i].1, bytes: files.0.get(urls[i].1), options };
    let reference = band(1).decode::<u16>()?; // B02
    let (pixels, transform) = match reference {
        Decoded::Memory(b) => (b.pixels, b.transform),
        Decoded::Gdal(raster) => {
            let plane = raster.read_window::<u16>(Window::full(raster.width(), raster.height()), Some(&[1]));
            let plane = plane.map_err(|error| PatchError::Read { band: urls[1].0.clone(), error: Box::new(error) })?;
            (plane.index_axis(Axis(0), 0).to_owned(), raster.geo_transform())
        }
    };
    if pixels.dim() != (PATCH_SIZE, PATCH_SIZE) {
        let (h, w) = pixels.dim();
        return Err(PatchError::Shape {
            band: urls[1].0.clone(),
            reason: format!("{w}x{h} pixels, expected {PATCH_SIZE}x{PATCH_SIZE} at 10 m"),
        });
    }
    let transform =
        transform.ok_or_else(|| PatchError::Shape { band: urls[1].0.clone(), reason: "not georeferenced".into() })?;
    let grid = Grid { width: PATCH_SIZE, height: PATCH_SIZE, transform };
    let mut s2 = Array3::<u16>::zeros((S2_BANDS.len(), PATCH_SIZE, PATCH_SIZE));
    s2.slice_mut(s![1, .., ..]).assign(&pixels);
    for (i, name) in S2_BANDS.iter().enumerate().filter(|(_, b)| **b != "B02") {
        let plane = band(i).onto_grid::<u16>(&grid, Resampling::Bilinear, Some(expected_size(name)))?;
        s2.slice_mut(s![i, .., ..]).assign(&plane);
    }
    if s2.iter().all(|v| *v == 0) {
        return Err(PatchError::AllNodata);
    }
    let mut next = S2_BANDS.len();
    let s1 = if with_s1 {
        let mut stack = Array3::<f32>::zeros((S1_BANDS.len(), PATCH_SIZE, PATCH_SIZE));
        for i in 0..S1_BANDS.len() {
            let plane = band(next + i).onto_grid::<f32>(&grid, Resampling::Bilinear, None)?;
            stack.slice_mut(s![i, .., ..]).assign(&plane);
        }
        next += S1_BANDS.len();
        Some(stack)
    } else {
        None
    };
    let mask = if with_mask { Some(band(next).onto_grid::<u16>(&grid, Resampling::Nearest, None)?) } else { None };
    Ok(PatchData { s2, s1, labels: multi_hot19(&record.labels), mask })
}

/// 20 m bands must be 60x60, 60 m bands 20x20 and the others 120x120: anything else is a wrong-size patch, not
/// something to resample.
fn expected_size(band: &str) -> usize {
    match band {
        "B05" | "B06" | "B07" | "B8A" | "B11" | "B12" => 60,
        "B01" | "B09" => 20,
        _ => PATCH_SIZE,
    }
}

/// One file of a patch: its band name for messages, URL, fetched bytes (if any) and store settings for GDAL.
struct Band<'a> {
    name: &'a str,
    url: &'a str,
    bytes: Option<&'a Bytes>,
    options: &'a StoreOptions,
}

/// A band decoded in memory, or opened through GDAL when the decoder declines its layout.
enum Decoded<T> {
    Memory(DecodedBand<T>),
    Gdal(Raster),
}

impl Band<'_> {
    fn read_err(&self) -> impl FnOnce(eoforge_raster::Error) -> PatchError + '_ {
        |error| PatchError::Read { band: self.name.to_owned(), error: Box::new(error) }
    }

    fn decode<T: Pixel>(&self) -> Result<Decoded<T>, PatchError> {
        if let Some(bytes) = self.bytes
            && let Some(band) = decode_geotiff::<T>(bytes, self.url).map_err(self.read_err())?
        {
            return Ok(Decoded::Memory(band));
        }
        Raster::open_with(self.url, self.options).map(Decoded::Gdal).map_err(self.read_err())
    }

    /// The band on `grid`: a band of the grid's size is taken as it is; otherwise it must be `size`² pixels
    /// (when given) and is resampled onto the grid with `resampling`, in memory when the band covers exactly the
    /// grid by an integer factor and has no nodata, else through GDAL.
    fn onto_grid<T: Pixel>(
        &self,
        grid: &Grid,
        resampling: Resampling,
        size: Option<usize>,
    ) -> Result<Array2<T>, PatchError> {
        let shape_err = |reason: String| PatchError::Shape { band: self.name.to_owned(), reason };
        let check_size = |w: usize, h: usize| match size {
            Some(n) if (w, h) != (n, n) => Err(shape_err(format!("{w}x{h} pixels, expected {n}x{n}"))),
            _ => Ok(()),
        };
        let raster = match self.decode::<T>()? {
            Decoded::Memory(band) => {
                let (h, w) = band.pixels.dim();
                if size.is_some() && (w, h) == (grid.width, grid.height) {
                    return Ok(band.pixels);
                }
                check_size(w, h)?;
                if let Some(plane) = in_memory_onto_grid(&band, grid, resampling) {
                    return Ok(plane);
                }
                Raster::open_with(self.url, self.options).map_err(self.read_err())?
            }
            Decoded::Gdal(raster) => raster,
        };
        let (w, h) = (raster.width(), raster.height());
        let plane = if size.is_some() && (w, h) == (grid.width, grid.height) {
            raster.read_window::<T>(Window::full(w, h), Some(&[1]))
        } else {
            check_size(w, h)?;
            raster.read_onto_grid::<T>(grid, Some(&[1]), resampling)
        }
        .map_err(self.read_err())?;
        Ok(plane.index_axis(Axis(0), 0).to_owned())
    }
}

/// `band` on `grid` without GDAL, when the band's extent is exactly the grid's and the grid is finer by a whole
/// factor: the band itself at factor 1, each pixel repeated for nearest, [`upsample_bilinear`] for bilinear
/// (without nodata, as GDAL's masked path differs). `None` for anything else.
fn in_memory_onto_grid<T: Pixel>(band: &DecodedBand<T>, grid: &Grid, resampling: Resampling) -> Option<Array2<T>> {
    let transform = band.transform?;
    if !transform.is_north_up() || !grid.transform.is_north_up() {
        return None;
    }
    let (h, w) = band.pixels.dim();
    let b = grid.bounds();
    let (c0, r0) = transform.map_to_pixel(b.min_x, b.max_y)?;
    let (c1, r1) = transform.map_to_pixel(b.max_x, b.min_y)?;
    let whole = |v: f64, want: usize| (v - want as f64).abs() < 1e-6;
    if !(whole(c0, 0) && whole(r0, 0) && whole(c1, w) && whole(r1, h)) {
        return None;
    }
    if !grid.width.is_multiple_of(w) || !grid.height.is_multiple_of(h) || grid.width / w != grid.height / h {
        return None;
    }
    let factor = grid.width / w;
    match resampling {
        _ if factor == 1 => Some(band.pixels.clone()),
        Resampling::Nearest => {
            Some(Array2::from_shape_fn((grid.height, grid.width), |(r, c)| band.pixels[[r / factor, c / factor]]))
        }
        Resampling::Bilinear if band.nodata.is_none() => upsample_bilinear(&band.pixels.view(), factor),
        _ => None,
    }
}

/// The shard sample of a patch: tensors `s2` (and `s1`), `labels` (19,) u8, and JSON metadata.
pub fn to_sample(record: &PatchRecord, split: &str, data: &PatchData) -> Sample {
    let mut tensors = vec![Tensor::new("s2", &data.s2.view().into_dyn())];
    if let Some(s1) = &data.s1 {
        tensors.push(Tensor::new("s1", &s1.view().into_dyn()));
    }
    tensors.push(Tensor::new("labels", &Array1::from(data.labels.to_vec()).view().into_dyn()));
    if let Some(mask) = &data.mask {
        tensors.push(Tensor::new("mask", &mask.view().into_dyn()));
    }
    let labels19: Vec<&str> = record
        .labels
        .iter()
        .filter_map(|l| match class19(l) {
            Some(LabelClass::Class(i)) => Some(BEN19[i]),
            _ => None,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let meta = serde_json::json!({
        "patch_id": record.patch_id,
        "split": split,
        "labels": record.labels,
        "labels19": labels19,
        "country": record.country,
        "s1_name": record.s1_name,
        "s2_bands": S2_BANDS,
    });
    Sample { key: record.patch_id.clone(), tensors, meta }
}
