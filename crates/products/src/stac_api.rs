//! [`publish_to_api`]: a product's STAC Item sent to a STAC API with the Transactions extension — `POST
//! /collections/{id}/items`, or `PUT …/items/{item}` when the API already holds it (a rerun) — the collection made
//! from the Item first when the API has none by that id.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Sends `item` to the collection at `collection_url` (`API/collections/ID`) of a STAC API with Transactions.
/// The Item's own static-catalog links (`self`, `root`, `parent`, `collection`) are left out: the API makes its
/// own. The URL is shown in errors without its query (where a token may be).
pub async fn publish_to_api(collection_url: &str, item: &Value) -> Result<()> {
    let collection_url = collection_url.trim_end_matches('/');
    let shown = collection_url.split('?').next().unwrap_or_default().to_owned();
    let err = |reason: String| Error::StacApi { url: shown.clone(), reason };
    let (api, id) = collection_url
        .rsplit_once("/collections/")
        .filter(|(_, id)| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| err("not a collection URL: give API/collections/ID".into()))?;
    let item_id = item["id"].as_str().ok_or_else(|| err("the Item has no id".into()))?;
    let mut body = item.clone();
    body["collection"] = json!(id);
    if let Some(links) = body["links"].as_array_mut() {
        links.retain(|l| !matches!(l["rel"].as_str(), Some("self" | "root" | "parent" | "collection")));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| err(format!("cannot make an HTTP client: {}", e.without_url())))?;
    let send = |request: reqwest::RequestBuilder, what: &'static str, payload: &Value| {
        let request = request
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(serde_json::to_vec(payload).unwrap_or_default());
        async move {
            let response = request.send().await.map_err(|e| format!("{what} failed: {}", e.without_url()))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            Ok::<_, String>((status, text.chars().take(300).collect::<String>()))
        }
    };
    let refused =
        |what: &str, status: reqwest::StatusCode, excerpt: &str| err(format!("{what} answered {status}: {excerpt}"));

    // The collection: made from the Item when missing (pgstac answers an Item for a missing collection with 500).
    let (status, excerpt) = send(client.get(collection_url), "GET the collection", &Value::Null).await.map_err(err)?;
    if status == reqwest::StatusCode::NOT_FOUND {
        let collection = collection_of(id, item);
        let (status, excerpt) =
            send(client.post(format!("{api}/collections")), "POST /collections", &collection).await.map_err(err)?;
        // 409: another worker made it meanwhile.
        if !status.is_success() && status != reqwest::StatusCode::CONFLICT {
            return Err(refused("POST /collections", status, &excerpt));
        }
        tracing::info!(collection = id, "made the STAC API collection");
    } else if !status.is_success() {
        return Err(refused("GET the collection", status, &excerpt));
    }
    let (status, excerpt) =
        send(client.post(format!("{collection_url}/items")), "POST the Item", &body).await.map_err(err)?;
    if status.is_success() {
        return Ok(());
    }
    if status != reqwest::StatusCode::CONFLICT {
        return Err(refused("POST the Item", status, &excerpt));
    }
    let (status, excerpt) =
        send(client.put(format!("{collection_url}/items/{item_id}")), "PUT the Item", &body).await.map_err(err)?;
    if status.is_success() { Ok(()) } else { Err(refused("PUT the Item", status, &excerpt)) }
}

/// A collection `id` whose extent is the Item's (the API widens it as Items arrive, or a catalogue owner does).
fn collection_of(id: &str, item: &Value) -> Value {
    let datetime = item["properties"]["datetime"].clone();
    json!({
        "type": "Collection",
        "stac_version": crate::STAC_VERSION,
        "id": id,
        "description": "Products published by eoforge",
        "license": "other",
        "links": [],
        "extent": {
            "spatial": { "bbox": [item["bbox"].clone()] },
            "temporal": { "interval": [[datetime, null]] },
        },
    })
}
