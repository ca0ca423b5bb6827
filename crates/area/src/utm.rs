//! [`UtmZone`]: a WGS 84 / UTM zone (EPSG 326xx north, 327xx south) and the lon/lat region it covers, with the
//! Norway (32V) and Svalbard (31X–37X) exceptions — the same rule as `eoforge_raster::utm_zone`.

use geo::{MultiPolygon, Rect, coord};

use crate::error::Result;

/// A UTM zone: number 1–60 and hemisphere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct UtmZone {
    /// 1–60.
    pub number: u8,
    /// North (EPSG 326xx) or south (327xx) of the equator.
    pub north: bool,
}

impl UtmZone {
    /// The zone of a lon/lat point.
    pub fn of(lon: f64, lat: f64) -> Result<Self> {
        let (number, north) = eoforge_raster::utm_zone(lon, lat)?;
        Ok(Self { number, north })
    }

    /// Every zone, north then south.
    pub fn all() -> impl Iterator<Item = UtmZone> {
        [true, false].into_iter().flat_map(|north| (1..=60).map(move |number| UtmZone { number, north }))
    }

    /// Its EPSG code.
    pub fn epsg(self) -> u32 {
        (if self.north { 32_600 } else { 32_700 }) + u32::from(self.number)
    }

    /// `33N`, `56S`.
    pub fn label(self) -> String {
        format!("{}{}", self.number, if self.north { 'N' } else { 'S' })
    }

    /// The lon/lat area this zone is used for: its 6° band, north of the equator up to 84° N or south of it down
    /// to 80° S, less and plus the exceptions (zone 32 takes 3–12° E between 56° and 64° N; between 72° and 84° N
    /// zones 31, 33, 35 and 37 take 0–9, 9–21, 21–33 and 33–42° E and 32, 34, 36 are unused).
    pub fn region(self) -> MultiPolygon<f64> {
        let west = -180.0 + 6.0 * f64::from(self.number - 1);
        let rect = |lon0: f64, lon1: f64, lat0: f64, lat1: f64| {
            Rect::new(coord! { x: lon0, y: lat0 }, coord! { x: lon1, y: lat1 }).to_polygon()
        };
        if !self.north {
            return MultiPolygon(vec![rect(west, west + 6.0, -80.0, 0.0)]);
        }
        let standard = (west, west + 6.0);
        let norway = match self.number {
            31 => Some((0.0, 3.0)),
            32 => Some((3.0, 12.0)),
            _ => Some(standard),
        };
        let svalbard = match self.number {
            31 => Some((0.0, 9.0)),
            32 | 34 | 36 => None,
            33 => Some((9.0, 21.0)),
            35 => Some((21.0, 33.0)),
            37 => Some((33.0, 42.0)),
            _ => Some(standard),
        };
        let mut parts = vec![rect(standard.0, standard.1, 0.0, 56.0)];
        if let Some((a, b)) = norway {
            parts.push(rect(a, b, 56.0, 64.0));
        }
        parts.push(rect(standard.0, standard.1, 64.0, 72.0));
        if let Some((a, b)) = svalbard {
            parts.push(rect(a, b, 72.0, 84.0));
        }
        MultiPolygon(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, Contains};

    #[test]
    fn every_point_lies_in_the_region_of_its_zone() {
        for lat in (-79..84).map(|l| f64::from(l) + 0.5) {
            for lon in (-180..180).map(|l| f64::from(l) + 0.5) {
                let zone = UtmZone::of(lon, lat).expect("zone");
                assert!(zone.region().contains(&geo::Point::new(lon, lat)), "{lon} {lat} in {}", zone.label());
            }
        }
        assert_eq!(UtmZone::of(5.5, 60.0).expect("zone").label(), "32N");
        assert_eq!(UtmZone::of(10.0, 78.0).expect("zone").label(), "33N");
        assert_eq!(UtmZone::of(151.2, -33.9).expect("zone").epsg(), 32_756);
        let total: f64 = UtmZone::all().map(|z| z.region().unsigned_area()).sum();
        assert!((total - 360.0 * 164.0).abs() < 1e-6, "the regions tile the UTM range: {total}");
    }
}
