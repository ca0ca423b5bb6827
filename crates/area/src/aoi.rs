//! [`Aoi`]: an area of interest read from GeoJSON — RFC 7946 lon/lat, or a legacy `crs` member naming another CRS
//! (`urn:ogc:def:crs:EPSG::32633`) — as polygons in lon/lat.

use std::path::Path;

use eoforge_raster::Crs;
use geo::{Coord, LineString, MultiPolygon, Polygon};

use crate::error::{Error, Result};

/// An area of interest: polygons in WGS 84 longitude/latitude.
#[derive(Clone, Debug, PartialEq)]
pub struct Aoi {
    /// Where it came from (the file), for messages.
    pub source: String,
    /// Its polygons, lon/lat.
    pub polygons: MultiPolygon<f64>,
    /// The CRS the file was written in (`EPSG:4326` for RFC 7946 files).
    pub crs: String,
}

impl Aoi {
    /// Reads a GeoJSON AOI file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            operation: "read",
            path: path.display().to_string(),
            source,
        })?;
        Self::from_geojson(&text, &path.display().to_string())
    }

    /// Parses GeoJSON text (a Polygon or MultiPolygon geometry, a Feature or a FeatureCollection of them);
    /// `source` names it in errors. Anything but polygons is an error naming the geometry type.
    pub fn from_geojson(text: &str, source: &str) -> Result<Self> {
        let err = |reason: String| Error::Aoi { path: source.to_owned(), reason };
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
        let crs_name = json
            .get("crs")
            .and_then(|c| c.get("properties"))
            .and_then(|p| p.get("name"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let geojson: geojson::GeoJson = text.parse().map_err(|e| err(format!("not GeoJSON: {e}")))?;
        let collection =
            geo::GeometryCollection::<f64>::try_from(&geojson).map_err(|e| err(format!("unreadable geometry: {e}")))?;
        let mut polygons = Vec::new();
        for geometry in collection {
            match geometry {
                geo::Geometry::Polygon(p) => polygons.push(p),
                geo::Geometry::MultiPolygon(m) => polygons.extend(m.0),
                other => return Err(err(format!("a {}, not a Polygon or MultiPolygon", geometry_name(&other)))),
            }
        }
        if polygons.is_empty() {
            return Err(err("no polygon in it".into()));
        }
        let (crs, polygons) = match &crs_name {
            None => (String::from("EPSG:4326"), polygons),
            Some(name) => {
                let definition =
                    crs_definition(name).ok_or_else(|| err(format!("crs `{name}` is not an EPSG code")))?;
                let from = Crs::from_user_input(&definition)?;
                let to = Crs::wgs84()?;
                let mut out = Vec::new();
                for p in polygons {
                    out.push(transform_polygon(&p, &from, &to)?);
                }
                (definition, out)
            }
        };
        for p in &polygons {
            for c in p.exterior().coords().chain(p.interiors().iter().flat_map(LineString::coords)) {
                if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
                    return Err(err(format!(
                        "coordinate ({}, {}) is not a longitude/latitude; name the file's CRS in a `crs` member",
                        c.x, c.y
                    )));
                }
            }
        }
        Ok(Aoi { source: source.to_owned(), polygons: MultiPolygon(polygons), crs })
    }
}

/// `EPSG:n` from the names GeoJSON files carry: `urn:ogc:def:crs:EPSG::32633`, `EPSG:32633`; CRS84 is lon/lat.
fn crs_definition(name: &str) -> Option<String> {
    if name.ends_with("CRS84") {
        return Some("EPSG:4326".into());
    }
    let code = name.rsplit(':').next()?;
    code.parse::<u32>().ok().filter(|_| name.to_ascii_uppercase().contains("EPSG")).map(|c| format!("EPSG:{c}"))
}

fn geometry_name(g: &geo::Geometry<f64>) -> &'static str {
    match g {
        geo::Geometry::Point(_) => "Point",
        geo::Geometry::Line(_) | geo::Geometry::LineString(_) => "LineString",
        geo::Geometry::MultiPoint(_) => "MultiPoint",
        geo::Geometry::MultiLineString(_) => "MultiLineString",
        geo::Geometry::GeometryCollection(_) => "GeometryCollection",
        geo::Geometry::Rect(_) | geo::Geometry::Triangle(_) | geo::Geometry::Polygon(_) => "Polygon",
        geo::Geometry::MultiPolygon(_) => "MultiPolygon",
    }
}

/// A polygon's rings transformed point by point (edges densified first where `densify` is set by the caller).
pub(crate) fn transform_polygon(p: &Polygon<f64>, from: &Crs, to: &Crs) -> Result<Polygon<f64>> {
    let ring = |r: &LineString<f64>| -> Result<LineString<f64>> {
        let mut points: Vec<(f64, f64)> = r.coords().map(|c| (c.x, c.y)).collect();
        eoforge_raster::transform_points(&mut points, from, to)?;
        Ok(LineString(points.into_iter().map(|(x, y)| Coord { x, y }).collect()))
    };
    let interiors = p.interiors().iter().map(ring).collect::<Result<Vec<_>>>()?;
    Ok(Polygon::new(ring(p.exterior())?, interiors))
}

/// Inserts points along every edge so that no segment is longer than `step` (in the ring's units): straight
/// edges in one CRS are curves in another.
pub(crate) fn densify(polygon: &Polygon<f64>, step: f64) -> Polygon<f64> {
    let ring = |ring: &LineString<f64>| {
        let mut out = Vec::new();
        for edge in ring.0.windows(2) {
            let (from, to) = (edge[0], edge[1]);
            let pieces = ((to.x - from.x).hypot(to.y - from.y) / step).ceil().max(1.0) as usize;
            for i in 0..pieces {
                let t = i as f64 / pieces as f64;
                out.push(Coord { x: from.x + (to.x - from.x) * t, y: from.y + (to.y - from.y) * t });
            }
        }
        if let Some(last) = ring.0.last() {
            out.push(*last);
        }
        LineString(out)
    };
    Polygon::new(ring(polygon.exterior()), polygon.interiors().iter().map(ring).collect())
}
