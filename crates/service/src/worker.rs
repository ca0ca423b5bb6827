//! [`serve`]: a worker's loop — claim a request, then STAC search → predict over its area → derived maps → QC →
//! publish → STAC Item → the row updated, in that order, so a request is marked published only when its product
//! passed QC and is published; a QC failure marks it rejected with the report, any other failure is retried until
//! its attempts run out. One message per request goes to the webhooks.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eoforge_predict::{LonLatBox, Plan, PredictOptions};
use eoforge_products::{Existing, Notice, Verdict, existing};
use eoforge_stac::{SceneQuery, StacItem, search_scene};
use eoforge_storage::{Store, StoreOptions};

use crate::error::{Error, Result};
use crate::queue::{AfterFailure, ClaimRules, Published, Queue};
use crate::request::Request;

/// What a worker serves requests with.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    /// The model and everything a product is made with; the area and derived maps come from each request, and
    /// the webhooks hear of each request rather than each product.
    pub predict: PredictOptions,
    /// How products are read and written.
    pub store: StoreOptions,
    /// Where products go: `PRODUCTS/<request id>/<scene id>.tif` (a folder or an s3:// prefix).
    pub products: String,
    /// The STAC API scenes are searched in.
    pub stac_api: String,
    /// Its collection, e.g. `sentinel-2-l2a`.
    pub collection: String,
    /// The assets stacked as the scene's bands, by key or band name.
    pub assets: Vec<String>,
    /// Largest `eo:cloud_cover` (percent).
    pub max_cloud: Option<f64>,
    /// How requests are claimed.
    pub rules: ClaimRules,
    /// How long an idle worker waits before it looks for requests again.
    pub poll: Duration,
    /// Stop when no request can be claimed now, instead of waiting for more.
    pub once: bool,
}

/// What happened to a request, as the worker handles it.
#[derive(Debug)]
pub enum ServiceEvent<'a> {
    /// A request was claimed (its `attempts` counts this one).
    Claimed(&'a Request),
    /// Its product was published (`reused`: the product published by an earlier attempt was current).
    Published {
        /// The request.
        id: i64,
        /// The product.
        dest: &'a str,
        /// Found already published and current.
        reused: bool,
    },
    /// QC rejected its product.
    Rejected {
        /// The request.
        id: i64,
        /// The failed checks.
        failed: &'a str,
    },
    /// An attempt failed.
    Failed {
        /// The request.
        id: i64,
        /// Where.
        stage: &'a str,
        /// Why.
        error: &'a str,
        /// Retried later, or failed for good.
        after: AfterFailure,
    },
    /// The lease ran out and another worker took the request: this attempt's result was not recorded.
    Lost {
        /// The request.
        id: i64,
    },
}

/// What a worker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests claimed.
    pub claimed: usize,
    /// Published.
    pub published: usize,
    /// Rejected by QC.
    pub rejected: usize,
    /// Attempts that failed (retried or failed for good).
    pub failed: usize,
    /// Claims lost to another worker.
    pub lost: usize,
    /// Stopped on request (SIGTERM) rather than run out of work.
    pub stopped: bool,
}

/// The default worker name: host and process id.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Serves requests from `queue` until `stop` is raised (checked between requests: the current one is finished) or,
/// with `options.once`, until none can be claimed. Stop signals (SIGTERM, SIGUSR1, SIGUSR2) no longer abandon the
/// product being written ([`eoforge_products::finish_on_stop_signals`]); the caller raises `stop` on them.
/// Database errors end a `--once` run; a long-running worker logs them and tries again after `options.poll`.
pub fn serve(
    queue: &Queue,
    options: &ServiceOptions,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(ServiceEvent<'_>),
) -> Result<Summary> {
    eoforge_products::finish_on_stop_signals();
    queue.check_schema()?;
    let notify_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
    let mut summary = Summary::default();
    loop {
        if stop.load(Ordering::SeqCst) {
            summary.stopped = true;
            break;
        }
        let claim = match queue.claim(&options.rules) {
            Ok(claim) => claim,
            Err(e) if !options.once => {
                tracing::warn!(error = %eoforge_profile::error_chain(&e), "cannot claim a request; trying again");
                wait(options.poll, stop);
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(claim) = claim else {
            if options.once {
                break;
            }
            wait(options.poll, stop);
            continue;
        };
        summary.claimed += 1;
        on_event(ServiceEvent::Claimed(&claim.request));
        let started = Instant::now();
        let keep_alive = queue.keep_alive(&claim, options.rules.lease);
        let ending = handle(&claim.request, options);
        drop(keep_alive);
        let wall_s = started.elapsed().as_secs_f64();
        let id = claim.request.id;
        let notice = match ending {
            Ending::Published { published, dest, reused, notice } => {
                if queue.publish(&claim, &published)? {
                    summary.published += 1;
                    on_event(ServiceEvent::Published { id, dest: &dest, reused });
                } else {
                    summary.lost += 1;
                    on_event(ServiceEvent::Lost { id });
                }
                notice
            }
            Ending::Rejected { scene, report, failed, notice } => {
                if queue.reject(&claim, &scene, &report, &failed)? {
                    summary.rejected += 1;
                    on_event(ServiceEvent::Rejected { id, failed: &failed });
                } else {
                    summary.lost += 1;
                    on_event(ServiceEvent::Lost { id });
                }
                notice
            }
            Ending::Failed { stage, error, scene } => {
                let after = queue.fail(&claim, &stage, &error, &options.rules)?;
                if after == AfterFailure::Lost {
                    summary.lost += 1;
                    on_event(ServiceEvent::Lost { id });
                } else {
                    summary.failed += 1;
                    on_event(ServiceEvent::Failed { id, stage: &stage, error: &error, after });
                }
                Notice::new(scene.unwrap_or_default(), Verdict::Failed { stage, error }, Vec::new())
            }
        };
        if !options.predict.notify.webhooks.is_empty() {
            let notice =
                Notice { subject: format!("request {id} (attempt {})", claim.request.attempts), wall_s, ..notice };
            notify_runtime.block_on(options.predict.notify.send(&notice));
        }
    }
    Ok(summary)
}

/// Sleeps `total`, waking early when `stop` is raised.
fn wait(total: Duration, stop: &AtomicBool) {
    let end = Instant::now() + total;
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100).min(end.saturating_duration_since(Instant::now())));
    }
}

/// How one attempt ended.
enum Ending {
    Published { published: Published, dest: String, reused: bool, notice: Notice },
    Rejected { scene: String, report: serde_json::Value, failed: String, notice: Notice },
    Failed { stage: String, error: String, scene: Option<String> },
}

/// Runs one request: search, then the product (or the current one an earlier attempt published).
fn handle(request: &Request, options: &ServiceOptions) -> Ending {
    let fail = |stage: &str, error: String, scene: Option<String>| Ending::Failed { stage: stage.into(), error, scene };
    let predict = match request_options(request, options) {
        Ok(predict) => predict,
        Err(e) => return fail("request", e.to_string(), None),
    };
    let item = match find_scene(request, options) {
        Ok(item) => item,
        Err(e) => return fail("search", eoforge_profile::error_chain(&e), None),
    };
    let scene = item.location().to_owned();
    let dest = product_dest(&options.products, request.id, &item);
    match current_product(&dest, &predict, &options.store) {
        Ok(Some(published)) => {
            let notice = Notice::new(scene.clone(), Verdict::Published, published.products.clone());
            return Ending::Published { published: Published { scene, ..published }, dest, reused: true, notice };
        }
        Ok(None) => {}
        Err(e) => return fail("publish", e, Some(scene)),
    }
    let plan = Plan::new(predict, options.store.clone());
    let made = plan.predict_stac(&item, &options.assets, &dest);
    let notice = eoforge_predict::notice(&made, &scene, &dest, 0.0);
    let made = match made {
        Ok(made) => made,
        Err(e) => return fail(e.stage(), eoforge_profile::error_chain(&e), Some(scene)),
    };
    let report = serde_json::to_value(&made.outcome.report).unwrap_or_default();
    match &notice.verdict {
        Verdict::Published => Ending::Published {
            published: Published {
                scene,
                products: notice.products.clone(),
                item: eoforge_products::item_key(&dest),
                qc_report: report,
            },
            dest,
            reused: false,
            notice,
        },
        Verdict::Rejected { failed_checks } => {
            let failed = failed_checks.join("; ");
            Ending::Rejected { scene, report, failed, notice }
        }
        Verdict::Failed { stage, error } => fail(stage, error.clone(), Some(scene)),
    }
}

/// The service's options for this request: its area, its derived maps (else the service's), and products
/// replaced when not current (the request owns its folder).
fn request_options(request: &Request, options: &ServiceOptions) -> Result<PredictOptions> {
    let mut predict = options.predict.clone();
    let [min_lon, min_lat, max_lon, max_lat] = request.bbox[..] else {
        return Err(Error::Request { id: request.id, reason: "its bbox is not 4 numbers".into() });
    };
    predict.aoi = Some(LonLatBox { min_lon, min_lat, max_lon, max_lat });
    if let Some(names) = &request.derivatives {
        predict.derivatives.kinds = names
            .iter()
            .map(|name| {
                eoforge_engine::Derivative::from_str(name).map_err(|reason| Error::Request {
                    id: request.id,
                    reason: format!("derivative `{name}`: {reason}"),
                })
            })
            .collect::<Result<_>>()?;
    }
    predict.force = true;
    predict.notify = eoforge_products::Notifier::default();
    Ok(predict)
}

/// The least cloudy Item of the request's days over its area.
fn find_scene(request: &Request, options: &ServiceOptions) -> eoforge_stac::Result<StacItem> {
    let query = SceneQuery {
        collection: options.collection.clone(),
        date: request.date_from.clone(),
        until: (request.date_to != request.date_from).then(|| request.date_to.clone()),
        mgrs: None,
        bbox: request.bbox.clone().try_into().ok(),
        max_cloud: options.max_cloud,
        index: 0,
    };
    search_scene(&options.stac_api, &query)
}

/// `PRODUCTS/<id>/<item id>.tif`, the Item id kept to letters, digits, `-`, `_` and `.`.
fn product_dest(products: &str, id: i64, item: &StacItem) -> String {
    let name: String = item
        .id()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    format!("{}/{id}/{name}.tif", products.trim_end_matches('/'))
}

/// The product an earlier attempt published at `dest`, when it is current (same options, passing report, unchanged):
/// a rerun after a crash between publishing and recording does not make it again.
fn current_product(
    dest: &str,
    predict: &PredictOptions,
    options: &StoreOptions,
) -> std::result::Result<Option<Published>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (store, key) = Store::open_object(dest, options).map_err(|e| eoforge_profile::error_chain(&e))?;
    let found =
        runtime.block_on(existing(&store, &key, &predict.recorded())).map_err(|e| eoforge_profile::error_chain(&e))?;
    if !matches!(found, Existing::Current(_)) {
        return Ok(None);
    }
    let report_key = eoforge_products::report_key(dest);
    let (report_store, report_object) =
        Store::open_object(&report_key, options).map_err(|e| eoforge_profile::error_chain(&e))?;
    let bytes = runtime.block_on(report_store.get(&report_object)).map_err(|e| eoforge_profile::error_chain(&e))?;
    let qc_report: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{report_key}: {e}"))?;
    let item_key = eoforge_products::item_key(dest);
    if let Some(api) = &predict.stac_publish {
        // The attempt that published it may have died before the API took its Item.
        let item = StacItem::read(&item_key, options).map_err(|e| eoforge_profile::error_chain(&e))?;
        runtime
            .block_on(eoforge_products::publish_to_api(api, item.value()))
            .map_err(|e| eoforge_profile::error_chain(&e))?;
    }
    let derived = predict.derivatives.kinds.iter().map(|kind| eoforge_products::derived_dest(dest, kind.name()));
    let products = eoforge_products::published_files(dest, derived);
    Ok(Some(Published { scene: String::new(), products, item: item_key, qc_report }))
}
