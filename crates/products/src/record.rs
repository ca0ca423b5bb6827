//! What a published product's `DEST.qc.json` records besides its QC report — the options it was made with and
//! what identifies its content — and the rule that decides whether a destination already holds it.

use std::io::Read;
use std::path::Path;

use eoforge_storage::Store;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::naming::report_key;

/// How a published product is identified.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProductStamp {
    /// SHA-256 of the product's bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's entity tag right after publishing (changes whenever the object is rewritten).
    pub e_tag: Option<String>,
    /// The options the product was made with (model, scale, output type, …), as the stage names them.
    pub options: Map<String, Value>,
}

/// What a destination holds, judged from its record.
#[derive(Clone, Debug, PartialEq)]
pub enum Existing {
    /// No product.
    Missing,
    /// A product with a passing report, unchanged since it was published, made with the same options.
    Current(ProductStamp),
    /// A product without a passing record, or changed since (the reason): it is replaced.
    Stale(String),
    /// A current product made with other options (`key: old -> new`): replacing it needs `force`.
    OptionsChanged(String),
}

/// SHA-256 of a local file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io = |source| Error::Io { operation: "read", path: path.display().to_string(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

/// Judges what `key` in `store` holds against the options a new run would use.
pub async fn existing(store: &Store, key: &str, options: &Map<String, Value>) -> Result<Existing> {
    let Ok(head) = store.head(key).await else { return Ok(Existing::Missing) };
    let Ok(bytes) = store.get(&report_key(key)).await else {
        return Ok(Existing::Stale("it has no QC report".into()));
    };
    let Ok(report) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Existing::Stale("its QC report is not JSON".into()));
    };
    if report["passed"].as_bool() != Some(true) {
        return Ok(Existing::Stale("its QC report did not pass".into()));
    }
    let Some(stamp) = report.get("product").and_then(|p| serde_json::from_value::<ProductStamp>(p.clone()).ok()) else {
        return Ok(Existing::Stale("its QC report records no content hash".into()));
    };
    if stamp.size != head.size || (stamp.e_tag.is_some() && stamp.e_tag != head.e_tag) {
        return Ok(Existing::Stale("it changed after it was published".into()));
    }
    let differences = differences(&stamp.options, options);
    if differences.is_empty() { Ok(Existing::Current(stamp)) } else { Ok(Existing::OptionsChanged(differences)) }
}

/// `key: old -> new` for every option that differs, joined by `; `.
fn differences(old: &Map<String, Value>, new: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| {
            let show = |v: Option<&Value>| v.map_or_else(|| "unset".to_owned(), Value::to_string);
            format!("{k}: {} -> {}", show(old.get(k)), show(new.get(k)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_changed_option() {
        let old: Map<String, Value> = serde_json::from_str(r#"{"model":"identity","scale":1}"#).expect("json");
        let new: Map<String, Value> =
            serde_json::from_str(r#"{"model":"upsample","scale":1,"dtype":"int16"}"#).expect("json");
        assert_eq!(differences(&old, &new), r#"dtype: unset -> "int16"; model: "identity" -> "upsample""#);
        assert_eq!(differences(&old, &old), "");
    }
}
