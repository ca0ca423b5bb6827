//! [`add_to_collection`]: a static STAC catalog of published products — `catalog.json` (the root), one
//! `collection.json` and the Items under `items/` — in a folder or under an `s3://` prefix.

use eoforge_storage::{Store, StoreOptions};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::stac::STAC_VERSION;

/// Adds (or replaces, by id) `item` in the static collection at `location`, creating the catalog and collection
/// when missing. The collection's item links and extent (bounding box and time interval) are rebuilt from the Items
/// stored under `items/`, so a rerun, a replaced product or another worker's addition all end in the same
/// collection; each file is replaced atomically.
pub async fn add_to_collection(location: &str, item: &Value, options: &StoreOptions) -> Result<()> {
    let store = Store::open_with(location, options)?;
    let bad = |reason: String| Error::Collection { collection: location.to_owned(), reason };
    let id = item["id"].as_str().filter(|id| !id.is_empty()).ok_or_else(|| bad("the item has no id".into()))?;
    if id.contains('/') || id.starts_with('.') {
        return Err(bad(format!("the item id `{id}` cannot name a file of the collection")));
    }
    let collection_id = location.trim_end_matches('/').rsplit('/').next().unwrap_or("products").to_owned();
    let mut stored = item.clone();
    stored["collection"] = json!(collection_id);
    let mut links: Vec<Value> = stored["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| !matches!(l["rel"].as_str(), Some("root" | "parent" | "collection" | "self")))
        .cloned()
        .collect();
    links.extend([
        json!({ "rel": "root", "href": "../catalog.json", "type": "application/json" }),
        json!({ "rel": "parent", "href": "../collection.json", "type": "application/json" }),
        json!({ "rel": "collection", "href": "../collection.json", "type": "application/json" }),
    ]);
    stored["links"] = Value::Array(links);
    put(&store, &format!("items/{id}.json"), &stored).await?;

    let mut items = Vec::new();
    for object in store.list("items/").await? {
        if !std::path::Path::new(&object.key).extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            continue;
        }
        let bytes = store.get(&object.key).await?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("{} is not JSON: {e}", store.url_of(&object.key))))?;
        items.push((object.key, value));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    let (mut start, mut end): (Option<String>, Option<String>) = (None, None);
    for (_, value) in &items {
        if let Some(b) = value["bbox"].as_array().filter(|b| b.len() == 4) {
            let b: Vec<f64> = b.iter().filter_map(Value::as_f64).collect();
            if b.len() == 4 {
                bbox = [bbox[0].min(b[0]), bbox[1].min(b[1]), bbox[2].max(b[2]), bbox[3].max(b[3])];
            }
        }
        if let Some(t) = value["properties"]["datetime"].as_str() {
            // RFC 3339 UTC times of one form order as strings.
            start = Some(start.map_or_else(|| t.to_owned(), |s| s.min(t.to_owned())));
            end = Some(end.map_or_else(|| t.to_owned(), |e| e.max(t.to_owned())));
        }
    }
    let spatial = if bbox[0].is_finite() { json!([bbox]) } else { json!([[-180.0, -90.0, 180.0, 90.0]]) };
    let mut collection_links = vec![
        json!({ "rel": "root", "href": "./catalog.json", "type": "application/json" }),
        json!({ "rel": "parent", "href": "./catalog.json", "type": "application/json" }),
    ];
    for (key, _) in &items {
        collection_links.push(json!({ "rel": "item", "href": format!("./{key}"), "type": "application/geo+json" }));
    }
    let collection = json!({
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": collection_id,
        "description": "Map products published by eoforge, each checked by QC before it was published.",
        "license": "other",
        "extent": { "spatial": { "bbox": spatial }, "temporal": { "interval": [[start, end]] } },
        "links": collection_links,
    });
    put(&store, "collection.json", &collection).await?;
    let catalog = json!({
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": format!("{collection_id}-catalog"),
        "description": "The root of a static catalog of eoforge products.",
        "links": [
            { "rel": "root", "href": "./catalog.json", "type": "application/json" },
            { "rel": "child", "href": "./collection.json", "type": "application/json" },
        ],
    });
    put(&store, "catalog.json", &catalog).await
}

async fn put(store: &Store, key: &str, value: &Value) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    store.put(key, bytes.into()).await?;
    Ok(())
}
