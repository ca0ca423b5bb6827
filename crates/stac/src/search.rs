//! [`search_scene`]: the one Item of a day a STAC API holds for a tile or an area — a `POST /search` with the
//! Earth Search conventions (`grid:code` = `MGRS-<tile>`, `eo:cloud_cover`), checked again on the answer, and a
//! stated rule to pick among several products of the day.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::item::StacItem;

/// What to search for.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneQuery {
    /// The collection, e.g. `sentinel-2-l2a`.
    pub collection: String,
    /// The acquisition day, `YYYY-MM-DD` (or `YYYYMMDD`); with `until`, the first day of a range.
    pub date: String,
    /// The last day of a range (inclusive), `YYYY-MM-DD` or `YYYYMMDD`; `None`: `date` alone.
    pub until: Option<String>,
    /// An MGRS tile (`33LWF`, or `MGRS-33LWF`).
    pub mgrs: Option<String>,
    /// A lon/lat box the Item must intersect: min lon, min lat, max lon, max lat.
    pub bbox: Option<[f64; 4]>,
    /// Largest `eo:cloud_cover` (percent).
    pub max_cloud: Option<f64>,
    /// Which of the day's products (ordered by cloud cover, least first, then id): 0 for the first.
    pub index: usize,
}

impl SceneQuery {
    /// The day as `YYYY-MM-DD`, or why `--date` is not one.
    fn day(&self) -> std::result::Result<String, String> {
        iso_day(&self.date)
    }

    /// The searched interval, `FIRST/LAST` (days), or why a day is not one.
    fn days(&self) -> std::result::Result<(String, String), String> {
        let first = self.day()?;
        let last = match &self.until {
            Some(until) => iso_day(until)?,
            None => first.clone(),
        };
        if last < first {
            return Err(format!("the date range {first}/{last} ends before it starts"));
        }
        Ok((first, last))
    }

    /// `MGRS-33LWF` from `33LWF`, `mgrs-33lwf` or `MGRS-33LWF`.
    fn grid_code(&self) -> Option<String> {
        self.mgrs.as_ref().map(|tile| {
            let tile = tile.trim().to_ascii_uppercase();
            let tile = tile.strip_prefix("MGRS-").unwrap_or(&tile);
            format!("MGRS-{tile}")
        })
    }

    /// The search request: collections, the day, the box, and a CQL2 filter for tile and cloud cover.
    fn body(&self) -> std::result::Result<Value, String> {
        let (first, last) = self.days()?;
        let mut body = json!({
            "collections": [self.collection],
            "datetime": format!("{first}T00:00:00Z/{last}T23:59:59.999Z"),
            "limit": 100,
        });
        if let Some(bbox) = self.bbox {
            body["bbox"] = json!(bbox);
        }
        let mut clauses = Vec::new();
        if let Some(code) = self.grid_code() {
            clauses.push(json!({ "op": "=", "args": [{ "property": "grid:code" }, code] }));
        }
        if let Some(max) = self.max_cloud {
            clauses.push(json!({ "op": "<=", "args": [{ "property": "eo:cloud_cover" }, max] }));
        }
        if !clauses.is_empty() {
            // CQL2 JSON is a POST search's default filter language; some servers refuse the field itself.
            body["filter"] =
                if clauses.len() == 1 { clauses.remove(0) } else { json!({ "op": "and", "args": clauses }) };
        }
        Ok(body)
    }

    /// Whether an answered Item meets the query (a server that ignores a filter is not trusted).
    fn admits(&self, item: &Value) -> bool {
        let properties = &item["properties"];
        let tile = self
            .grid_code()
            .is_none_or(|code| properties["grid:code"].as_str().is_none_or(|c| c.eq_ignore_ascii_case(&code)));
        let cloud = self.max_cloud.is_none_or(|max| properties["eo:cloud_cover"].as_f64().is_none_or(|c| c <= max));
        let collection = item["collection"].as_str().is_none_or(|c| c == self.collection);
        tile && cloud && collection
    }
}

/// `YYYY-MM-DD` from `YYYY-MM-DD` or `YYYYMMDD`, or why `text` is neither (checked by bytes: a multi-byte text is
/// refused, never sliced).
pub fn iso_day(text: &str) -> std::result::Result<String, String> {
    let bytes = text.as_bytes();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let shaped = bytes.len() == 8 || (bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-');
    if digits.len() != 8 || !shaped {
        return Err(format!("--date `{text}` is not YYYY-MM-DD or YYYYMMDD"));
    }
    let number = |range: std::ops::Range<usize>| digits[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(4..6), number(6..8));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(format!("--date `{text}`: there is no month {month}")),
    };
    if !(1..=days).contains(&day) {
        return Err(format!("--date `{text}`: month {month} of {year} has no day {day}"));
    }
    Ok(format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..]))
}

/// The Item `query` picks from the STAC API at `api` (its root URL). None found, or fewer than `index + 1`, is an
/// error naming the query and the candidates.
pub fn search_scene(api: &str, query: &SceneQuery) -> Result<StacItem> {
    let err = |reason: String| Error::Search { api: api.to_owned(), reason };
    let body = query.body().map_err(err)?;
    let url = format!("{}/search", api.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io { location: api.to_owned(), source })?;
    let answer: Value = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| err(format!("cannot make an HTTP client: {}", e.without_url())))?;
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/geo+json")
            .body(serde_json::to_vec(&body).unwrap_or_default())
            .send()
            .await
            .map_err(|e| err(format!("POST /search failed: {}", e.without_url())))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| err(format!("reading the answer: {}", e.without_url())))?;
        if !status.is_success() {
            let excerpt: String = text.chars().take(300).collect();
            return Err(err(format!("POST /search answered {status}: {excerpt}")));
        }
        serde_json::from_str(&text).map_err(|e| err(format!("the answer is not JSON: {e}")))
    })?;
    let features = answer["features"].as_array().ok_or_else(|| err("the answer has no `features`".into()))?;
    let mut found: Vec<&Value> = features.iter().filter(|f| query.admits(f)).collect();
    found.sort_by(|a, b| {
        let cloud = |v: &Value| v["properties"]["eo:cloud_cover"].as_f64().unwrap_or(f64::INFINITY);
        cloud(a).total_cmp(&cloud(b)).then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
    });
    let describe = || {
        let day = match &query.until {
            Some(until) => format!("days {} to {until}", query.date),
            None => format!("day {}", query.date),
        };
        let mut parts = vec![format!("collection {}", query.collection), day];
        if let Some(code) = query.grid_code() {
            parts.push(code);
        }
        if let Some(max) = query.max_cloud {
            parts.push(format!("cloud cover ≤ {max}%"));
        }
        parts.join(", ")
    };
    let Some(item) = found.get(query.index) else {
        if found.is_empty() {
            return Err(err(format!("no Item for {}", describe())));
        }
        let ids: Vec<String> = found
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!("{i}: {} ({}% cloud)", f["id"].as_str().unwrap_or("?"), f["properties"]["eo:cloud_cover"])
            })
            .collect();
        return Err(err(format!(
            "--s2-index {} but {} has {} product(s): {}",
            query.index,
            describe(),
            found.len(),
            ids.join(", ")
        )));
    };
    let id = item["id"].as_str().unwrap_or_default();
    let location = item["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["rel"] == "self")
        .and_then(|l| l["href"].as_str())
        .map_or_else(
            || format!("{}/collections/{}/items/{id}", api.trim_end_matches('/'), query.collection),
            str::to_owned,
        );
    StacItem::from_value(&location, (*item).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> SceneQuery {
        SceneQuery {
            collection: "sentinel-2-l2a".into(),
            date: "20230626".into(),
            until: None,
            mgrs: Some("33lwf".into()),
            bbox: None,
            max_cloud: Some(20.0),
            index: 0,
        }
    }

    #[test]
    fn the_request_follows_earth_search_conventions() {
        let body = query().body().expect("body");
        assert_eq!(body["datetime"], "2023-06-26T00:00:00Z/2023-06-26T23:59:59.999Z");
        assert_eq!(body["filter"]["args"][0]["args"][1], "MGRS-33LWF");
        assert_eq!(body["filter"]["args"][1]["args"][1], 20.0);
        let bad = SceneQuery { date: "26/06/2023".into(), ..query() };
        assert!(bad.body().expect_err("bad date").contains("--date `26/06/2023`"));
        let wide = SceneQuery { date: "2023年6月2".into(), ..query() };
        assert!(wide.body().is_err(), "a date of other characters is refused, not sliced");
        let range = SceneQuery { until: Some("2023-07-02".into()), ..query() };
        assert_eq!(range.body().expect("range")["datetime"], "2023-06-26T00:00:00Z/2023-07-02T23:59:59.999Z");
        for (bad, says) in [("2023-13-01", "no month 13"), ("20230231", "no day 31"), ("2023-02-29", "no day 29")] {
            let e = SceneQuery { date: bad.into(), ..query() }.body().expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(SceneQuery { date: "2024-02-29".into(), ..query() }.body().is_ok(), "a leap day");
        let inverted = SceneQuery { until: Some("2023-06-01".into()), ..query() };
        assert!(inverted.body().expect_err("inverted").contains("ends before it starts"));
    }

    #[test]
    fn answers_are_checked_again() {
        let q = query();
        let item = |code: &str, cloud: f64| json!({ "properties": { "grid:code": code, "eo:cloud_cover": cloud } });
        assert!(q.admits(&item("MGRS-33LWF", 4.0)));
        assert!(!q.admits(&item("MGRS-33LWG", 4.0)));
        assert!(!q.admits(&item("MGRS-33LWF", 40.0)));
    }
}
