//! [`CogWriter`]: a streaming, parallel Cloud-Optimized GeoTIFF writer with bounded memory.
//!
//! Every tile is compressed exactly once, on all cores, as soon as it is complete. Overviews are reduced while
//! the base streams: a base tile fills one quadrant of its level-1 parent, a parent is compressed (and reduced
//! into its own parent) when its last child arrives. Compressed tiles wait in one temporary file per level;
//! `finish` writes the header and every IFD first, then copies the tile bytes smallest overview first and the
//! full resolution last — the layout GDAL's COG validator checks — without re-encoding anything.
//!
//! Memory holds the tiles waiting for compression and the incomplete overview parents: with tiles arriving in
//! column stripes of 2^k tiles (as [`translate_to_cog`] and the inference engine send them), a few stripe-wide
//! tiles per level, independent of the raster's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use ndarray::ArrayView3;
use rayon::prelude::*;

use crate::cog::CogReport;
use crate::dtype::{DataType, Pixel};
use crate::error::{Error, Result};
use crate::partial::PartialFile;
use crate::raster::Resampling;
use crate::tiff_ifd::{Value, ifd_size, write_ifd};
use crate::write::{BigTiff, Compression, RasterSpec};

/// Options of the streaming COG writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CogWriterOptions {
    /// Square tile size (multiple of 16).
    pub block_size: usize,
    /// Codec.
    pub compression: Compression,
    /// Differencing before compression: horizontal (TIFF predictor 2) for integers, floating point (predictor 3:
    /// bytes split into planes, then differenced) for Float32 and Float64.
    pub predictor: bool,
    /// Overview reduction: `Average` (nodata-aware mean of 2x2) or `Nearest` (top-left pixel, for classes).
    pub overview_resampling: Resampling,
    /// BigTIFF policy (`IfSafer` decides from the final size).
    pub bigtiff: BigTiff,
    /// Tiles compressed per parallel batch.
    pub batch: usize,
}

impl Default for CogWriterOptions {
    fn default() -> Self {
        Self {
            block_size: 512,
            compression: Compression::Lzw,
            predictor: true,
            overview_resampling: Resampling::Average,
            bigtiff: BigTiff::IfSafer,
            batch: 32,
        }
    }
}

/// A compressed tile and, below the top level, its reduced quadrant for the parent.
type Encoded<T> = (std::io::Result<Vec<u8>>, Option<Vec<T>>);

/// One pyramid level: its size and where its compressed tiles are.
struct Level {
    width: usize,
    height: usize,
    tiles_x: usize,
    tiles_y: usize,
    file: BufWriter<File>,
    path: PathBuf,
    written: u64,
    /// (offset in the level file, size) per tile, row-major; `None` until written.
    tiles: Vec<Option<(u64, u64)>>,
}

/// An overview tile being filled by its children.
struct Parent<T> {
    data: Vec<T>,
    children: usize,
}

/// Streams tiles into a COG. See the module documentation.
pub struct CogWriter<T: Pixel> {
    spec: RasterSpec,
    options: CogWriterOptions,
    levels: Vec<Level>,
    parents: HashMap<(usize, usize, usize), Parent<T>>,
    pending: Vec<(usize, usize, Vec<T>)>,
    fill: T,
    /// Palette of a one-band UInt8 raster: 256 RGB entries (TIFF ColorMap).
    color_map: Option<Vec<[u8; 3]>>,
    /// Georeferencing and metadata tags of the first IFD, as GDAL writes them.
    header: Vec<(u16, Value)>,
    parts: tempfile::TempDir,
    output: PartialFile,
    _pixel: PhantomData<T>,
}

impl<T: Pixel> CogWriter<T> {
    /// Starts a COG at `dest` (written as `<dest>.partial` and renamed by [`CogWriter::finish`]).
    pub fn create(dest: &Path, spec: &RasterSpec, options: &CogWriterOptions) -> Result<Self> {
        let shown = dest.display().to_string();
        let invalid = |reason: String| Error::Invalid { path: shown.clone(), reason };
        if spec.width == 0 || spec.height == 0 || spec.bands == 0 {
            return Err(invalid(format!("empty raster {}x{}x{}", spec.bands, spec.height, spec.width)));
        }
        if options.block_size == 0 || !options.block_size.is_multiple_of(16) {
            return Err(invalid(format!("block size {} is not a positive multiple of 16", options.block_size)));
        }
        if spec.geo_transform.is_some_and(|g| !g.is_north_up()) {
            return Err(invalid("rotated geotransforms are not supported".into()));
        }
        let output = PartialFile::new(dest)?;
        let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let parts = tempfile::Builder::new().prefix(".eoforge-cog-parts-").tempdir_in(dir).map_err(|source| {
            Error::Io { operation: "create temporary folder in", path: dir.display().to_string(), source }
        })?;
        let header = crate::gtiff_header::header_tags::<T>(spec, parts.path(), &shown)?;
        let bs = options.block_size;
        let (mut w, mut h) = (spec.width, spec.height);
        let mut levels = Vec::new();
        loop {
            let path = parts.path().join(format!("level-{}.bin", levels.len()));
            let file = File::create(&path).map_err(|source| Error::Io {
                operation: "create",
                path: path.display().to_string(),
                source,
            })?;
            let (tiles_x, tiles_y) = (w.div_ceil(bs), h.div_ceil(bs));
            levels.push(Level {
                width: w,
                height: h,
                tiles_x,
                tiles_y,
                file: BufWriter::new(file),
                path,
                written: 0,
                tiles: vec![None; tiles_x * tiles_y],
            });
            if w.max(h) <= bs {
                break;
            }
            (w, h) = (w.div_ceil(2), h.div_ceil(2));
        }
        let fill = spec.nodata.map_or_else(T::default, T::from_f64);
        Ok(Self {
            spec: spec.clone(),
            options: options.clone(),
            levels,
            parents: HashMap::new(),
            pending: Vec::new(),
            fill,
            color_map: None,
            header,
            parts,
            output,
            _pixel: PhantomData,
        })
    }

    /// Number of base tiles across and down.
    pub fn blocks(&self) -> (usize, usize) {
        (self.levels[0].tiles_x, self.levels[0].tiles_y)
    }

    /// Number of overview levels that will be written.
    pub fn overview_count(&self) -> usize {
        self.levels.len() - 1
    }

    /// Writes base tile (`bx`, `by`); `data` is `(bands, rows, cols)` of the tile's window clipped to the raster.
    /// Tiles may come in any order. Incomplete overview parents stay in memory, so an order that completes them
    /// soon keeps memory low and independent of the raster's width: column stripes of 2^k tiles, each top to
    /// bottom, complete levels up to k inside the stripe.
    #[allow(clippy::needless_pass_by_value)] // array views are passed by value, like slices
    pub fn write_block(&mut self, bx: usize, by: usize, data: ArrayView3<'_, T>) -> Result<()> {
        let (nx, ny) = self.blocks();
        let bs = self.options.block_size;
        if bx >= nx || by >= ny {
            return Err(self.invalid(format!("tile {bx},{by} is outside the {nx}x{ny} tile grid")));
        }
        let (vw, vh) = (bs.min(self.spec.width - bx * bs), bs.min(self.spec.height - by * bs));
        if data.dim() != (self.spec.bands, vh, vw) {
            return Err(self.invalid(format!(
                "tile {bx},{by}: array shape {:?}, expected {:?}",
                data.dim(),
                (self.spec.bands, vh, vw)
            )));
        }
        if self.levels[0].tiles[by * nx + bx].is_some()
            || self.pending.iter().any(|(l, i, _)| *l == 0 && *i == by * nx + bx)
        {
            return Err(self.invalid(format!("tile {bx},{by} was already written")));
        }
        let tile = interleave(&data, bs, self.fill);
        self.accept(0, bx, by, tile)
    }

    /// Writes a base tile already laid out pixel-interleaved and padded to `block_size`² (shape checked by the
    /// caller, as in [`stream`]).
    fn write_interleaved(&mut self, bx: usize, by: usize, tile: Vec<T>) -> Result<()> {
        self.accept(0, bx, by, tile)
    }

    fn accept(&mut self, level: usize, tx: usize, ty: usize, tile: Vec<T>) -> Result<()> {
        self.pending.push((level, ty * self.levels[level].tiles_x + tx, tile));
        if self.pending.len() >= self.options.batch.max(1) {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Compresses the waiting tiles and computes their overview quadrants in parallel, then appends the bytes to
    /// the level files and places the quadrants into their parents; completed parents join the queue.
    fn flush_pending(&mut self) -> Result<()> {
        while !self.pending.is_empty() {
            let jobs = std::mem::take(&mut self.pending);
            let (bs, bands) = (self.options.block_size, self.spec.bands);
            let predictor = self.options.predictor;
            let compression = self.options.compression;
            let nearest = self.options.overview_resampling == Resampling::Nearest;
            let (nodata, fill) = (self.spec.nodata, self.fill);
            let top = self.levels.len() - 1;
            let extents: Vec<(usize, usize)> = jobs
                .iter()
                .map(|(level, index, _)| {
                    let l = &self.levels[*level];
                    let (tx, ty) = (index % l.tiles_x, index / l.tiles_x);
                    (bs.min(l.width - tx * bs), bs.min(l.height - ty * bs))
                })
                .collect();
            let done: Vec<Encoded<T>> = jobs
                .par_iter()
                .zip(extents.par_iter())
                .map(|((level, _, tile), &(vw, vh))| {
                    let quadrant = (*level < top).then(|| reduce(tile, bs, bands, vw, vh, nearest, nodata, fill));
                    (encode_tile(tile, bs, bands, predictor, compression), quadrant)
                })
                .collect();
            for ((level, index, _), (bytes, quadrant)) in jobs.into_iter().zip(done) {
                let path = self.output.dest().display().to_string();
                let bytes = bytes.map_err(|e| Error::Write { path, reason: format!("compressing a tile: {e}") })?;
                let lvl = &mut self.levels[level];
                lvl.file.write_all(&bytes).map_err(|source| Error::Io {
                    operation: "write",
                    path: lvl.path.display().to_string(),
                    source,
                })?;
                lvl.tiles[index] = Some((lvl.written, bytes.len() as u64));
                lvl.written += bytes.len() as u64;
                let (tx, ty) = (index % lvl.tiles_x, index / lvl.tiles_x);
                if let Some(q) = quadrant {
                    self.place(level, tx, ty, &q);
                }
            }
        }
        Ok(())
    }

    /// Puts a child's reduced quadrant into its parent; a parent with all its children joins the queue.
    fn place(&mut self, level: usize, tx: usize, ty: usize, quadrant: &[T]) {
        let (bs, bands) = (self.options.block_size, self.spec.bands);
        let half = bs / 2;
        let child = &self.levels[level];
        let (px, py) = (tx / 2, ty / 2);
        let expected = ((2 * px + 2).min(child.tiles_x) - 2 * px) * ((2 * py + 2).min(child.tiles_y) - 2 * py);
        let (ox, oy) = ((tx % 2) * half, (ty % 2) * half);
        let fill = self.fill;
        let parent = self
            .parents
            .entry((level + 1, px, py))
            .or_insert_with(|| Parent { data: vec![fill; bs * bs * bands], children: 0 });
        for r in 0..half {
            let src = &quadrant[r * half * bands..(r + 1) * half * bands];
            let at = ((oy + r) * bs + ox) * bands;
            parent.data[at..at + half * bands].copy_from_slice(src);
        }
        parent.children += 1;
        if parent.children == expected
            && let Some(done) = self.parents.remove(&(level + 1, px, py))
        {
            let index = py * self.levels[level + 1].tiles_x + px;
            self.pending.push((level + 1, index, done.data));
        }
    }

    /// Gives a one-band UInt8 raster a palette (up to 256 RGB entries; missing ones are black), written as a TIFF
    /// ColorMap on every level so class maps keep their colours.
    pub fn set_color_map(&mut self, colors: &[[u8; 3]]) -> Result<()> {
        if T::DTYPE != DataType::UInt8 || self.spec.bands != 1 || colors.is_empty() || colors.len() > 256 {
            return Err(self.invalid(format!(
                "a colour table needs one UInt8 band and 1 to 256 entries (this raster: {} band(s) of {:?}, {} \
                 entries)",
                self.spec.bands,
                T::DTYPE,
                colors.len()
            )));
        }
        let mut map = colors.to_vec();
        map.resize(256, [0; 3]);
        self.color_map = Some(map);
        Ok(())
    }

    /// Writes the COG (IFDs first, then tiles smallest overview first), checks its layout with [`crate::check_cog`]
    /// and only then renames it into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.flush_pending()?;
        for (k, level) in self.levels.iter().enumerate() {
            if let Some(missing) = level.tiles.iter().position(Option::is_none) {
                return Err(self.invalid(format!(
                    "tile {},{} of level {k} was never written ({} of {} base tiles arrived)",
                    missing % level.tiles_x,
                    missing / level.tiles_x,
                    self.levels[0].tiles.iter().filter(|t| t.is_some()).count(),
                    self.levels[0].tiles.len()
                )));
            }
        }
        let data_bytes: u64 = self.levels.iter().map(|l| l.written).sum();
        let big = match self.options.bigtiff {
            BigTiff::Yes => true,
            BigTiff::No => false,
            BigTiff::IfSafer => data_bytes + (1 << 24) > u64::from(u32::MAX),
        };
        if !big && data_bytes + (1 << 24) > u64::from(u32::MAX) {
            return Err(self.invalid("the file exceeds 4 GiB; allow BigTIFF".into()));
        }
        let header = if big { 16 } else { 8 };
        // IFD sizes do not depend on the offsets' values, only on their count: plan with placeholders.
        let placeholder: Vec<Vec<(u16, Value)>> =
            (0..self.levels.len()).map(|k| self.tags(k, &vec![0; self.levels[k].tiles.len()], big)).collect();
        let ifd_sizes: Vec<u64> = placeholder.iter().map(|t| ifd_size(t, big)).collect();
        let data_start = header + ifd_sizes.iter().sum::<u64>();
        // Level data order: smallest overview first, full resolution last.
        let mut level_start = vec![0u64; self.levels.len()];
        let mut at = data_start;
        for k in (0..self.levels.len()).rev() {
            level_start[k] = at;
            at += self.levels[k].written;
        }
        let shown = self.output.dest().display().to_string();
        let io = |source: std::io::Error| Error::Io { operation: "write", path: shown.clone(), source };
        let mut out = BufWriter::with_capacity(1 << 20, File::create(self.output.path()).map_err(io)?);
        if big {
            out.write_all(&[b'I', b'I', 43, 0, 8, 0, 0, 0]).map_err(io)?;
            out.write_all(&header.to_le_bytes()).map_err(io)?;
        } else {
            out.write_all(&[b'I', b'I', 42, 0]).map_err(io)?;
            out.write_all(&(header as u32).to_le_bytes()).map_err(io)?;
        }
        let mut ifd_at = header;
        for k in 0..self.levels.len() {
            let offsets: Vec<u64> =
                self.levels[k].tiles.iter().map(|t| level_start[k] + t.map_or(0, |(o, _)| o)).collect();
            let next = if k + 1 < self.levels.len() { ifd_at + ifd_sizes[k] } else { 0 };
            let bytes = write_ifd(self.tags(k, &offsets, big), ifd_at, next, big);
            debug_assert_eq!(bytes.len() as u64, ifd_sizes[k]);
            out.write_all(&bytes).map_err(io)?;
            ifd_at += ifd_sizes[k];
        }
        // Plain files on both sides: `io::copy` moves the tile bytes inside the kernel (copy_file_range).
        let mut out = out.into_inner().map_err(|e| io(e.into_error()))?;
        for k in (0..self.levels.len()).rev() {
            let level = &mut self.levels[k];
            level.file.flush().map_err(io)?;
            let file = File::open(&level.path).map_err(io)?;
            let copied = std::io::copy(&mut (&file).take(level.written), &mut out).map_err(io)?;
            if copied != level.written {
                return Err(Error::Write {
                    path: shown,
                    reason: format!("level {k}: copied {copied} of {} bytes", level.written),
                });
            }
        }
        out.sync_all().map_err(io)?;
        drop(out);
        drop(self.parts);
        // Verified before it is renamed into place: a file failing the layout check is never published.
        let report = crate::check_cog(self.output.path())?;
        if !report.is_valid() {
            return Err(Error::Write { path: shown, reason: format!("not a valid COG: {}", report.errors.join("; ")) });
        }
        self.output.publish()
    }

    fn tags(&self, k: usize, offsets: &[u64], big: bool) -> Vec<(u16, Value)> {
        let level = &self.levels[k];
        let bands = self.spec.bands;
        let bits = (T::DTYPE.size() * 8) as u16;
        let format = match T::DTYPE {
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => 1,
            DataType::Int8 | DataType::Int16 | DataType::Int32 => 2,
            DataType::Float32 | DataType::Float64 => 3,
        };
        let codec = match self.options.compression {
            Compression::None => 1,
            Compression::Lzw => 5,
            Compression::Deflate { .. } => 8,
            Compression::Zstd { .. } => 50_000,
        };
        let sizes: Vec<u64> = level.tiles.iter().map(|t| t.map_or(0, |(_, s)| s)).collect();
        let long =
            |v: &[u64]| if big { Value::Long8(v.to_vec()) } else { Value::Long(v.iter().map(|x| *x as u32).collect()) };
        let photometric = self.header_short(262).unwrap_or(1);
        let mut tags = vec![
            (254, Value::Long(vec![u32::from(k > 0)])),
            (256, Value::Long(vec![level.width as u32])),
            (257, Value::Long(vec![level.height as u32])),
            (258, Value::Short(vec![bits; bands])),
            (259, Value::Short(vec![codec])),
            (262, Value::Short(vec![if self.color_map.is_some() { 3 } else { photometric }])),
            (277, Value::Short(vec![bands as u16])),
            (284, Value::Short(vec![1])),
            (322, Value::Long(vec![self.options.block_size as u32])),
            (323, Value::Long(vec![self.options.block_size as u32])),
            (324, long(offsets)),
            (325, long(&sizes)),
            (339, Value::Short(vec![format; bands])),
        ];
        if self.options.predictor && codec != 1 {
            tags.push((317, Value::Short(vec![if T::DTYPE.is_float() { 3 } else { 2 }])));
        }
        if let Some(colors) = &self.color_map {
            // All reds, then greens, then blues, scaled to 16 bits.
            let channel = |c: usize| colors.iter().map(move |rgb| u16::from(rgb[c]) * 257);
            tags.push((320, Value::Short(channel(0).chain(channel(1)).chain(channel(2)).collect())));
        }
        // GDAL's header tags: extra samples and nodata on every level, georeferencing and metadata on the first.
        for (tag, value) in &self.header {
            if *tag == 262 || (k > 0 && !matches!(*tag, 338 | 42_113)) {
                continue;
            }
            tags.push((*tag, value.clone()));
        }
        if bands > 1 && !self.header.iter().any(|(t, _)| *t == 338) {
            tags.push((338, Value::Short(vec![0; bands - 1])));
        }
        tags
    }

    fn invalid(&self, reason: String) -> Error {
        Error::Invalid { path: self.output.dest().display().to_string(), reason }
    }

    /// The first value of a SHORT tag of GDAL's header.
    fn header_short(&self, tag: u16) -> Option<u16> {
        self.header.iter().find_map(|(t, v)| match v {
            Value::Short(v) if *t == tag => v.first().copied(),
            _ => None,
        })
    }
}

/// A `(bands, rows, cols)` block as one pixel-interleaved `bs`² tile, padded with `fill`.
fn interleave<T: Pixel>(data: &ArrayView3<'_, T>, bs: usize, fill: T) -> Vec<T> {
    let (bands, rows, cols) = data.dim();
    let mut tile = vec![fill; bs * bs * bands];
    // Row by row, writing each output row once in order (the band planes are read as rows).
    let planes: Vec<_> = (0..bands).map(|b| data.index_axis(ndarray::Axis(0), b)).collect();
    for r in 0..rows {
        let out = &mut tile[r * bs * bands..(r * bs + cols) * bands];
        for (b, plane) in planes.iter().enumerate() {
            let row = plane.row(r);
            match row.as_slice() {
                Some(values) => {
                    for (px, v) in out.chunks_exact_mut(bands).zip(values) {
                        px[b] = *v;
                    }
                }
                None => {
                    for (px, v) in out.chunks_exact_mut(bands).zip(row.iter()) {
                        px[b] = *v;
                    }
                }
            }
        }
    }
    tile
}

/// The `bs/2`-square reduction of a tile whose valid extent is `vw` x `vh`: nodata-aware 2x2 mean, or the
/// top-left pixel with `nearest`. Pixels outside the valid extent are `fill`.
#[allow(clippy::too_many_arguments)]
fn reduce<T: Pixel>(
    tile: &[T],
    bs: usize,
    bands: usize,
    vw: usize,
    vh: usize,
    nearest: bool,
    nodata: Option<f64>,
    fill: T,
) -> Vec<T> {
    let half = bs / 2;
    let mut out = vec![fill; half * half * bands];
    let (ow, oh) = (vw.div_ceil(2), vh.div_ceil(2));
    let row_len = bs * bands;
    // Nodata as a pixel value (none if the type cannot hold it: then no pixel equals it).
    let missing = nodata.map(T::from_f64).filter(|v| Some(v.to_f64()) == nodata);
    // `missing` is nodata in the pixel type; NaN is never valid.
    let valid = |v: T| Some(v) != missing && !v.is_nan();
    for r in 0..oh {
        let top = &tile[2 * r * row_len..(2 * r + 1) * row_len];
        // A missing bottom row (odd height) reads as absent, like pixels past the right edge.
        let bottom = (2 * r + 1 < vh).then(|| &tile[(2 * r + 1) * row_len..(2 * r + 2) * row_len]);
        let dst = &mut out[r * half * bands..(r * half + ow) * bands];
        for c in 0..ow {
            let right = 2 * c + 1 < vw;
            for b in 0..bands {
                let (i, j) = (2 * c * bands + b, (2 * c + 1) * bands + b);
                dst[c * bands + b] = if nearest {
                    top[i]
                } else if let Some(row) = bottom.filter(|_| right)
                    && valid(top[i])
                    && valid(top[j])
                    && valid(row[i])
                    && valid(row[j])
                {
                    // Four valid pixels (the common case): no per-pixel division or rounding.
                    T::mean4(top[i], top[j], row[i], row[j])
                } else {
                    let (mut sum, mut n) = (0.0, 0u32);
                    let mut add = |v: T| {
                        if valid(v) {
                            sum += v.to_f64();
                            n += 1;
                        }
                    };
                    add(top[i]);
                    if right {
                        add(top[j]);
                    }
                    if let Some(row) = bottom {
                        add(row[i]);
                        if right {
                            add(row[j]);
                        }
                    }
                    if n == 0 { fill } else { T::from_f64(sum / f64::from(n)) }
                };
            }
        }
    }
    out
}

/// Little-endian tile bytes after the optional predictor (horizontal for integers, floating point for floats),
/// compressed.
fn encode_tile<T: Pixel>(
    tile: &[T],
    bs: usize,
    bands: usize,
    predictor: bool,
    compression: Compression,
) -> std::io::Result<Vec<u8>> {
    let size = std::mem::size_of::<T>();
    let mut raw = Vec::with_capacity(std::mem::size_of_val(tile));
    let row_len = bs * bands;
    if predictor && compression != Compression::None && T::DTYPE.is_float() {
        for row in tile.chunks(row_len) {
            floating_point_predictor(row, bands, &mut raw);
        }
    } else if predictor && compression != Compression::None {
        // Horizontal differencing straight into the byte buffer: the first pixel as is, then each sample minus
        // the one `bands` before it.
        raw.resize(std::mem::size_of_val(tile), 0);
        for (row, out) in tile.chunks(row_len).zip(raw.chunks_mut(row_len * size)) {
            let first = bands.min(row.len());
            let (out_first, out_rest) = out.split_at_mut(first * size);
            for (v, o) in row[..first].iter().zip(out_first.chunks_exact_mut(size)) {
                v.write_le(o);
            }
            for ((v, prev), o) in row[first..].iter().zip(row).zip(out_rest.chunks_exact_mut(size)) {
                v.wrapping_delta(*prev).write_le(o);
            }
        }
    } else {
        raw.resize(std::mem::size_of_val(tile), 0);
        for (v, o) in tile.iter().zip(raw.chunks_exact_mut(size)) {
            v.write_le(o);
        }
    }
    match compression {
        Compression::None => Ok(raw),
        Compression::Lzw => Ok(crate::lzw::encode(&raw)),
        Compression::Deflate { level } => {
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(raw.len() / 2),
                flate2::Compression::new(u32::from(level.clamp(1, 9))),
            );
            enc.write_all(&raw)?;
            enc.finish()
        }
        Compression::Zstd { level } => zstd::bulk::compress(&raw, i32::from(level.clamp(1, 22))),
    }
}

/// TIFF predictor 3 for one row of samples (libtiff's `fpDiff`): the bytes of every sample go into planes, most
/// significant first (`plane k` holds byte `size-1-k` of each sample), then each byte is replaced by its
/// difference to the byte `bands` positions before it in the row.
fn floating_point_predictor<T: Pixel>(row: &[T], bands: usize, out: &mut Vec<u8>) {
    let size = T::DTYPE.size();
    let mut le = Vec::with_capacity(row.len() * size);
    for v in row {
        v.put_le(&mut le);
    }
    let n = row.len();
    let start = out.len();
    out.resize(start + n * size, 0);
    let planes = &mut out[start..];
    for (i, sample) in le.chunks_exact(size).enumerate() {
        for (byte, value) in sample.iter().enumerate() {
            planes[(size - 1 - byte) * n + i] = *value;
        }
    }
    for i in (bands..planes.len()).rev() {
        planes[i] = planes[i].wrapping_sub(planes[i - bands]);
    }
}

/// Converts a raster (path or URL) to a COG at `dest` with [`CogWriter`]: a reader thread reads stripe-wide rows
/// of tiles (column stripes, so memory does not grow with the width) while the writer compresses, so reading and
/// compression overlap. Georeferencing (any CRS GDAL can write, or refused), nodata, band descriptions, colour
/// tables and metadata are carried over. The result is checked with [`crate::check_cog`] before it is published.
pub fn translate_to_cog(
    source: &str,
    store: &eoforge_storage::StoreOptions,
    dest: &Path,
    options: &CogWriterOptions,
) -> Result<Translated> {
    let raster = crate::Raster::open_with(source, store)?;
    let info = raster.info()?;
    let dtype = raster.dtype(1)?;
    let nodata = info.bands.first().and_then(|b| b.nodata);
    for band in &info.bands[1..] {
        if raster.dtype(band.index)? != dtype {
            return Err(Error::Invalid {
                path: source.to_owned(),
                reason: format!(
                    "band {} is {} but band 1 is {dtype}; bands of different data types cannot share one COG",
                    band.index, band.dtype
                ),
            });
        }
        if band.nodata.map(f64::to_bits) != nodata.map(f64::to_bits) {
            return Err(Error::Invalid {
                path: source.to_owned(),
                reason: format!(
                    "band {} has nodata {:?} but band 1 has {nodata:?}; a GeoTIFF holds one nodata value for all bands",
                    band.index, band.nodata
                ),
            });
        }
    }
    let spec = RasterSpec {
        width: info.width,
        height: info.height,
        bands: info.band_count,
        geo_transform: info.geo_transform,
        crs: info.crs.clone(),
        nodata,
        band_descriptions: if info.bands.iter().any(|b| !b.description.is_empty()) {
            info.bands.iter().map(|b| b.description.clone()).collect()
        } else {
            Vec::new()
        },
        metadata: raster.metadata()?,
    };
    // A one-band UInt8 palette (class map) keeps its colours; other palettes are not representable in TIFF here.
    let colors = if dtype == DataType::UInt8 && info.band_count == 1 { raster.color_table(1)? } else { None };
    drop(raster);
    let nodata_pixels = match dtype {
        // Signed bytes are written widened to Int16 (same values, nodata included).
        DataType::Int8 | DataType::Int16 => stream::<i16>(source, store, dest, &spec, options, None),
        DataType::UInt8 => stream::<u8>(source, store, dest, &spec, options, colors.as_deref()),
        DataType::UInt16 => stream::<u16>(source, store, dest, &spec, options, None),
        DataType::UInt32 => stream::<u32>(source, store, dest, &spec, options, None),
        DataType::Int32 => stream::<i32>(source, store, dest, &spec, options, None),
        DataType::Float32 => stream::<f32>(source, store, dest, &spec, options, None),
        DataType::Float64 => stream::<f64>(source, store, dest, &spec, options, None),
    }?;
    let mut cog = crate::check_cog(dest)?;
    dest.clone_into(&mut cog.path);
    let pixels = (spec.width * spec.height) as f64;
    Ok(Translated { cog, source_nodata_fraction: nodata_pixels.iter().map(|n| *n as f64 / pixels).collect() })
}

/// What [`translate_to_cog`] wrote and read.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Translated {
    /// The layout check of the written COG.
    pub cog: CogReport,
    /// Per band, the share of the source's pixels that are nodata (or NaN), counted while reading.
    pub source_nodata_fraction: Vec<f64>,
}

/// Adds to `counts` (per band) the samples of the `width` x `rows` pixels of a pixel-interleaved tile (rows of
/// `line` samples) that are `missing` or NaN. Branch-free counting over row slices, so it vectorizes.
fn count_missing<T: Pixel>(
    tile: &[T],
    line: usize,
    width: usize,
    rows: usize,
    bands: usize,
    missing: Option<T>,
    counts: &mut [u64],
) {
    let is_missing = |v: &T| u64::from(v.is_nan() || Some(*v) == missing);
    for row in tile.chunks(line).take(rows) {
        let row = &row[..width * bands];
        if bands == 1 {
            counts[0] += row.iter().map(is_missing).sum::<u64>();
        } else {
            for (b, count) in counts.iter_mut().enumerate() {
                *count += row[b..].iter().step_by(bands).map(is_missing).sum::<u64>();
            }
        }
    }
}

/// Tiles per column stripe in [`translate_to_cog`] (a power of two).
const STRIPE_TILES: usize = 8;

fn stream<T: Pixel>(
    source: &str,
    store: &eoforge_storage::StoreOptions,
    dest: &Path,
    spec: &RasterSpec,
    options: &CogWriterOptions,
    colors: Option<&[[u8; 3]]>,
) -> Result<Vec<u64>> {
    let mut writer = CogWriter::<T>::create(dest, spec, options)?;
    if let Some(colors) = colors.filter(|c| !c.is_empty()) {
        // More than 256 entries cannot index a UInt8 band: keep the ones it can.
        writer.set_color_map(&colors[..colors.len().min(256)])?;
    }
    let (bs, width, height) = (options.block_size, spec.width, spec.height);
    // Column stripes of STRIPE_TILES tiles, top to bottom: memory is one stripe-wide row of tiles however wide
    // the raster, and overview parents up to level log2(STRIPE_TILES) complete inside a stripe.
    let (nx, ny) = writer.blocks();
    let chunks: Vec<(usize, usize)> =
        (0..nx).step_by(STRIPE_TILES).flat_map(|sx| (0..ny).map(move |by| (sx, by))).collect();
    // The reader thread has GDAL write each tile straight into its pixel-interleaved, padded buffer.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(usize, usize, Vec<Vec<T>>)>>(2);
    let (source, store) = (source.to_owned(), store.clone());
    let (fill, bands) = (writer.fill, spec.bands);
    // Nodata as a value of the type (none if the type cannot hold it); NaN is always missing.
    let missing = spec.nodata.filter(|v| T::DTYPE.holds(*v)).map(T::from_f64);
    let reader = std::thread::spawn(move || {
        let mut nodata_pixels = vec![0u64; bands];
        let raster = match crate::Raster::open_with(&source, &store) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e));
                return nodata_pixels;
            }
        };
        for (sx, by) in chunks {
            let (y0, h) = (by * bs, bs.min(height - by * bs));
            let tiles: Result<Vec<Vec<T>>> = (sx..(sx + STRIPE_TILES).min(nx))
                .map(|bx| {
                    let mut tile = vec![fill; bs * bs * bands];
                    let window = crate::Window::new(bx * bs, y0, bs.min(width - bx * bs), h);
                    raster.read_window_interleaved(window, bs * bands, &mut tile)?;
                    if missing.is_some() || T::DTYPE.is_float() {
                        count_missing(&tile, bs * bands, window.width, h, bands, missing, &mut nodata_pixels);
                    }
                    Ok(tile)
                })
                .collect();
            let tiles = tiles.map(|tiles| (sx, by, tiles));
            let failed = tiles.is_err();
            if tx.send(tiles).is_err() || failed {
                return nodata_pixels;
            }
        }
        nodata_pixels
    });
    // A reader that stops early sends its error; one that panics leaves tiles missing, which `finish` refuses.
    for item in rx {
        let (sx, by, tiles) = item?;
        for (i, tile) in tiles.into_iter().enumerate() {
            writer.write_interleaved(sx + i, by, tile)?;
        }
    }
    let nodata_pixels = reader.join().map_err(|_| Error::Write {
        path: dest.display().to_string(),
        reason: "the reader thread stopped unexpectedly".into(),
    })?;
    writer.finish()?;
    Ok(nodata_pixels)
}
