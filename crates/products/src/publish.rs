//! [`ProductSet`]: a finished product and its derived maps in a working folder, checked by QC and published
//! together — derived maps first, the product last, so a published product means a complete set — or not at all.

use std::path::{Path, PathBuf};

use eoforge_profile::{Stages, peak_rss_mib};
use eoforge_qc::{QcConfig, QcReport, run_qc};
use eoforge_storage::{Store, StoreOptions};
use serde_json::{Map, Value};

use crate::collection::add_to_collection;
use crate::error::{Error, Result};
use crate::naming::{profile_key, rejected_report_key, report_key};
use crate::record::{Existing, ProductStamp, existing, sha256_file};
use crate::stac::{ItemContext, ItemFile, item_key, product_item};

/// What publishing did with one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Published {
    /// Uploaded or moved into place, with its record beside it (`DEST.qc.json`).
    Uploaded,
    /// The destination already held these exact bytes, made with the same options; nothing was done.
    AlreadyThere,
}

/// A finished product (and derived maps) on its way to its destination.
#[derive(Clone, Debug)]
pub struct ProductSet {
    /// The input it was made from (path or URL), for the profile.
    pub source: String,
    /// The finished product file (in a [`crate::WorkDir`]).
    pub product: PathBuf,
    /// Where it goes (path or URL).
    pub dest: String,
    /// Derived maps: finished file and destination.
    pub derived: Vec<(PathBuf, String)>,
    /// The options it was made with, recorded in `DEST.qc.json` and compared on reruns.
    pub options: Map<String, Value>,
    /// Replace a destination made with other options.
    pub force: bool,
    /// When the source was acquired (RFC 3339), for the STAC Item; `None`: from the source's tags, else now.
    pub datetime: Option<String>,
    /// A static STAC collection (folder or URL) the product's Item is added to once published.
    pub collection: Option<String>,
    /// A STAC API collection (`API/collections/ID`, Transactions extension) the Item is sent to once published.
    pub stac_api: Option<String>,
    /// The product's red, green and blue bands (1-based) for its preview PNG; `None`: bands named so, else a class
    /// map's colours or a ramp of band 1.
    pub preview_rgb: Option<[usize; 3]>,
}

/// What [`ProductSet::check_and_publish`] found and did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The product's QC report (its `path` is the destination).
    pub report: QcReport,
    /// Each derived map's QC report.
    pub derived_reports: Vec<QcReport>,
    /// What publishing did, when every report passed.
    pub published: Option<Published>,
}

impl Outcome {
    /// `Ok` when everything passed (and was published), else the first failed report's error.
    pub fn gate(&self) -> Result<()> {
        self.report.gate()?;
        for report in &self.derived_reports {
            report.gate()?;
        }
        Ok(())
    }
}

impl ProductSet {
    /// Runs QC on the product (with `qc`) and on every derived map (with `qc` less the band, type and mean
    /// limits, which are the product's). If all pass, publishes the derived maps, then the product, each with
    /// its report and record at `DEST.qc.json`, then the product's STAC Item at `DEST.json` ([`Self::item`]),
    /// added to the set's collection when it names one; if any fails, publishes nothing and writes the reports to
    /// `DEST.rejected.qc.json`, so a good product already at the destination keeps its own. Stage timings so
    /// far feed QC's stage limits; timings, peak memory and `figures` go to `DEST.profile.json` either way.
    pub async fn check_and_publish(
        &self,
        qc: &QcConfig,
        options: &StoreOptions,
        stages: &mut Stages,
        figures: Value,
    ) -> Result<Outcome> {
        let timings = stages.0.clone();
        let mut report = stages.time("qc", || run_qc(&self.product, qc, &timings))?;
        self.dest.clone_into(&mut report.path);
        let derived_qc = QcConfig { bands: None, dtype: None, mean_range: None, ..qc.clone() };
        let mut derived_reports = Vec::with_capacity(self.derived.len());
        for (file, dest) in &self.derived {
            let mut derived = stages.time("qc", || run_qc(file, &derived_qc, &timings))?;
            dest.clone_into(&mut derived.path);
            derived_reports.push(derived);
        }
        let (store, key) = Store::open_object(&self.dest, options)?;
        let passed = report.passed && derived_reports.iter().all(|r| r.passed);
        let published = if passed {
            let started = std::time::Instant::now();
            // Made while the files are still here (publishing moves them); published after the product.
            let preview_file = self.product.with_file_name("preview.png");
            let preview_dest = crate::preview::preview_key(&self.dest);
            let drawn = crate::preview::draw(&self.product, self.preview_rgb, &report, &preview_file).is_some();
            let item = self.item(&report, &derived_reports, drawn.then_some(preview_dest.as_str()))?;
            for ((file, dest), derived) in self.derived.iter().zip(&derived_reports) {
                publish_file(file, dest, derived, &self.options, true, true, options).await?;
            }
            if drawn {
                let (preview_store, preview_key) = Store::open_object(&preview_dest, options)?;
                preview_store.put_file(&preview_key, &preview_file).await?;
            }
            let outcome =
                publish_file(&self.product, &self.dest, &report, &self.options, self.force, true, options).await?;
            if outcome == Published::Uploaded || !store.exists(&item_key(&key)).await? {
                put_json(&store, &item_key(&key), &item).await?;
            }
            if let Some(collection) = &self.collection {
                add_to_collection(collection, &item, options).await?;
            }
            if let Some(api) = &self.stac_api {
                crate::stac_api::publish_to_api(api, &item).await?;
            }
            // An earlier run's rejection report would contradict the product now published beside it.
            store.delete(&rejected_report_key(&key)).await?;
            for (_, dest) in &self.derived {
                let (derived_store, derived_key) = Store::open_object(dest, options)?;
                derived_store.delete(&rejected_report_key(&derived_key)).await?;
            }
            stages.add("publish", started.elapsed().as_secs_f64());
            Some(outcome)
        } else {
            put_json(&store, &rejected_report_key(&key), &serde_json::to_value(&report).unwrap_or_default()).await?;
            for ((_, dest), derived) in self.derived.iter().zip(&derived_reports) {
                let (derived_store, derived_key) = Store::open_object(dest, options)?;
                let json = serde_json::to_value(derived).unwrap_or_default();
                put_json(&derived_store, &rejected_report_key(&derived_key), &json).await?;
            }
            None
        };
        let mut profile = serde_json::json!({
            "source": self.source,
            "dest": self.dest,
            "options": self.options,
            "stages": stages,
            "file_bytes": report.file_bytes,
            "compression_ratio": report.compression_ratio,
            "peak_rss_mib": peak_rss_mib(),
            "qc_passed": passed,
            "published": published,
            "derived": self.derived.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
        });
        if let (Some(map), Value::Object(extra)) = (profile.as_object_mut(), figures) {
            map.extend(extra);
        }
        put_json(&store, &profile_key(&key), &profile).await?;
        Ok(Outcome { report, derived_reports, published })
    }

    /// The STAC Item of this set, from its local files and their reports (see [`product_item`]), with its preview
    /// PNG's destination when it has one.
    pub fn item(&self, report: &QcReport, derived_reports: &[QcReport], preview: Option<&str>) -> Result<Value> {
        let product = ItemFile { file: &self.product, dest: &self.dest, report };
        let derived: Vec<ItemFile<'_>> = self
            .derived
            .iter()
            .zip(derived_reports)
            .map(|((file, dest), report)| ItemFile { file, dest, report })
            .collect();
        product_item(
            product,
            &derived,
            ItemContext { source: &self.source, options: &self.options, datetime: self.datetime.as_deref(), preview },
        )
    }
}

/// Publishes the local file `product` to `dest` (path or URL) if `report` passed (a failed report is the error
/// and nothing is written): with `moving`, a rename when `dest` is on the same filesystem, else an atomic upload
/// (the file stays where it is without `moving`); then its
/// record (the report plus a [`ProductStamp`] of `options`, content hash and entity tag) at `DEST.qc.json`.
/// A destination that already holds these exact bytes made with the same options is left alone; one made with
/// other options is refused unless `force`; one without a passing record, or changed since, is replaced.
pub async fn publish_file(
    product: &Path,
    dest: &str,
    report: &QcReport,
    recorded: &Map<String, Value>,
    force: bool,
    moving: bool,
    options: &StoreOptions,
) -> Result<Published> {
    report.gate()?;
    let (store, key) = Store::open_object(dest, options)?;
    let sha256 = sha256_file(product)?;
    match existing(&store, &key, recorded).await? {
        Existing::Current(stamp) if stamp.sha256 == sha256 => {
            tracing::info!(dest, "already published with the same content and options; skipping");
            if moving {
                let _ = std::fs::remove_file(product);
            }
            return Ok(Published::AlreadyThere);
        }
        Existing::OptionsChanged(differences) if !force => {
            return Err(Error::OptionsChanged { dest: dest.to_owned(), differences });
        }
        _ => {}
    }
    let size = if moving { store.put_file_moving(&key, product).await? } else { store.put_file(&key, product).await? };
    let e_tag = store.head(&key).await?.e_tag;
    let mut record = serde_json::to_value(report).unwrap_or_default();
    record["product"] =
        serde_json::to_value(ProductStamp { sha256, size, e_tag, options: recorded.clone() }).unwrap_or_default();
    put_json(&store, &report_key(&key), &record).await?;
    Ok(Published::Uploaded)
}

async fn put_json(store: &Store, key: &str, value: &Value) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    store.put(key, bytes.into()).await?;
    Ok(())
}
