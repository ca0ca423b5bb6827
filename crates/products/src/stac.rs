//! [`product_item`]: the STAC Item published beside a product (`DEST.json`) — its footprint in lon/lat, its grid
//! (`proj:`), its bands (`raster:bands` with type, nodata, scale/offset and the QC statistics; `eo:bands` where
//! the bands are named), what it was made from (`derived_from`) and with (`processing:`, the recorded options),
//! and assets for the product, its derived maps, its QC report and its profile.

use std::path::Path;

use eoforge_qc::{BandStats, QcReport};
use eoforge_raster::{Crs, Raster, transform_points};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::naming::{product_stem, profile_key, report_key};

/// STAC version of the items written.
pub const STAC_VERSION: &str = "1.1.0";
/// The extensions the items use, by schema URL.
pub const STAC_EXTENSIONS: [&str; 4] = [
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
];
/// The classification extension, used where a product has a quality band (its values and what they mean).
pub const CLASSIFICATION_EXTENSION: &str = "https://stac-extensions.github.io/classification/v2.0.0/schema.json";
/// Media type of a cloud-optimized GeoTIFF asset.
pub const COG_MEDIA_TYPE: &str = "image/tiff; application=geotiff; profile=cloud-optimized";

/// The key of a product's STAC Item: `<key>.json` (beside `<key>.qc.json`).
pub fn item_key(product_key: &str) -> String {
    format!("{product_key}.json")
}

/// A file of the product set as an item sees it: the local file (read for grid and bands), where it is published,
/// and its QC report.
#[derive(Clone, Copy, Debug)]
pub struct ItemFile<'a> {
    /// The finished local file.
    pub file: &'a Path,
    /// Its destination (path or URL).
    pub dest: &'a str,
    /// Its QC report.
    pub report: &'a QcReport,
}

/// What an item says about where and how the product was made.
#[derive(Clone, Copy, Debug)]
pub struct ItemContext<'a> {
    /// The input it was made from (path or URL): the `derived_from` link.
    pub source: &'a str,
    /// The options it was made with (`eoforge:options`; the model, when one is named, also `processing:lineage`).
    pub options: &'a Map<String, Value>,
    /// The acquisition time (RFC 3339), when known; else the source's `TIFFTAG_DATETIME`, else the time of making.
    pub datetime: Option<&'a str>,
    /// Where the product's preview PNG is published, when it has one (the `thumbnail` asset).
    pub preview: Option<&'a str>,
}

/// The STAC Item of `product` (published at `product.dest`) and its `derived` maps. The footprint is the grid's
/// outline, densified and transformed to WGS 84 (a product without a grid or CRS has a null geometry).
pub fn product_item(product: ItemFile<'_>, derived: &[ItemFile<'_>], context: ItemContext<'_>) -> Result<Value> {
    let raster = open(product.file, product.dest)?;
    let now = eoforge_profile::utc_now();
    let stem = product_stem(product.dest);
    let id = stem.rsplit(['/', '\\']).next().filter(|s| !s.is_empty()).unwrap_or(stem);
    let (geometry, bbox) = footprint(&raster, product.dest)?;
    let mut properties = Map::new();
    let datetime =
        context.datetime.map(str::to_owned).or_else(|| tiff_datetime(&raster)).unwrap_or_else(|| now.clone());
    properties.insert("datetime".into(), json!(datetime));
    properties.insert("created".into(), json!(now));
    properties.extend(grid_fields(&raster));
    properties.insert("processing:software".into(), json!({ "eoforge": env!("CARGO_PKG_VERSION") }));
    properties.insert("processing:datetime".into(), json!(now));
    if let Some(model) = context.options.get("model").and_then(Value::as_str) {
        properties.insert("processing:lineage".into(), json!(format!("made by eoforge with the model `{model}`")));
    }
    properties.insert("eoforge:options".into(), Value::Object(context.options.clone()));

    let mut assets = Map::new();
    assets.insert("data".into(), raster_asset(&raster, product, "The product")?);
    for map in derived {
        let name = derived_name(product.dest, map.dest);
        let raster = open(map.file, map.dest)?;
        assets.insert(name.clone(), raster_asset(&raster, *map, &format!("Derived map `{name}`"))?);
    }
    assets.insert(
        "qc".into(),
        json!({ "href": href(&report_key(product.dest)), "type": "application/json", "roles": ["metadata"],
                "title": "QC report" }),
    );
    if let Some(preview) = context.preview {
        assets.insert(
            "thumbnail".into(),
            json!({ "href": href(preview), "type": "image/png", "roles": ["thumbnail"], "title": "Preview" }),
        );
    }
    assets.insert(
        "profile".into(),
        json!({ "href": href(&profile_key(product.dest)), "type": "application/json", "roles": ["metadata"],
                "title": "Stage timings, throughput and peak memory" }),
    );
    let mut extensions: Vec<&str> = STAC_EXTENSIONS.to_vec();
    if product.report.config.quality_band.is_some() {
        extensions.push(CLASSIFICATION_EXTENSION);
    }
    let mut item = json!({
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions,
        "id": id,
        "geometry": geometry,
        "properties": properties,
        "links": [{ "rel": "derived_from", "href": href(context.source), "title": "Source" }],
        "assets": assets,
    });
    if let Some(bbox) = bbox {
        item["bbox"] = json!(bbox);
    }
    Ok(item)
}

/// An href readers resolve the same from anywhere: URLs as they are, local paths made absolute.
fn href(location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    std::path::absolute(location).map_or_else(|_| location.to_owned(), |p| p.display().to_string())
}

fn open(file: &Path, dest: &str) -> Result<Raster> {
    Raster::open(&file.display().to_string()).map_err(|e| Error::Item { dest: dest.to_owned(), reason: e.to_string() })
}

/// The name a derived map goes by: its destination less the product's stem and `_`, and `.tif`.
fn derived_name(product_dest: &str, map_dest: &str) -> String {
    let stem = product_stem(product_dest);
    let rest = map_dest.strip_prefix(stem).map_or(map_dest, |r| r.trim_start_matches('_'));
    product_stem(rest).to_owned()
}

/// `proj:code` (or `proj:wkt2` where the CRS has no EPSG code), `proj:shape` and `proj:transform`.
fn grid_fields(raster: &Raster) -> Map<String, Value> {
    let mut fields = Map::new();
    match raster.crs() {
        Some(Crs { epsg: Some(code), .. }) => {
            fields.insert("proj:code".into(), json!(format!("EPSG:{code}")));
        }
        Some(crs) => {
            fields.insert("proj:code".into(), Value::Null);
            fields.insert("proj:wkt2".into(), json!(crs.wkt));
        }
        None => {}
    }
    fields.insert("proj:shape".into(), json!([raster.height(), raster.width()]));
    if let Some(g) = raster.geo_transform() {
        let g = g.0;
        fields.insert("proj:transform".into(), json!([g[1], g[2], g[0], g[4], g[5], g[3]]));
    }
    fields
}

/// The grid's outline in WGS 84 (lon, lat), 16 points per edge, counter-clockwise, and its bounding box.
fn footprint(raster: &Raster, dest: &str) -> Result<(Value, Option<[f64; 4]>)> {
    const STEPS: usize = 16;
    let (Some(g), Some(crs)) = (raster.geo_transform(), raster.crs()) else { return Ok((Value::Null, None)) };
    let (w, h) = (raster.width() as f64, raster.height() as f64);
    let mut ring = Vec::with_capacity(4 * STEPS + 1);
    // Pixel corners walked counter-clockwise on a north-up map: top-left, bottom-left, bottom-right, top-right.
    let corners = [(0.0, 0.0), (0.0, h), (w, h), (w, 0.0), (0.0, 0.0)];
    for pair in corners.windows(2) {
        let ((c0, r0), (c1, r1)) = (pair[0], pair[1]);
        for step in 0..STEPS {
            let t = step as f64 / STEPS as f64;
            ring.push(g.pixel_to_map(c0 + (c1 - c0) * t, r0 + (r1 - r0) * t));
        }
    }
    let wgs84 = Crs::wgs84().map_err(|e| Error::Item { dest: dest.to_owned(), reason: e.to_string() })?;
    transform_points(&mut ring, &crs, &wgs84)
        .map_err(|e| Error::Item { dest: dest.to_owned(), reason: e.to_string() })?;
    ring.push(ring[0]);
    let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for &(lon, lat) in &ring {
        bbox = [bbox[0].min(lon), bbox[1].min(lat), bbox[2].max(lon), bbox[3].max(lat)];
    }
    let coordinates: Vec<[f64; 2]> = ring.iter().map(|&(lon, lat)| [round(lon), round(lat)]).collect();
    Ok((json!({ "type": "Polygon", "coordinates": [coordinates] }), Some(bbox.map(round))))
}

/// Nine decimals of a degree: about 0.1 mm.
fn round(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

/// The source's acquisition time carried in `TIFFTAG_DATETIME` (`YYYY:MM:DD HH:MM:SS`), as RFC 3339.
fn tiff_datetime(raster: &Raster) -> Option<String> {
    let meta = raster.metadata().ok()?;
    let (_, value) = meta.items.iter().find(|(k, _)| k == "TIFFTAG_DATETIME")?;
    let (date, time) = value.trim().split_once(' ')?;
    let date = date.replace(':', "-");
    let valid = date.len() == 10
        && time.len() == 8
        && date.chars().chain(time.chars()).all(|c| c.is_ascii_digit() || c == '-' || c == ':');
    valid.then(|| format!("{date}T{time}Z"))
}

/// An asset for a published raster: its href, media type, roles, `raster:bands` and, where bands are named,
/// `eo:bands`.
fn raster_asset(raster: &Raster, file: ItemFile<'_>, title: &str) -> Result<Value> {
    let err = |e: eoforge_raster::Error| Error::Item { dest: file.dest.to_owned(), reason: e.to_string() };
    let info = raster.info().map_err(err)?;
    let meta = raster.metadata().map_err(err)?;
    let resolution = raster.geo_transform().map(|g| g.0[1].abs());
    let mut raster_bands = Vec::with_capacity(info.bands.len());
    let mut eo_bands = Vec::with_capacity(info.bands.len());
    for (i, band) in info.bands.iter().enumerate() {
        let mut entry = Map::new();
        entry.insert("data_type".into(), json!(stac_data_type(&band.dtype)));
        if let Some(nodata) = band.nodata {
            entry.insert("nodata".into(), nodata_value(nodata));
        }
        if let Some(resolution) = resolution {
            entry.insert("spatial_resolution".into(), json!(resolution));
        }
        if let Some(m) = meta.bands.get(i) {
            if let Some(scale) = m.scale {
                entry.insert("scale".into(), json!(scale));
            }
            if let Some(offset) = m.offset {
                entry.insert("offset".into(), json!(offset));
            }
        }
        if let Some(stats) = file.report.bands.iter().find(|s| s.band == band.index) {
            entry.insert("statistics".into(), statistics(stats));
        }
        if file.report.config.quality_band == Some(band.index) {
            // The mask band: what each value means (classification extension).
            let classes = [
                (0, "nodata", "no data: input nodata or not covered"),
                (1, "valid", "valid"),
                (2, "nodata_near", "valid, but the input had nodata within the halo around the pixel"),
                (3, "clipped", "a band's value was clipped to the output type's range"),
            ];
            let classes: Vec<Value> = classes
                .iter()
                .map(|(value, name, description)| {
                    let mut class = json!({ "value": value, "name": name, "description": description });
                    if *value == 0 {
                        class["nodata"] = json!(true);
                    }
                    class
                })
                .collect();
            entry.insert("classification:classes".into(), Value::Array(classes));
        }
        raster_bands.push(Value::Object(entry));
        let name = band.description.trim();
        let mut eo = json!({ "name": if name.is_empty() { format!("b{}", band.index) } else { name.to_owned() } });
        if let Some(common) = common_name(name) {
            eo["common_name"] = json!(common);
        }
        eo_bands.push((name.is_empty(), eo));
    }
    let mut asset = json!({
        "href": href(file.dest),
        "type": COG_MEDIA_TYPE,
        "title": title,
        "roles": ["data"],
        "raster:bands": raster_bands,
    });
    if eo_bands.iter().any(|(unnamed, _)| !unnamed) {
        asset["eo:bands"] = Value::Array(eo_bands.into_iter().map(|(_, eo)| eo).collect());
    }
    Ok(asset)
}

/// `raster:bands` statistics from QC's: minimum, maximum, mean, standard deviation and the valid share (%).
fn statistics(stats: &BandStats) -> Value {
    let valid =
        if stats.pixels == 0 { 0.0 } else { 100.0 * (stats.pixels - stats.nodata) as f64 / stats.pixels as f64 };
    json!({
        "minimum": stats.min,
        "maximum": stats.max,
        "mean": stats.mean,
        "stddev": stats.std,
        "valid_percent": valid,
    })
}

/// A nodata value as the raster extension writes it: a number, or `"nan"`, `"inf"`, `"-inf"`.
fn nodata_value(nodata: f64) -> Value {
    match nodata {
        v if v.is_nan() => json!("nan"),
        v if v == f64::INFINITY => json!("inf"),
        v if v == f64::NEG_INFINITY => json!("-inf"),
        v if v.fract() == 0.0 && v.abs() < 9.0e15 => json!(v as i64),
        v => json!(v),
    }
}

/// GDAL's type name as the raster extension's `data_type`.
fn stac_data_type(gdal: &str) -> String {
    match gdal {
        "Byte" => "uint8".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// The `eo:bands` common name a band description is, if it is one.
fn common_name(description: &str) -> Option<&'static str> {
    const NAMES: [&str; 16] = [
        "coastal", "blue", "green", "red", "yellow", "rededge", "pan", "nir", "nir08", "nir09", "cirrus", "swir16",
        "swir22", "lwir", "lwir11", "lwir12",
    ];
    let lower = description.to_ascii_lowercase();
    NAMES.into_iter().find(|n| *n == lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_maps_are_named_by_their_suffix() {
        assert_eq!(derived_name("s3://maps/T29RKH.tif", "s3://maps/T29RKH_ndvi.tif"), "ndvi");
        assert_eq!(derived_name("/maps/x.TIF", "/maps/x_rgb.tif"), "rgb");
    }

    #[test]
    fn nodata_and_types_are_written_as_the_raster_extension_asks() {
        assert_eq!(nodata_value(f64::NAN), json!("nan"));
        assert_eq!(nodata_value(-9999.0), json!(-9999));
        assert_eq!(nodata_value(0.5), json!(0.5));
        assert_eq!(stac_data_type("Byte"), "uint8");
        assert_eq!(stac_data_type("Int8"), "int8");
        assert_eq!(stac_data_type("Float32"), "float32");
        assert_eq!(common_name("Red"), Some("red"));
        assert_eq!(common_name("B04"), None);
    }
}
