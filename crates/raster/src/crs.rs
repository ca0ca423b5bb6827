//! Coordinate reference systems and bbox reprojection (lon/lat ↔ UTM and any EPSG pair).

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};

use crate::error::{Error, Result};
use crate::geo::Bounds;

/// A coordinate reference system: its EPSG code when it has one, and its WKT.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Crs {
    /// EPSG code, when the CRS is identified as one.
    pub epsg: Option<u32>,
    /// OGC WKT.
    pub wkt: String,
}

impl Crs {
    /// The CRS for an EPSG code.
    pub fn from_epsg(code: u32) -> Result<Self> {
        let srs = SpatialRef::from_epsg(code).map_err(|e| crs_err(format!("EPSG:{code}"), &e))?;
        Self::from_srs(&srs)
    }

    /// The CRS described by WKT (or anything GDAL's `SetFromUserInput` accepts in WKT form).
    pub fn from_wkt(wkt: &str) -> Result<Self> {
        let srs = SpatialRef::from_wkt(wkt).map_err(|e| crs_err("parse WKT".into(), &e))?;
        Self::from_srs(&srs)
    }

    /// Any definition GDAL's `SetFromUserInput` accepts: `EPSG:32629`, `ESRI:54009`, a `+proj` string, WKT,
    /// PROJJSON.
    pub fn from_user_input(definition: &str) -> Result<Self> {
        let srs = SpatialRef::from_definition(definition).map_err(|e| crs_err(format!("parse `{definition}`"), &e))?;
        Self::from_srs(&srs)
    }

    /// Whether both describe the same CRS (GDAL's `OSRIsSame`: names and axis-order conventions aside).
    pub fn is_same(&self, other: &Crs) -> bool {
        if self.epsg.is_some() && self.epsg == other.epsg && self.wkt == other.wkt {
            return true;
        }
        match (SpatialRef::from_wkt(&self.wkt), SpatialRef::from_wkt(&other.wkt)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    /// Whether its coordinates are angles (longitude/latitude) rather than projected map units.
    pub fn is_geographic(&self) -> bool {
        SpatialRef::from_wkt(&self.wkt).is_ok_and(|s| s.is_geographic())
    }

    /// `EPSG:code` when it has one, else the CRS's name from its WKT.
    pub fn label(&self) -> String {
        match self.epsg {
            Some(code) => format!("EPSG:{code}"),
            None => SpatialRef::from_wkt(&self.wkt)
                .ok()
                .and_then(|s| s.name())
                .map_or_else(|| "a custom CRS".to_owned(), |n| format!("custom CRS \"{n}\"")),
        }
    }

    /// The GDAL spatial reference exactly as described by the WKT (for writing files).
    pub(crate) fn spatial_ref(&self) -> Result<SpatialRef> {
        SpatialRef::from_wkt(&self.wkt).map_err(|e| crs_err(format!("load {}", self.label()), &e))
    }

    pub(crate) fn from_srs(srs: &SpatialRef) -> Result<Self> {
        let wkt = srs.to_wkt().map_err(|e| crs_err("export WKT".into(), &e))?;
        let epsg = srs
            .auth_name()
            .filter(|name| name.eq_ignore_ascii_case("EPSG"))
            .and_then(|_| srs.auth_code().ok())
            .and_then(|code| u32::try_from(code).ok());
        Ok(Self { epsg, wkt })
    }

    /// WGS 84 longitude/latitude (EPSG:4326), in lon, lat order.
    pub fn wgs84() -> Result<Self> {
        Self::from_epsg(4326)
    }

    pub(crate) fn srs(&self) -> Result<SpatialRef> {
        let mut srs = match self.epsg {
            Some(code) => SpatialRef::from_epsg(code),
            None => SpatialRef::from_wkt(&self.wkt),
        }
        .map_err(|e| crs_err("load CRS".into(), &e))?;
        // x = longitude/easting first, whatever the authority's axis order.
        srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        Ok(srs)
    }
}

/// Reprojects bounds from one CRS to another, densifying the edges so curved edges are covered.
pub fn reproject_bounds(bounds: &Bounds, from: &Crs, to: &Crs) -> Result<Bounds> {
    let what = || format!("reproject bounds from {} to {}", from.label(), to.label());
    let transform = CoordTransform::new(&from.srs()?, &to.srs()?).map_err(|e| crs_err(what(), &e))?;
    let out = transform
        .transform_bounds(&[bounds.min_x, bounds.min_y, bounds.max_x, bounds.max_y], 21)
        .map_err(|e| crs_err(what(), &e))?;
    if out.iter().any(|v| !v.is_finite()) {
        return Err(Error::Crs { what: what(), reason: "bounds fall outside the target CRS".into() });
    }
    Ok(Bounds::new(out[0], out[1], out[2], out[3]))
}

/// The WGS 84 / UTM zone EPSG code containing a lon/lat point (326xx north, 327xx south), with the Norway and
/// Svalbard exceptions ([`utm_zone`]).
pub fn utm_epsg(lon: f64, lat: f64) -> Result<u32> {
    let (zone, north) = utm_zone(lon, lat)?;
    Ok(if north { 32_600 } else { 32_700 } + u32::from(zone))
}

/// The UTM zone (1–60) of a lon/lat point and whether it is north of the equator. Zone 32 takes 3–12° E between
/// 56° and 64° N (south-west Norway); between 72° and 84° N zones 31, 33, 35 and 37 take 0–9, 9–21, 21–33 and
/// 33–42° E (Svalbard) and zones 32, 34 and 36 are unused.
pub fn utm_zone(lon: f64, lat: f64) -> Result<(u8, bool)> {
    if !(-180.0..=180.0).contains(&lon) || !(-80.0..=84.0).contains(&lat) {
        return Err(Error::Crs {
            what: format!("UTM zone of lon {lon}, lat {lat}"),
            reason: "outside the UTM range (lon −180..180, lat −80..84)".into(),
        });
    }
    let mut zone = (((lon + 180.0) / 6.0).floor() as u8).min(59) + 1;
    if (56.0..64.0).contains(&lat) && (3.0..12.0).contains(&lon) {
        zone = 32;
    }
    if (72.0..=84.0).contains(&lat) && (0.0..42.0).contains(&lon) {
        zone = match lon {
            l if l < 9.0 => 31,
            l if l < 21.0 => 33,
            l if l < 33.0 => 35,
            _ => 37,
        };
    }
    Ok((zone, lat >= 0.0))
}

/// Transforms points in place from one CRS to another (x = longitude or easting first, whatever the authority's
/// axis order); a point the target CRS cannot hold is an error.
pub fn transform_points(points: &mut [(f64, f64)], from: &Crs, to: &Crs) -> Result<()> {
    let count = points.len();
    let what = || format!("transform {count} point(s) from {} to {}", from.label(), to.label());
    let transform = CoordTransform::new(&from.srs()?, &to.srs()?).map_err(|e| crs_err(what(), &e))?;
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
    transform.transform_coords(&mut xs, &mut ys, &mut []).map_err(|e| crs_err(what(), &e))?;
    for (p, (x, y)) in points.iter_mut().zip(xs.into_iter().zip(ys)) {
        if !(x.is_finite() && y.is_finite()) {
            return Err(Error::Crs { what: what(), reason: "a point falls outside the target CRS".into() });
        }
        *p = (x, y);
    }
    Ok(())
}

fn crs_err(what: String, e: &gdal::errors::GdalError) -> Error {
    Error::Crs { what, reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_zones() {
        assert_eq!(utm_epsg(-9.5, 29.8).expect("zone"), 32_629);
        assert_eq!(utm_epsg(15.0, 46.0).expect("zone"), 32_633);
        assert_eq!(utm_epsg(151.2, -33.9).expect("zone"), 32_756);
        assert_eq!(utm_epsg(180.0, 0.0).expect("zone"), 32_660);
        assert!(utm_epsg(0.0, 89.0).is_err());
        assert_eq!(utm_epsg(5.3, 60.4).expect("Bergen"), 32_632);
        assert_eq!(utm_epsg(2.0, 60.0).expect("west of Norway"), 32_631);
        assert_eq!(utm_epsg(15.6, 78.2).expect("Longyearbyen"), 32_633);
        assert_eq!(utm_epsg(25.0, 79.0).expect("Nordaustlandet"), 32_635);
    }

    #[test]
    fn lonlat_to_utm_and_back() {
        let wgs = Crs::wgs84().expect("4326");
        let utm = Crs::from_epsg(32_629).expect("32629");
        assert_eq!(utm.epsg, Some(32_629));
        let ll = Bounds::new(-9.4, 29.5, -9.3, 29.6);
        let b = reproject_bounds(&ll, &wgs, &utm).expect("forward");
        // Zone 29's central meridian is −9° (easting 500 km): −9.4° at 29.5° N lies ~38.7 km west of it.
        assert!((b.min_x - 461_229.0).abs() < 5.0 && b.max_x < 500_000.0, "{b:?}");
        assert!(b.min_y > 3_260_000.0 && b.max_y < 3_290_000.0, "{b:?}");
        let back = reproject_bounds(&b, &utm, &wgs).expect("back");
        assert!(back.min_x <= ll.min_x + 1e-6 && back.max_y >= ll.max_y - 1e-6, "{back:?}");
        assert!((back.min_x - ll.min_x).abs() < 0.01, "{back:?}");
    }
}
