//! Decoding small single-band GeoTIFFs from bytes in memory, without GDAL.
//!
//! Opening a file through GDAL costs far more than its pixels when the file is a 120×120 patch (the driver
//! probes the file, builds the CRS, allocates block caches); training-data conversion reads millions of them.
//! [`decode_geotiff`] reads the common layouts straight from the bytes — one sample per pixel, uncompressed,
//! LZW or DEFLATE, horizontal predictor, strips or tiles, classic TIFF or BigTIFF, either byte order — and says
//! `None` for anything else, so the caller reads that file through GDAL instead. Only the TIFF itself is read:
//! sidecar files (`.aux.xml`, world files) that GDAL would also consult are not.

use std::collections::HashMap;
use std::io::Read;

use ndarray::Array2;

use crate::dtype::{DataType, Pixel};
use crate::error::{Error, Result};
use crate::geo::GeoTransform;

/// One band decoded by [`decode_geotiff`].
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedBand<T> {
    /// Pixels, `(rows, cols)`.
    pub pixels: Array2<T>,
    /// The band's data type in the file (the pixels are converted losslessly to `T`).
    pub dtype: DataType,
    /// Geotransform from the GeoTIFF tags, as GDAL derives it; `None` when the file has none.
    pub transform: Option<GeoTransform>,
    /// The `GDAL_NODATA` value, if any.
    pub nodata: Option<f64>,
}

const IMAGE_WIDTH: u16 = 256;
const IMAGE_LENGTH: u16 = 257;
const BITS_PER_SAMPLE: u16 = 258;
const COMPRESSION: u16 = 259;
const STRIP_OFFSETS: u16 = 273;
const SAMPLES_PER_PIXEL: u16 = 277;
const ROWS_PER_STRIP: u16 = 278;
const STRIP_BYTE_COUNTS: u16 = 279;
const PREDICTOR: u16 = 317;
const TILE_WIDTH: u16 = 322;
const TILE_LENGTH: u16 = 323;
const TILE_OFFSETS: u16 = 324;
const TILE_BYTE_COUNTS: u16 = 325;
const SAMPLE_FORMAT: u16 = 339;
const MODEL_PIXEL_SCALE: u16 = 33550;
const MODEL_TIEPOINT: u16 = 33922;
const MODEL_TRANSFORMATION: u16 = 34264;
const GEO_KEY_DIRECTORY: u16 = 34735;
const GDAL_NODATA: u16 = 42113;
/// GeoKey `GTRasterTypeGeoKey`; value 2 is PixelIsPoint, which GDAL shifts by half a pixel.
const RASTER_TYPE_KEY: u16 = 1025;

/// Decodes the first image of a GeoTIFF held in `bytes` as `T`, when its layout is one this decoder reads and its
/// type converts to `T` without loss; `Ok(None)` otherwise (read it through GDAL). A file that claims a layout
/// its bytes do not hold (truncated strips, bad offsets, a failing decompression) is an error naming `location`.
pub fn decode_geotiff<T: Pixel>(bytes: &[u8], location: &str) -> Result<Option<DecodedBand<T>>> {
    let corrupt = |reason: String| Error::Read { path: location.to_owned(), what: "TIFF structure".into(), reason };
    let Some(ifd) = Ifd::first(bytes).map_err(corrupt)? else { return Ok(None) };
    let Some(layout) = Layout::of(&ifd).map_err(corrupt)? else { return Ok(None) };
    if !layout.dtype.fits_in(T::DTYPE) {
        return Ok(None);
    }
    let Some(transform) = transform(&ifd).map_err(corrupt)? else { return Ok(None) };
    if transform.is_some_and(|t| t.0[5] > 0.0) {
        return Ok(None); // bottom-up rows: GDAL's reader turns them north-up
    }
    let nodata = ifd.ascii(GDAL_NODATA).map_err(corrupt)?.and_then(|s| s.trim().parse::<f64>().ok());
    let raw = layout.read_samples(&ifd).map_err(|reason| Error::Read {
        path: location.to_owned(),
        what: "pixels".into(),
        reason,
    })?;
    let pixels = convert::<T>(&raw, layout.dtype);
    let pixels = Array2::from_shape_vec((layout.height, layout.width), pixels).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some(DecodedBand { pixels, dtype: layout.dtype, transform, nodata }))
}

/// Little-endian sample bytes of type `dtype` to `T` (a lossless conversion: `dtype` fits in `T`).
fn convert<T: Pixel>(raw: &[u8], dtype: DataType) -> Vec<T> {
    fn via<S: Pixel, T: Pixel>(raw: &[u8]) -> Vec<T> {
        let size = S::DTYPE.size();
        if S::DTYPE == T::DTYPE {
            return raw.chunks_exact(size).map(T::read_le).collect();
        }
        raw.chunks_exact(size).map(|c| T::from_f64(S::read_le(c).to_f64())).collect()
    }
    match dtype {
        // The decoder declines signed bytes (GDAL reads them).
        DataType::Int8 | DataType::UInt8 => via::<u8, T>(raw),
        DataType::UInt16 => via::<u16, T>(raw),
        DataType::Int16 => via::<i16, T>(raw),
        DataType::UInt32 => via::<u32, T>(raw),
        DataType::Int32 => via::<i32, T>(raw),
        DataType::Float32 => via::<f32, T>(raw),
        DataType::Float64 => via::<f64, T>(raw),
    }
}

/// The geotransform GDAL derives from the tags: `Ok(Some(None))` without georeferencing, `Ok(None)` for the
/// cases left to GDAL (PixelIsPoint, tiepoint grids).
#[allow(clippy::option_option)]
fn transform(ifd: &Ifd<'_>) -> std::result::Result<Option<Option<GeoTransform>>, String> {
    if let Some(keys) = ifd.uints(GEO_KEY_DIRECTORY)? {
        // Header of four shorts, then (key, location, count, value) entries; location 0 means the value is inline.
        let entries = keys.get(4..).unwrap_or_default();
        for entry in entries.chunks_exact(4) {
            if entry[0] == u64::from(RASTER_TYPE_KEY) && entry[1] == 0 && entry[3] == 2 {
                return Ok(None);
            }
        }
    }
    if let Some(m) = ifd.doubles(MODEL_TRANSFORMATION)? {
        if m.len() < 16 {
            return Err(format!("ModelTransformationTag holds {} values, not 16", m.len()));
        }
        return Ok(Some(Some(GeoTransform([m[3], m[0], m[1], m[7], m[4], m[5]]))));
    }
    match (ifd.doubles(MODEL_PIXEL_SCALE)?, ifd.doubles(MODEL_TIEPOINT)?) {
        (Some(scale), Some(tie)) if scale.len() >= 2 && tie.len() == 6 => {
            let (sx, sy) = (scale[0], scale[1]);
            Ok(Some(Some(GeoTransform([tie[3] - tie[0] * sx, sx, 0.0, tie[4] + tie[1] * sy, 0.0, -sy]))))
        }
        (None, None) => Ok(Some(None)),
        _ => Ok(None),
    }
}

/// What the image's tags say about its pixels.
struct Layout {
    width: usize,
    height: usize,
    dtype: DataType,
    compression: Compression,
    predictor: bool,
    /// Chunk (strip or tile) width and height; strips span the image width.
    chunk: (usize, usize),
    offsets: Vec<u64>,
    counts: Vec<u64>,
}

#[derive(Clone, Copy)]
enum Compression {
    None,
    Lzw,
    Deflate,
}

impl Layout {
    fn of(ifd: &Ifd<'_>) -> std::result::Result<Option<Self>, String> {
        let one =
            |tag| -> std::result::Result<Option<u64>, String> { Ok(ifd.uints(tag)?.and_then(|v| v.first().copied())) };
        let (Some(width), Some(height)) = (one(IMAGE_WIDTH)?, one(IMAGE_LENGTH)?) else {
            return Err("no ImageWidth/ImageLength".into());
        };
        if one(SAMPLES_PER_PIXEL)?.unwrap_or(1) != 1 {
            return Ok(None);
        }
        let bits = one(BITS_PER_SAMPLE)?.unwrap_or(1);
        let dtype = match (one(SAMPLE_FORMAT)?.unwrap_or(1), bits) {
            (1, 8) => DataType::UInt8,
            (1, 16) => DataType::UInt16,
            (2, 16) => DataType::Int16,
            (1, 32) => DataType::UInt32,
            (2, 32) => DataType::Int32,
            (3, 32) => DataType::Float32,
            (3, 64) => DataType::Float64,
            _ => return Ok(None),
        };
        let compression = match one(COMPRESSION)?.unwrap_or(1) {
            1 => Compression::None,
            5 => Compression::Lzw,
            8 | 32946 => Compression::Deflate,
            _ => return Ok(None),
        };
        let predictor = match one(PREDICTOR)?.unwrap_or(1) {
            1 => false,
            2 if !dtype.is_float() => true,
            _ => return Ok(None),
        };
        let (width, height) = (width as usize, height as usize);
        let (chunk, offsets, counts) = if let (Some(tw), Some(th)) = (one(TILE_WIDTH)?, one(TILE_LENGTH)?) {
            ((tw as usize, th as usize), ifd.uints(TILE_OFFSETS)?, ifd.uints(TILE_BYTE_COUNTS)?)
        } else {
            let rows = one(ROWS_PER_STRIP)?.map_or(height, |r| (r as usize).min(height));
            ((width, rows), ifd.uints(STRIP_OFFSETS)?, ifd.uints(STRIP_BYTE_COUNTS)?)
        };
        let (Some(offsets), Some(counts)) = (offsets, counts) else {
            return Err("no strip or tile offsets".into());
        };
        if width == 0 || height == 0 || chunk.0 == 0 || chunk.1 == 0 {
            return Err(format!("empty image or chunk ({width}x{height}, chunks {}x{})", chunk.0, chunk.1));
        }
        let wanted = width.div_ceil(chunk.0) * height.div_ceil(chunk.1);
        if offsets.len() < wanted || counts.len() < wanted {
            return Err(format!(
                "{wanted} strips or tiles expected, the file lists {}",
                offsets.len().min(counts.len())
            ));
        }
        Ok(Some(Self { width, height, dtype, compression, predictor, chunk, offsets, counts }))
    }

    /// All samples in row order, little-endian.
    fn read_samples(&self, ifd: &Ifd<'_>) -> std::result::Result<Vec<u8>, String> {
        let size = self.dtype.size();
        let (cw, ch) = self.chunk;
        let across = self.width.div_ceil(cw);
        let row_bytes = self.width * size;
        let mut out = vec![0u8; row_bytes * self.height];
        let mut scratch = Vec::new();
        for (index, (&offset, &count)) in self.offsets.iter().zip(&self.counts).enumerate() {
            let (cx, cy) = (index % across, index / across);
            if cy * ch >= self.height {
                break;
            }
            // Strips may stop at the last image row; tiles are always whole.
            let rows = if cw == self.width { ch.min(self.height - cy * ch) } else { ch };
            let expected = cw * rows * size;
            let start = usize::try_from(offset).map_err(|_| format!("chunk {index} offset {offset} is too large"))?;
            let stored = start
                .checked_add(count as usize)
                .and_then(|end| ifd.bytes.get(start..end))
                .ok_or_else(|| format!("chunk {index} ({count} bytes at {offset}) lies past the end of the file"))?;
            let data: &[u8] = match self.compression {
                Compression::None => stored,
                Compression::Lzw => {
                    scratch = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                        .decode(stored)
                        .map_err(|e| format!("chunk {index}: LZW: {e}"))?;
                    &scratch
                }
                Compression::Deflate => {
                    scratch.clear();
                    flate2::read::ZlibDecoder::new(stored)
                        .take(expected as u64)
                        .read_to_end(&mut scratch)
                        .map_err(|e| format!("chunk {index}: DEFLATE: {e}"))?;
                    &scratch
                }
            };
            let data = data
                .get(..expected)
                .ok_or_else(|| format!("chunk {index} holds {} bytes, {expected} expected", data.len()))?;
            let chunk_row = cw * size;
            for r in 0..rows {
                let y = cy * ch + r;
                if y >= self.height {
                    break;
                }
                let x0 = cx * cw;
                let take = cw.min(self.width - x0) * size;
                let dst = &mut out[y * row_bytes + x0 * size..][..take];
                let src = &data[r * chunk_row..][..chunk_row];
                dst.copy_from_slice(&src[..take]);
                if ifd.big_endian && size > 1 {
                    dst.chunks_exact_mut(size).for_each(<[u8]>::reverse);
                }
                if self.predictor {
                    // Horizontal differencing restarts at every chunk row, so undo it over the chunk's full row.
                    undo_predictor(dst, size);
                }
            }
        }
        Ok(out)
    }
}

/// Undoes the horizontal predictor on one chunk row (or its first part) already copied little-endian into `dst`:
/// each sample is the wrapping sum of its difference and the sample before it.
fn undo_predictor(dst: &mut [u8], size: usize) {
    let n = dst.len() / size;
    match size {
        1 => {
            for i in 1..n {
                dst[i] = dst[i].wrapping_add(dst[i - 1]);
            }
        }
        2 => {
            let mut previous = u16::from_le_bytes([dst[0], dst[1]]);
            for i in 1..n {
                let at = &mut dst[i * 2..i * 2 + 2];
                previous = previous.wrapping_add(u16::from_le_bytes([at[0], at[1]]));
                at.copy_from_slice(&previous.to_le_bytes());
            }
        }
        _ => {
            let mut previous = u32::from_le_bytes([dst[0], dst[1], dst[2], dst[3]]);
            for i in 1..n {
                let at = &mut dst[i * 4..i * 4 + 4];
                previous = previous.wrapping_add(u32::from_le_bytes([at[0], at[1], at[2], at[3]]));
                at.copy_from_slice(&previous.to_le_bytes());
            }
        }
    }
}

/// The first image file directory: tag → (type, count, position of the value in the file).
struct Ifd<'a> {
    bytes: &'a [u8],
    big_endian: bool,
    entries: HashMap<u16, (u16, u64, usize)>,
}

impl<'a> Ifd<'a> {
    /// Parses the header and first IFD; `Ok(None)` when the bytes are not a TIFF.
    fn first(bytes: &'a [u8]) -> std::result::Result<Option<Self>, String> {
        let big_endian = match bytes.get(..2) {
            Some(b"II") => false,
            Some(b"MM") => true,
            _ => return Ok(None),
        };
        let mut ifd = Self { bytes, big_endian, entries: HashMap::new() };
        let short_at = |at| ifd.read_uint(at, 2);
        let (big_tiff, first) = match short_at(2)? {
            42 => (false, ifd.read_uint(4, 4)?),
            43 => (true, ifd.read_uint(8, 8)?),
            _ => return Ok(None),
        };
        let at = usize::try_from(first).map_err(|_| "IFD offset too large".to_owned())?;
        let (count, entry_size, inline, mut pos) = if big_tiff {
            (ifd.read_uint(at, 8)?, 20usize, 8u64, at + 8)
        } else {
            (ifd.read_uint(at, 2)?, 12, 4, at + 2)
        };
        for _ in 0..count {
            let tag = ifd.read_uint(pos, 2)? as u16;
            let kind = ifd.read_uint(pos + 2, 2)? as u16;
            let (n, value_at) =
                if big_tiff { (ifd.read_uint(pos + 4, 8)?, pos + 12) } else { (ifd.read_uint(pos + 4, 4)?, pos + 8) };
            let size = type_size(kind).unwrap_or(1);
            let total = n.checked_mul(size).ok_or_else(|| format!("tag {tag}: count {n} overflows"))?;
            let value_at = if total <= inline {
                value_at
            } else {
                let offset = ifd.read_uint(value_at, if big_tiff { 8 } else { 4 })?;
                usize::try_from(offset).map_err(|_| format!("tag {tag}: offset too large"))?
            };
            ifd.entries.insert(tag, (kind, n, value_at));
            pos += entry_size;
        }
        Ok(Some(ifd))
    }

    fn read_uint(&self, at: usize, size: usize) -> std::result::Result<u64, String> {
        let b = at.checked_add(size).and_then(|end| self.bytes.get(at..end)).ok_or_else(|| {
            format!("a field at byte {at} lies past the end of the file ({} bytes)", self.bytes.len())
        })?;
        let mut v = 0u64;
        if self.big_endian {
            for x in b {
                v = (v << 8) | u64::from(*x);
            }
        } else {
            for x in b.iter().rev() {
                v = (v << 8) | u64::from(*x);
            }
        }
        Ok(v)
    }

    fn values(&self, tag: u16) -> std::result::Result<Option<(u16, Vec<u64>)>, String> {
        let Some(&(kind, n, at)) = self.entries.get(&tag) else { return Ok(None) };
        let size = type_size(kind).ok_or_else(|| format!("tag {tag} has unknown type {kind}"))?;
        let n = usize::try_from(n).map_err(|_| format!("tag {tag}: count too large"))?;
        if n.saturating_mul(size as usize) > self.bytes.len() {
            return Err(format!("tag {tag}: {n} values do not fit in the file"));
        }
        let values = (0..n).map(|i| self.read_uint(at + i * size as usize, size as usize)).collect::<Result<_, _>>()?;
        Ok(Some((kind, values)))
    }

    /// An unsigned integer tag (BYTE, SHORT, LONG, LONG8).
    fn uints(&self, tag: u16) -> std::result::Result<Option<Vec<u64>>, String> {
        match self.values(tag)? {
            Some((1 | 3 | 4 | 16, v)) => Ok(Some(v)),
            Some((kind, _)) => Err(format!("tag {tag} has type {kind}, not an unsigned integer")),
            None => Ok(None),
        }
    }

    /// A DOUBLE tag.
    fn doubles(&self, tag: u16) -> std::result::Result<Option<Vec<f64>>, String> {
        match self.values(tag)? {
            Some((12, v)) => Ok(Some(v.into_iter().map(f64::from_bits).collect())),
            Some((kind, _)) => Err(format!("tag {tag} has type {kind}, not DOUBLE")),
            None => Ok(None),
        }
    }

    /// An ASCII tag, without its NUL terminator.
    fn ascii(&self, tag: u16) -> std::result::Result<Option<String>, String> {
        match self.values(tag)? {
            Some((2, v)) => Ok(Some(v.into_iter().take_while(|b| *b != 0).map(|b| b as u8 as char).collect())),
            Some((kind, _)) => Err(format!("tag {tag} has type {kind}, not ASCII")),
            None => Ok(None),
        }
    }
}

/// Bytes per value of a TIFF field type.
fn type_size(kind: u16) -> Option<u64> {
    match kind {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 | 16 | 17 | 18 => Some(8),
        _ => None,
    }
}
