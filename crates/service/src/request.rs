//! What a request asks for (`NewRequest`: an area, a day or range of days, optionally a model and derived maps) and
//! what the queue holds about it (`Request`: status, attempts, worker, products, QC report, error).

use std::str::FromStr;

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// An area of interest in WGS 84: the GeoJSON geometry as given and its lon/lat bounding box, which the product
/// covers.
#[derive(Clone, Debug, PartialEq)]
pub struct Aoi {
    /// The geometry (a GeoJSON geometry object).
    pub geometry: Value,
    /// Min lon, min lat, max lon, max lat.
    pub bbox: [f64; 4],
}

impl Aoi {
    /// The area of a GeoJSON geometry, Feature or FeatureCollection (`what` names it in errors).
    pub fn from_geojson(value: &Value, what: &str) -> Result<Self> {
        let bad = |reason: String| Error::Usage(format!("--aoi {what}: {reason}"));
        let geometry = match value["type"].as_str() {
            Some("Feature") => value["geometry"].clone(),
            Some("FeatureCollection") => {
                let features = value["features"].as_array().ok_or_else(|| bad("no `features` array".into()))?;
                let geometries: Vec<Value> = features.iter().map(|f| f["geometry"].clone()).collect();
                match geometries.as_slice() {
                    [one] => one.clone(),
                    _ => json!({ "type": "GeometryCollection", "geometries": geometries }),
                }
            }
            Some(_) => value.clone(),
            None => return Err(bad("not GeoJSON (no `type`)".into())),
        };
        let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        extend_bbox(&geometry, &mut bbox).map_err(bad)?;
        if !bbox.iter().all(|v| v.is_finite()) {
            return Err(bad("the geometry has no coordinates".into()));
        }
        Self::checked(geometry, bbox).map_err(bad)
    }

    /// The area of a lon/lat box.
    pub fn from_bbox(bbox: [f64; 4]) -> Result<Self> {
        let [w, s, e, n] = bbox;
        let geometry = json!({ "type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]] });
        Self::checked(geometry, bbox).map_err(|reason| Error::Usage(format!("--aoi {w},{s},{e},{n}: {reason}")))
    }

    fn checked(geometry: Value, bbox: [f64; 4]) -> std::result::Result<Self, String> {
        let [w, s, e, n] = bbox;
        let lon = -180.0..=180.0;
        let lat = -90.0..=90.0;
        if !lon.contains(&w) || !lon.contains(&e) || !lat.contains(&s) || !lat.contains(&n) {
            return Err("coordinates beyond -180..180 / -90..90: the area must be in WGS 84 longitude, latitude".into());
        }
        if w >= e || s >= n {
            return Err("the area is empty (a point, a line, or MIN ≥ MAX)".into());
        }
        Ok(Self { geometry, bbox })
    }
}

/// Widens `bbox` by every position under a geometry's `coordinates` (or a collection's `geometries`).
fn extend_bbox(geometry: &Value, bbox: &mut [f64; 4]) -> std::result::Result<(), String> {
    fn walk(value: &Value, bbox: &mut [f64; 4]) -> std::result::Result<(), String> {
        match value.as_array() {
            Some(items) if items.first().is_some_and(Value::is_number) => {
                let (Some(lon), Some(lat)) = (items[0].as_f64(), items.get(1).and_then(Value::as_f64)) else {
                    return Err(format!("position {value} is not [lon, lat]"));
                };
                bbox[0] = bbox[0].min(lon);
                bbox[1] = bbox[1].min(lat);
                bbox[2] = bbox[2].max(lon);
                bbox[3] = bbox[3].max(lat);
                Ok(())
            }
            Some(items) => items.iter().try_for_each(|item| walk(item, bbox)),
            None => Err(format!("`{value}` is not a coordinate array")),
        }
    }
    match geometry["type"].as_str() {
        Some("GeometryCollection") => geometry["geometries"]
            .as_array()
            .ok_or("a GeometryCollection without `geometries`")?
            .iter()
            .try_for_each(|g| extend_bbox(g, bbox)),
        Some("Point" | "MultiPoint" | "LineString" | "MultiLineString" | "Polygon" | "MultiPolygon") => {
            walk(&geometry["coordinates"], bbox)
        }
        Some(other) => Err(format!("`{other}` is not a GeoJSON geometry type")),
        None => Err("a feature without a geometry".into()),
    }
}

impl FromStr for Aoi {
    type Err = Error;
    /// `MINLON,MINLAT,MAXLON,MAXLAT`, inline GeoJSON (`{…}`), or a GeoJSON file.
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.starts_with('{') {
            let value: Value =
                serde_json::from_str(text).map_err(|e| Error::Usage(format!("--aoi: inline GeoJSON: {e}")))?;
            return Self::from_geojson(&value, "(inline GeoJSON)");
        }
        let numbers: std::result::Result<Vec<f64>, _> = text.split(',').map(|p| p.trim().parse::<f64>()).collect();
        if let Ok(numbers) = numbers {
            let [w, s, e, n] = numbers.as_slice() else {
                return Err(Error::Usage(format!("--aoi `{text}` needs four numbers MINLON,MINLAT,MAXLON,MAXLAT")));
            };
            return Self::from_bbox([*w, *s, *e, *n]);
        }
        let bytes = std::fs::read(text).map_err(|e| {
            Error::Usage(format!(
                "--aoi `{text}` is neither MINLON,MINLAT,MAXLON,MAXLAT nor a readable GeoJSON file: {e}"
            ))
        })?;
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::Usage(format!("--aoi {text}: not JSON: {e}")))?;
        Self::from_geojson(&value, text)
    }
}

/// A day or an inclusive range of days (`YYYY-MM-DD`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateRange {
    /// First day.
    pub from: String,
    /// Last day (the same as `from` for one day).
    pub to: String,
}

impl FromStr for DateRange {
    type Err = Error;
    /// `YYYY-MM-DD` (or `YYYYMMDD`), or `FIRST/LAST`.
    fn from_str(text: &str) -> Result<Self> {
        let (first, last) = text.split_once('/').unwrap_or((text, text));
        let from = eoforge_stac::iso_day(first.trim()).map_err(Error::Usage)?;
        let to = eoforge_stac::iso_day(last.trim()).map_err(Error::Usage)?;
        if to < from {
            return Err(Error::Usage(format!("--date `{text}` ends before it starts")));
        }
        Ok(Self { from, to })
    }
}

/// A request to add to the queue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRequest {
    /// Where.
    pub aoi: Aoi,
    /// When (the least cloudy scene of these days is used).
    pub dates: DateRange,
    /// Only a service whose model has this name takes it (`None`: any).
    pub model: Option<String>,
    /// Maps derived from the product (`None`: the service's).
    pub derivatives: Option<Vec<String>>,
    /// Higher first; equal priorities in order of submission.
    pub priority: i32,
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a worker (new, or back after a failed attempt or a dead worker's lease).
    Pending,
    /// A worker holds it (until its lease ends).
    Running,
    /// Its product passed QC and is published; the row names the files.
    Published,
    /// QC rejected its product: nothing published; the row holds the report.
    Rejected,
    /// Every attempt failed; the row holds the last error and its stage.
    Failed,
}

impl Status {
    /// The name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Published => "published",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for Status {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(Self::Pending),
            "running" => Ok(Self::Running),
            "published" => Ok(Self::Published),
            "rejected" => Ok(Self::Rejected),
            "failed" => Ok(Self::Failed),
            _ => Err(Error::Usage(format!(
                "status `{text}` is not one of pending, running, published, rejected, failed"
            ))),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as the queue holds it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Request {
    /// Its id.
    pub id: i64,
    /// Where (GeoJSON geometry, WGS 84).
    pub aoi: Value,
    /// Its lon/lat box.
    pub bbox: Vec<f64>,
    /// First day.
    pub date_from: String,
    /// Last day.
    pub date_to: String,
    /// The model asked for, if any.
    pub model: Option<String>,
    /// The derived maps asked for, if any.
    pub derivatives: Option<Vec<String>>,
    /// Priority.
    pub priority: i32,
    /// Where it stands.
    pub status: Status,
    /// Attempts started.
    pub attempts: i32,
    /// The worker of the last attempt.
    pub worker: Option<String>,
    /// The STAC Item the product was made from.
    pub scene: Option<String>,
    /// The files published (product, derived maps, STAC Item, QC report).
    pub products: Vec<String>,
    /// The product's STAC Item.
    pub item: Option<String>,
    /// The QC report of the product (published or rejected).
    pub qc_report: Option<Value>,
    /// The stage of the last error.
    pub stage: Option<String>,
    /// The last error (or the failed checks of a rejection).
    pub error: Option<String>,
    /// When it was submitted (UTC, RFC 3339).
    pub created_at: String,
    /// When its last attempt started.
    pub started_at: Option<String>,
    /// When it was published, rejected or failed.
    pub finished_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp)] // parsed numbers, compared exactly
    fn areas_parse_from_boxes_and_geojson() {
        let aoi: Aoi = "-8.6, 37.0, -8.5, 37.1".parse().expect("bbox");
        assert_eq!(aoi.bbox, [-8.6, 37.0, -8.5, 37.1]);
        assert_eq!(aoi.geometry["type"], "Polygon");
        let feature = r#"{"type":"Feature","properties":{},"geometry":{"type":"MultiPolygon","coordinates":
            [[[[10,50],[11,50],[11,51],[10,50]]],[[[12,49],[12.5,49],[12.5,49.5],[12,49]]]]}}"#;
        let aoi: Aoi = feature.parse().expect("feature");
        assert_eq!(aoi.bbox, [10.0, 49.0, 12.5, 51.0]);
        for (bad, says) in [
            ("1,2,3", "four numbers"),
            ("10,50,9,51", "empty"),
            ("500000,4100000,510000,4110000", "WGS 84"),
            (r#"{"type":"Point","coordinates":[10,50]}"#, "empty"),
            (r#"{"type":"Circle","coordinates":[10,50]}"#, "not a GeoJSON geometry type"),
            ("/no/such/aoi.geojson", "/no/such/aoi.geojson"),
        ] {
            let e = bad.parse::<Aoi>().expect_err(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn dates_parse_as_days_and_ranges() {
        assert_eq!("20230626".parse::<DateRange>().expect("day").to, "2023-06-26");
        let range: DateRange = "2023-06-01/2023-06-30".parse().expect("range");
        assert_eq!((range.from.as_str(), range.to.as_str()), ("2023-06-01", "2023-06-30"));
        assert!("2023-06-30/2023-06-01".parse::<DateRange>().is_err());
        assert!("June".parse::<DateRange>().is_err());
    }
}
