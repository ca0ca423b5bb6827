//! [`TileGrid`]: an AOI cut into square tiles per UTM zone, aligned to multiples of the tile size in each zone's
//! easting/northing, named `<zone>_<col>_<row>` (e.g. `33N_465_5079`): the same parameters always give the same
//! tiles and names. Only tiles whose core overlaps the AOI's part in their zone are kept; each point of the AOI
//! belongs to exactly one zone, so the zones' tiles together cover it once.

use std::path::{Path, PathBuf};

use eoforge_raster::Crs;
use geo::{BooleanOps, BoundingRect, Intersects, MultiPolygon, Rect, coord};
use sha2::Digest as _;

use crate::aoi::{Aoi, densify, transform_polygon};
use crate::error::{Error, Result};
use crate::utm::UtmZone;

/// The grid's parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Tile side in pixels, without the buffer.
    pub tile_px: u32,
    /// Pixel size in metres.
    pub resolution: f64,
    /// Pixels added on every side of a tile's core (predictions are cropped back to the core).
    pub buffer_px: u32,
}

impl GridSpec {
    /// The core tile side in metres.
    pub fn tile_m(&self) -> f64 {
        f64::from(self.tile_px) * self.resolution
    }

    fn check(&self) -> Result<()> {
        if self.tile_px == 0 || !(self.resolution.is_finite() && self.resolution > 0.0) {
            return Err(Error::Grid(format!(
                "tile_px {} and resolution {} must be positive",
                self.tile_px, self.resolution
            )));
        }
        if self.buffer_px >= self.tile_px {
            return Err(Error::Grid(format!("buffer_px {} must be below tile_px {}", self.buffer_px, self.tile_px)));
        }
        Ok(())
    }
}

/// One tile.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tile {
    /// `<zone>_<col>_<row>`.
    pub name: String,
    /// Its zone.
    pub zone: UtmZone,
    /// Column: the core's west edge is `col × tile size` metres of easting.
    pub col: i64,
    /// Row: the core's south edge is `row × tile size` metres of northing.
    pub row: i64,
    /// The core, `[min_x, min_y, max_x, max_y]` in the zone's CRS.
    pub core: [f64; 4],
    /// The core and its buffer.
    pub buffered: [f64; 4],
}

impl Tile {
    /// The zone's EPSG code.
    pub fn epsg(&self) -> u32 {
        self.zone.epsg()
    }
}

/// An AOI's tiles, zone by zone.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TileGrid {
    /// The parameters.
    pub spec: GridSpec,
    /// The tiles, by zone (north first, then by number), then column, then row.
    pub tiles: Vec<Tile>,
}

impl TileGrid {
    /// The zones that have tiles.
    pub fn zones(&self) -> Vec<UtmZone> {
        let mut zones: Vec<UtmZone> = self.tiles.iter().map(|t| t.zone).collect();
        zones.dedup();
        zones
    }

    /// A tile by name.
    pub fn tile(&self, name: &str) -> Option<&Tile> {
        self.tiles.iter().find(|t| t.name == name)
    }
}

/// Cuts `aoi` into the tiles of `spec`.
pub fn build_grid(aoi: &Aoi, spec: &GridSpec) -> Result<TileGrid> {
    spec.check()?;
    let size = spec.tile_m();
    let buffer = f64::from(spec.buffer_px) * spec.resolution;
    let wgs84 = Crs::wgs84()?;
    let aoi_box =
        aoi.polygons.bounding_rect().ok_or_else(|| Error::Aoi { path: aoi.source.clone(), reason: "empty".into() })?;
    let mut tiles = Vec::new();
    for zone in UtmZone::all() {
        let region = zone.region();
        if !region.bounding_rect().is_some_and(|r| r.intersects(&aoi_box)) {
            continue;
        }
        let part: MultiPolygon<f64> = aoi.polygons.intersection(&region);
        if part.0.is_empty() {
            continue;
        }
        let utm = Crs::from_epsg(zone.epsg())?;
        // Edges straight in lon/lat are curves in UTM: about 1 km steps before the transform.
        let projected = MultiPolygon(
            part.0.iter().map(|p| transform_polygon(&densify(p, 0.01), &wgs84, &utm)).collect::<Result<Vec<_>>>()?,
        );
        let Some(b) = projected.bounding_rect() else { continue };
        let (c0, c1) = ((b.min().x / size).floor() as i64, (b.max().x / size).floor() as i64);
        let (r0, r1) = ((b.min().y / size).floor() as i64, (b.max().y / size).floor() as i64);
        // A tile counts when its core overlaps the part, not when they only touch.
        let inset = size * 1e-9;
        for col in c0..=c1 {
            for row in r0..=r1 {
                let (x0, y0) = (col as f64 * size, row as f64 * size);
                let core = Rect::new(
                    coord! { x: x0 + inset, y: y0 + inset },
                    coord! { x: x0 + size - inset, y: y0 + size - inset },
                );
                if !projected.intersects(&core) {
                    continue;
                }
                tiles.push(Tile {
                    name: format!("{}_{col}_{row}", zone.label()),
                    zone,
                    col,
                    row,
                    core: [x0, y0, x0 + size, y0 + size],
                    buffered: [x0 - buffer, y0 - buffer, x0 + size + buffer, y0 + size + buffer],
                });
            }
        }
    }
    if tiles.is_empty() {
        return Err(Error::Aoi { path: aoi.source.clone(), reason: "no tile overlaps it (is it empty?)".into() });
    }
    Ok(TileGrid { spec: *spec, tiles })
}

/// The cache file of the grid of `aoi` and `spec` under `dir`: named by a hash of the AOI's lon/lat polygons and
/// the parameters, so changing either builds a new grid.
pub fn grid_cache_path(dir: &Path, aoi: &Aoi, spec: &GridSpec) -> PathBuf {
    let mut hash = sha2::Sha256::new();
    hash.update(format!("{:?}", aoi.polygons.0).as_bytes());
    hash.update(format!("{}|{}|{}", spec.tile_px, spec.resolution, spec.buffer_px).as_bytes());
    let hex = crate::store::hex(&hash.finalize()[..8]);
    dir.join(format!("grid-{hex}.geojson"))
}

/// The grid from its cache under `dir` when there is one, else built and cached (a GeoJSON FeatureCollection: one
/// Feature per tile with its core's outline in lon/lat and its fields as properties). Returns whether it came
/// from the cache.
pub fn load_or_build_grid(dir: &Path, aoi: &Aoi, spec: &GridSpec) -> Result<(TileGrid, bool)> {
    let path = grid_cache_path(dir, aoi, spec);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| cache_err(&path, &e.to_string()))?;
        let tiles = json["features"]
            .as_array()
            .ok_or_else(|| cache_err(&path, "no features"))?
            .iter()
            .map(|f| serde_json::from_value::<Tile>(f["properties"].clone()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| cache_err(&path, &e.to_string()))?;
        let spec_read: GridSpec =
            serde_json::from_value(json["eoforge_grid"].clone()).map_err(|e| cache_err(&path, &e.to_string()))?;
        return Ok((TileGrid { spec: spec_read, tiles }, true));
    }
    let grid = build_grid(aoi, spec)?;
    let wgs84 = Crs::wgs84()?;
    let mut features = Vec::new();
    for tile in &grid.tiles {
        let [x0, y0, x1, y1] = tile.core;
        let rect = Rect::new(coord! { x: x0, y: y0 }, coord! { x: x1, y: y1 }).to_polygon();
        let outline =
            transform_polygon(&densify(&rect, grid.spec.tile_m() / 8.0), &Crs::from_epsg(tile.epsg())?, &wgs84)?;
        let ring: Vec<[f64; 2]> = outline.exterior().coords().map(|c| [c.x, c.y]).collect();
        features.push(serde_json::json!({
            "type": "Feature",
            "properties": tile,
            "geometry": { "type": "Polygon", "coordinates": [ring] },
        }));
    }
    let json = serde_json::json!({ "type": "FeatureCollection", "eoforge_grid": grid.spec, "features": features });
    std::fs::create_dir_all(dir).map_err(crate::store::io("create", dir))?;
    let bytes = serde_json::to_vec(&json).map_err(|e| cache_err(&path, &e.to_string()))?;
    crate::store::write_file(&path, &bytes)?;
    Ok((grid, false))
}

fn cache_err(path: &Path, reason: &str) -> Error {
    Error::Grid(format!("the grid cache `{}` is unreadable ({reason}); remove it to rebuild", path.display()))
}
