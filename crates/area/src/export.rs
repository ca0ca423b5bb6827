//! The export stage's mosaic: one UTM zone's tiles merged into one COG. Each tile contributes its core only (the
//! buffer is cropped: cores tile the zone's grid without overlap, so no seam rule is needed), tiles the grid does
//! not have are nodata, and with an AOI every pixel whose centre lies outside it is nodata too. The COG is
//! streamed block by block ([`CogWriter`]), reading each tile while its blocks are written, so memory holds one
//! column of blocks and the tiles under it, whatever the zone's size.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use eoforge_raster::{
    CogWriter, CogWriterOptions, Compression, Crs, DataType, GeoTransform, Grid, Pixel, Raster, RasterSpec, Resampling,
    Shape,
};
use ndarray::{Array3, s};

use crate::aoi::Aoi;
use crate::error::{Error, Result};
use crate::grid::{Tile, TileGrid};
use crate::store::TileStore;
use crate::utm::UtmZone;

/// What [`write_zone_mosaic`] wrote.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ZoneMosaic {
    /// The zone.
    pub zone: String,
    /// Its EPSG code.
    pub epsg: u32,
    /// The COG written.
    pub path: PathBuf,
    /// Size in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Its geotransform.
    pub geo_transform: GeoTransform,
    /// The data type (that of the tiles' feature).
    pub dtype: DataType,
    /// Bands.
    pub bands: usize,
    /// Tiles merged.
    pub tiles: usize,
    /// Share of pixels outside every tile's core or outside the AOI: nodata by construction.
    pub outside_fraction: f64,
    /// Share of nodata pixels in all.
    pub nodata_fraction: f64,
}

/// Writes `feature` of the zone's tiles of `grid` as one COG at `dest` (through `<dest>.partial`), clipped to
/// `clip` when given. Every tile of the zone must have the feature (the error lists those that do not), all
/// with the same data type (UInt8 class maps are reduced with nearest neighbour in overviews, others averaged). A
/// UInt8 map takes `colors` as its palette; a class map with `class_names` (`value=name;…`) carries them as its
/// band's `CLASS_NAMES`.
#[allow(clippy::too_many_arguments)]
pub fn write_zone_mosaic(
    store: &TileStore,
    grid: &TileGrid,
    zone: UtmZone,
    feature: &str,
    clip: Option<&Aoi>,
    colors: Option<&[[u8; 3]]>,
    class_names: Option<&str>,
    dest: &Path,
) -> Result<ZoneMosaic> {
    let tiles: Vec<&Tile> = grid.tiles.iter().filter(|t| t.zone == zone).collect();
    let Some(first) = tiles.first() else {
        return Err(Error::Grid(format!("zone {} has no tiles", zone.label())));
    };
    let missing: Vec<&str> = tiles.iter().filter(|t| !store.has(&t.name, feature)).map(|t| t.name.as_str()).collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(10).copied().collect();
        return Err(Error::Grid(format!(
            "zone {}: {} of {} tiles have no `{feature}` ({}{}); run the stage that writes it first",
            zone.label(),
            missing.len(),
            tiles.len(),
            shown.join(", "),
            if missing.len() > shown.len() { ", …" } else { "" }
        )));
    }
    let probe = Raster::open(&store.local_feature(&first.name, feature)?.display().to_string())?;
    let dtype = probe.dtype(1)?;
    let nodata = probe.nodata(1)?;
    let bands = probe.band_count();
    drop(probe);
    let layout = Layout::of(&tiles, grid);
    let options = CogWriterOptions {
        block_size: 512,
        compression: Compression::Deflate { level: 6 },
        overview_resampling: if dtype == DataType::UInt8 { Resampling::Nearest } else { Resampling::Average },
        ..CogWriterOptions::default()
    };
    let crs = Crs::from_epsg(zone.epsg())?;
    let spec = RasterSpec {
        width: layout.width,
        height: layout.height,
        bands,
        geo_transform: Some(layout.transform),
        crs: Some(crs.clone()),
        nodata,
        band_descriptions: if bands == 1 { vec![feature.to_owned()] } else { Vec::new() },
        metadata: eoforge_raster::RasterMetadata {
            bands: match class_names.filter(|_| bands == 1) {
                Some(names) => vec![eoforge_raster::BandMetadata {
                    items: vec![("CLASS_NAMES".into(), names.to_owned())],
                    ..eoforge_raster::BandMetadata::default()
                }],
                None => Vec::new(),
            },
            ..eoforge_raster::RasterMetadata::default()
        },
    };
    let mosaic = Mosaic { store, tiles: &tiles, feature, layout: &layout, clip, zone, crs: &crs, colors };
    let (outside, missing) = match dtype {
        DataType::UInt8 => mosaic.write::<u8>(dest, &spec, &options, nodata)?,
        DataType::UInt16 => mosaic.write::<u16>(dest, &spec, &options, nodata)?,
        DataType::Float32 => mosaic.write::<f32>(dest, &spec, &options, nodata)?,
        other => {
            return Err(Error::Input {
                path: store.location_of(&store.feature_path(&first.name, feature)),
                reason: format!("`{feature}` is {other}; zone maps are made of UInt8, UInt16 or Float32 tiles"),
            });
        }
    };
    let pixels = (layout.width * layout.height) as f64;
    Ok(ZoneMosaic {
        zone: zone.label(),
        epsg: zone.epsg(),
        path: dest.to_owned(),
        width: layout.width,
        height: layout.height,
        geo_transform: layout.transform,
        dtype,
        bands,
        tiles: tiles.len(),
        outside_fraction: outside as f64 / pixels,
        nodata_fraction: missing as f64 / (pixels * bands as f64),
    })
}

/// The zone map's pixel grid: the bounding box of the tiles' cores.
struct Layout {
    width: usize,
    height: usize,
    transform: GeoTransform,
    min_col: i64,
    max_row: i64,
    tile_px: usize,
    buffer_px: usize,
}

impl Layout {
    fn of(tiles: &[&Tile], grid: &TileGrid) -> Self {
        let min_col = tiles.iter().map(|t| t.col).min().unwrap_or(0);
        let max_col = tiles.iter().map(|t| t.col).max().unwrap_or(0);
        let min_row = tiles.iter().map(|t| t.row).min().unwrap_or(0);
        let max_row = tiles.iter().map(|t| t.row).max().unwrap_or(0);
        let tile_px = grid.spec.tile_px as usize;
        let size = grid.spec.tile_m();
        Self {
            width: (max_col - min_col + 1) as usize * tile_px,
            height: (max_row - min_row + 1) as usize * tile_px,
            transform: GeoTransform::north_up(
                min_col as f64 * size,
                (max_row + 1) as f64 * size,
                grid.spec.resolution,
                grid.spec.resolution,
            ),
            min_col,
            max_row,
            tile_px,
            buffer_px: grid.spec.buffer_px as usize,
        }
    }

    /// A tile's core in the map's pixels: (first column, first row).
    fn origin(&self, tile: &Tile) -> (usize, usize) {
        (((tile.col - self.min_col) as usize) * self.tile_px, ((self.max_row - tile.row) as usize) * self.tile_px)
    }
}

struct Mosaic<'a> {
    store: &'a TileStore,
    tiles: &'a [&'a Tile],
    feature: &'a str,
    layout: &'a Layout,
    clip: Option<&'a Aoi>,
    zone: UtmZone,
    crs: &'a Crs,
    colors: Option<&'a [[u8; 3]]>,
}

impl Mosaic<'_> {
    /// Streams the map; returns (pixels outside the tiles or the AOI, nodata samples in all).
    fn write<T: Pixel>(
        &self,
        dest: &Path,
        spec: &RasterSpec,
        options: &CogWriterOptions,
        nodata: Option<f64>,
    ) -> Result<(u64, u64)> {
        let fill = nodata.map_or(T::default(), |v| T::from_f64(v));
        let is_nodata = |v: T| v.is_nan() || nodata.is_some_and(|n| v == T::from_f64(n));
        // The AOI's part in this zone: zone maps meet at the zone boundary instead of overlapping where tiles
        // cross it.
        let clip = self.clip.map(|aoi| {
            use geo::BooleanOps;
            let part = aoi.polygons.intersection(&self.zone.region());
            vec![Shape { wkt: multipolygon_wkt(&part), value: 1.0 }]
        });
        let wgs84 = Crs::wgs84()?;
        let mut writer = CogWriter::<T>::create(dest, spec, options)?;
        if let Some(colors) = self.colors.filter(|_| T::DTYPE == DataType::UInt8) {
            writer.set_color_map(colors)?;
        }
        let (nx, ny) = writer.blocks();
        let bs = options.block_size;
        let tp = self.layout.tile_px;
        let (mut outside, mut missing) = (0u64, 0u64);
        for bx in 0..nx {
            // The tiles under this column of blocks, and those read so far (with their first row below the map's
            // top), dropped once the blocks have passed them.
            let column_x = (bx * bs, bx * bs + bs.min(spec.width - bx * bs));
            let column: Vec<(&Tile, (usize, usize))> = self
                .tiles
                .iter()
                .map(|t| (*t, self.layout.origin(t)))
                .filter(|(_, (tx, _))| *tx < column_x.1 && tx + tp > column_x.0)
                .collect();
            let mut cache: HashMap<&str, (usize, Array3<T>)> = HashMap::new();
            for by in 0..ny {
                let (x0, y0) = (bx * bs, by * bs);
                let (w, h) = (bs.min(spec.width - x0), bs.min(spec.height - y0));
                let mut block = Array3::<T>::from_elem((spec.bands, h, w), fill);
                let mut covered = ndarray::Array2::<bool>::from_elem((h, w), false);
                cache.retain(|_, (ty, _)| *ty + tp > y0);
                for &(tile, (tx, ty)) in &column {
                    let (ix0, iy0, ix1, iy1) = (tx.max(x0), ty.max(y0), (tx + tp).min(x0 + w), (ty + tp).min(y0 + h));
                    if ix0 >= ix1 || iy0 >= iy1 {
                        continue;
                    }
                    if !cache.contains_key(tile.name.as_str()) {
                        let data = self.store.read::<T>(&tile.name, self.feature)?;
                        let side = tp + 2 * self.layout.buffer_px;
                        if data.dim() != (spec.bands, side, side) {
                            return Err(Error::Input {
                                path: self.store.location_of(&self.store.feature_path(&tile.name, self.feature)),
                                reason: format!("{:?}, not {} band(s) of {side}x{side}", data.dim(), spec.bands),
                            });
                        }
                        cache.insert(tile.name.as_str(), (ty, data));
                    }
                    let data = &cache[tile.name.as_str()].1;
                    let b = self.layout.buffer_px;
                    let source = data.slice(s![.., b + iy0 - ty..b + iy1 - ty, b + ix0 - tx..b + ix1 - tx]);
                    block.slice_mut(s![.., iy0 - y0..iy1 - y0, ix0 - x0..ix1 - x0]).assign(&source);
                    covered.slice_mut(s![iy0 - y0..iy1 - y0, ix0 - x0..ix1 - x0]).fill(true);
                }
                if let Some(shapes) = &clip {
                    let block_grid =
                        Grid { width: w, height: h, transform: self.layout.transform.shifted(x0 as f64, y0 as f64) };
                    let inside = eoforge_raster::rasterize(shapes, &wgs84, &block_grid, self.crs, 0.0, "AOI")?;
                    ndarray::Zip::from(&mut covered).and(&inside).for_each(|c, i| *c &= *i > 0.0);
                }
                for ((r, c), keep) in covered.indexed_iter() {
                    if !keep {
                        outside += 1;
                        for band in 0..spec.bands {
                            block[[band, r, c]] = fill;
                        }
                    }
                }
                missing += block.iter().filter(|v| is_nodata(**v)).count() as u64;
                writer.write_block(bx, by, block.view())?;
            }
        }
        writer.finish()?;
        Ok((outside, missing))
    }
}

/// Polygons as one WKT `MULTIPOLYGON`.
fn multipolygon_wkt(polygons: &geo::MultiPolygon<f64>) -> String {
    let ring = |r: &geo::LineString<f64>| {
        let points: Vec<String> = r.0.iter().map(|c| format!("{} {}", c.x, c.y)).collect();
        format!("({})", points.join(", "))
    };
    let polygons: Vec<String> = polygons
        .0
        .iter()
        .map(|p| {
            let rings: Vec<String> = std::iter::once(p.exterior()).chain(p.interiors()).map(ring).collect();
            format!("({})", rings.join(", "))
        })
        .collect();
    format!("MULTIPOLYGON ({})", polygons.join(", "))
}

/// Mosaics a zone in a working folder beside `dest`, runs QC (one product of the tiles' type and bands, the
/// zone's CRS and grid, no more nodata than the pixels outside the AOI or the tiles plus `max_nodata`) and
/// publishes it atomically with its QC report and profile. Returns the zone's figures and, when QC blocked it, why.
pub(crate) fn publish_zone(
    store: &TileStore,
    grid: &TileGrid,
    zone: UtmZone,
    aoi: &Aoi,
    config: &crate::config::AreaConfig,
    dest: &str,
    options: &crate::pipeline::RunOptions,
) -> Result<(serde_json::Value, Option<String>)> {
    let export = config.export.as_ref().ok_or_else(|| Error::Usage("the config has no [export] section".into()))?;
    // A class map predicted from a label raster keeps the labels' colours.
    let colors = match config.reference.as_ref().and_then(|r| r.raster.as_ref()) {
        Some(labels) if export.feature == crate::predict::PREDICTION => {
            Raster::open_with(labels, &options.store)?.color_table(1)?
        }
        _ => None,
    };
    // A class map from polygons labelled by name carries the names.
    let names = match config.reference.as_ref() {
        Some(crate::inputs::ReferenceSpec { vector: Some(vector), attribute: Some(attribute), layer, .. })
            if export.feature == crate::predict::PREDICTION =>
        {
            let shapes = eoforge_raster::read_shapes(vector, layer.as_deref(), attribute)?;
            (!shapes.class_names.is_empty()).then(|| {
                shapes
                    .class_names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{}={n}", i + 1))
                    .collect::<Vec<_>>()
                    .join(";")
            })
        }
        _ => None,
    };
    let work = eoforge_products::WorkDir::for_dest(dest)?;
    let name = dest.rsplit('/').next().unwrap_or("map.tif");
    let file = work.path().join(name);
    let mut stages = eoforge_profile::Stages::default();
    let clip = export.clip_to_aoi.then_some(aoi);
    let mosaic = stages.time("mosaic", || {
        write_zone_mosaic(store, grid, zone, &export.feature, clip, colors.as_deref(), names.as_deref(), &file)
    })?;
    let qc = eoforge_qc::QcConfig {
        bands: Some(mosaic.bands),
        dtype: Some(mosaic.dtype),
        source: Some(eoforge_qc::SourceReference {
            location: format!("{} tiles of zone {} in `{}`", mosaic.tiles, mosaic.zone, store.location()),
            crs: Some(Crs::from_epsg(mosaic.epsg)?),
            geo_transform: Some(mosaic.geo_transform),
            nodata_fraction: vec![mosaic.outside_fraction],
            nodata_tolerance: export.max_nodata,
        }),
        max_nodata_fraction: 1.0,
        ..eoforge_qc::QcConfig::default()
    };
    let recorded = serde_json::json!({
        "feature": export.feature,
        "clip_to_aoi": export.clip_to_aoi,
        "grid": grid.spec,
        "zone": mosaic.zone,
        "tiles": mosaic.tiles,
    });
    let set = eoforge_products::ProductSet {
        source: format!("{}/tiles", store.location()),
        product: file.clone(),
        dest: dest.to_owned(),
        derived: Vec::new(),
        options: recorded.as_object().cloned().unwrap_or_default(),
        force: options.force,
        datetime: None,
        collection: None,
        stac_api: None,
        preview_rgb: None,
    };
    let figures = serde_json::json!({ "zone": mosaic });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|source| Error::Io {
        operation: "start an I/O runtime for",
        path: dest.to_owned(),
        source,
    })?;
    let outcome = runtime.block_on(set.check_and_publish(&qc, &options.store, &mut stages, figures))?;
    let passed = outcome.report.passed;
    let output = serde_json::json!({
        "zone": mosaic.zone,
        "epsg": mosaic.epsg,
        "dest": dest,
        "tiles": mosaic.tiles,
        "width": mosaic.width,
        "height": mosaic.height,
        "outside_fraction": mosaic.outside_fraction,
        "nodata_fraction": mosaic.nodata_fraction,
        "qc_passed": passed,
        "published": outcome.published,
        "file_bytes": outcome.report.file_bytes,
        "stages": stages,
    });
    let blocked = (!passed).then(|| format!("QC blocked `{dest}`: {}", outcome.report.failures()));
    Ok((output, blocked))
}
