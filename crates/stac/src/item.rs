//! [`StacItem`]: a STAC Item as a scene's source — its id, time and assets chosen by key or band name.

use std::path::PathBuf;

use eoforge_raster::{StackBand, stack_bands};
use eoforge_storage::{Store, StoreOptions};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A STAC Item and where it was read from (relative asset hrefs resolve against it).
#[derive(Clone, Debug)]
pub struct StacItem {
    location: String,
    item: Value,
}

/// The scene of an Item's assets: a VRT in a working folder removed when this is dropped.
#[derive(Debug)]
pub struct ItemScene {
    /// The VRT stacking the assets (open it as the scene).
    pub path: PathBuf,
    /// The bands, in order.
    pub bands: Vec<StackBand>,
    _dir: tempfile::TempDir,
}

impl StacItem {
    /// Reads an Item from a path, `file://` or `s3://` URL.
    pub fn read(location: &str, options: &StoreOptions) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Io { location: location.to_owned(), source })?;
        let (store, key) = Store::open_object(location, options)?;
        let bytes = runtime.block_on(store.get(&key))?;
        let item: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Item { location: location.to_owned(), reason: format!("not JSON: {e}") })?;
        Self::from_value(location, item)
    }

    /// An Item already parsed, read from `location`.
    pub fn from_value(location: &str, item: Value) -> Result<Self> {
        let bad = |reason: &str| Error::Item { location: location.to_owned(), reason: reason.to_owned() };
        if item.get("type").and_then(Value::as_str) != Some("Feature") {
            return Err(bad("its `type` is not `Feature` (a Collection or Catalog is not a scene)"));
        }
        if item.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(bad("it has no `id`"));
        }
        if !item.get("assets").is_some_and(Value::is_object) {
            return Err(bad("it has no `assets`"));
        }
        Ok(Self { location: location.to_owned(), item })
    }

    /// Where it was read from.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The Item's `id`.
    pub fn id(&self) -> &str {
        self.item["id"].as_str().unwrap_or_default()
    }

    /// Its time: `properties.datetime`, else `properties.start_datetime`.
    pub fn datetime(&self) -> Option<&str> {
        let properties = &self.item["properties"];
        properties["datetime"].as_str().or_else(|| properties["start_datetime"].as_str())
    }

    /// The Item's JSON.
    pub fn value(&self) -> &Value {
        &self.item
    }

    /// The assets asked for, in order, as bands: each name is an asset key or a band `name`/`common_name` in the
    /// asset's `eo:bands` (or STAC 1.1 `bands`). Where several assets carry the name (`red` as COG and JPEG 2000),
    /// the GeoTIFF is taken; an unknown or still ambiguous name is an error listing the Item's assets.
    pub fn bands(&self, names: &[String]) -> Result<Vec<StackBand>> {
        let assets = self.item["assets"].as_object().cloned().unwrap_or_default();
        names.iter().map(|name| self.band(&assets, name)).collect()
    }

    fn band(&self, assets: &Map<String, Value>, asked: &str) -> Result<StackBand> {
        let err = |reason: String| Error::Asset { location: self.location.clone(), asked: asked.to_owned(), reason };
        let (key, asset) = if let Some(found) = assets.get_key_value(asked) {
            found
        } else {
            let named: Vec<(&String, &Value)> =
                assets.iter().filter(|(_, a)| band_names(a).iter().any(|n| n.eq_ignore_ascii_case(asked))).collect();
            let tiffs: Vec<(&String, &Value)> = named.iter().copied().filter(|(_, a)| is_geotiff(a)).collect();
            match (named.as_slice(), tiffs.as_slice()) {
                ([one], _) | (_, [one]) => *one,
                ([], _) => return Err(err(format!("no asset has this key or band name; it has {}", list(assets)))),
                (several, _) => {
                    let keys: Vec<&str> = several.iter().map(|(k, _)| k.as_str()).collect();
                    return Err(err(format!("several assets carry this band ({}); name one by key", keys.join(", "))));
                }
            }
        };
        let href = asset["href"].as_str().ok_or_else(|| err(format!("asset `{key}` has no href")))?;
        let raster = band_fields(asset);
        let number = |field: &str, v11: &str| raster.get(field).or_else(|| raster.get(v11)).and_then(nodata_number);
        Ok(StackBand {
            location: self.resolve(href),
            name: asked.to_owned(),
            nodata: number("nodata", "nodata"),
            scale: number("scale", "raster:scale"),
            offset: number("offset", "raster:offset"),
        })
    }

    /// An asset href as a location the raster layer opens: absolute paths and `s3://`/`file://` URLs as they are,
    /// `http(s)://` through `/vsicurl/`, relative hrefs joined to the Item's folder.
    fn resolve(&self, href: &str) -> String {
        if href.starts_with("http://") || href.starts_with("https://") {
            return format!("/vsicurl/{href}");
        }
        if href.contains("://") || href.starts_with('/') {
            return href.to_owned();
        }
        let base = self.location.rsplit_once('/').map_or("", |(dir, _)| dir);
        let relative = href.trim_start_matches("./");
        if base.is_empty() { relative.to_owned() } else { format!("{base}/{relative}") }
    }

    /// The assets `names` stacked into one scene (a VRT in a working folder that reads them in place).
    pub fn scene(&self, names: &[String], options: &StoreOptions) -> Result<ItemScene> {
        let bands = self.bands(names)?;
        let dir = tempfile::Builder::new()
            .prefix("eoforge-stac-")
            .tempdir()
            .map_err(|source| Error::Io { location: self.location.clone(), source })?;
        let id: String =
            self.id().chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        let path = dir.path().join(format!("{id}.vrt"));
        stack_bands(&bands, &path, options)?;
        Ok(ItemScene { path, bands, _dir: dir })
    }
}

/// The names an asset's bands go by: `eo:bands` `name`/`common_name`, STAC 1.1 `bands` `name`/`eo:common_name`.
fn band_names(asset: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for list in [&asset["eo:bands"], &asset["bands"]] {
        for band in list.as_array().into_iter().flatten() {
            for field in ["name", "common_name", "eo:common_name"] {
                if let Some(name) = band[field].as_str() {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}

/// The first band's raster fields: `raster:bands[0]`, else STAC 1.1 `bands[0]`.
fn band_fields(asset: &Value) -> Map<String, Value> {
    [&asset["raster:bands"][0], &asset["bands"][0]].into_iter().find_map(|b| b.as_object().cloned()).unwrap_or_default()
}

/// A nodata/scale/offset value: a number, or `"nan"`, `"inf"`, `"-inf"`.
fn nodata_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == "nan" => Some(f64::NAN),
        Value::String(s) if s == "inf" => Some(f64::INFINITY),
        Value::String(s) if s == "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn is_geotiff(asset: &Value) -> bool {
    asset["type"].as_str().is_some_and(|t| t.starts_with("image/tiff"))
}

/// `key (common name)` for each asset that has a band name, for error messages.
fn list(assets: &Map<String, Value>) -> String {
    let entries: Vec<String> = assets
        .iter()
        .map(|(key, asset)| match band_names(asset).last() {
            Some(name) if name != key => format!("{key} ({name})"),
            _ => key.clone(),
        })
        .collect();
    entries.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(location: &str) -> StacItem {
        let value = json!({
            "type": "Feature", "id": "S2A_29RKH", "properties": { "datetime": "2020-02-19T11:34:25Z" },
            "assets": {
                "red": { "href": "B04.tif", "type": "image/tiff; application=geotiff",
                         "eo:bands": [{ "name": "red", "common_name": "red" }],
                         "raster:bands": [{ "nodata": 0, "scale": 0.0001, "offset": 0 }] },
                "red-jp2": { "href": "B04.jp2", "type": "image/jp2", "eo:bands": [{ "name": "red", "common_name": "red" }] },
                "nir": { "href": "https://host/B08.tif", "type": "image/tiff", "eo:bands": [{ "name": "B08", "common_name": "nir" }] },
                "thumbnail": { "href": "s3://bucket/t.jpg", "type": "image/jpeg" }
            }
        });
        StacItem::from_value(location, value).expect("item")
    }

    #[test]
    fn assets_are_found_by_key_or_band_name_and_hrefs_resolved() {
        let it = item("s3://bucket/items/S2A.json");
        let bands = it.bands(&["red".into(), "B08".into()]).expect("bands");
        assert_eq!(bands[0].location, "s3://bucket/items/B04.tif");
        assert_eq!((bands[0].nodata, bands[0].scale, bands[0].offset), (Some(0.0), Some(0.0001), Some(0.0)));
        assert_eq!(bands[1].location, "/vsicurl/https://host/B08.tif");
        assert_eq!(it.bands(&["nir".into()]).expect("key").len(), 1);
        assert_eq!(item("items/S2A.json").bands(&["red".into()]).expect("local")[0].location, "items/B04.tif");
        assert_eq!(it.datetime(), Some("2020-02-19T11:34:25Z"));
    }

    #[test]
    fn unknown_names_and_non_items_are_refused_with_what_there_is() {
        let err = item("i.json").bands(&["swir16".into()]).expect_err("unknown").to_string();
        assert!(err.contains("swir16") && err.contains("red-jp2 (red)") && err.contains("thumbnail"), "{err}");
        let err = StacItem::from_value("c.json", json!({ "type": "Collection", "id": "x" })).expect_err("collection");
        assert!(err.to_string().contains("c.json") && err.to_string().contains("Collection"), "{err}");
    }
}
