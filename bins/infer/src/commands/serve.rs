//! `serve`: a worker over the PostgreSQL request queue (`eoforge_service::serve`), or its `--init-db`, `submit`,
//! `list` and `retry`.

use std::time::Duration;

use eoforge_cli::UsageError;
use eoforge_predict::ModelSource;
use eoforge_service::{ClaimRules, NewRequest, Queue, ServiceEvent, ServiceOptions};
use eoforge_storage::StoreOptions;

use super::Result;
use crate::cli::{ServeAction, ServeArgs};

pub(super) fn serve(args: &ServeArgs, store: &StoreOptions) -> Result {
    let url = args.queue.as_deref().ok_or_else(|| UsageError("--queue (or EOFORGE_QUEUE) is required".into()))?;
    let usage = |e: eoforge_service::Error| -> Box<dyn std::error::Error + Send + Sync> {
        match e {
            eoforge_service::Error::Usage(text) => UsageError(text).into(),
            other => other.into(),
        }
    };
    // The queue of an existing schema, for the commands that read or add requests.
    let existing = || -> Result<Queue> {
        let queue = Queue::connect(url)?;
        queue.check_schema()?;
        Ok(queue)
    };
    match &args.action {
        Some(ServeAction::Submit(submit)) => {
            let queue = existing()?;
            let request = NewRequest {
                aoi: submit.aoi.clone(),
                dates: submit.date.clone(),
                model: submit.model.clone(),
                derivatives: submit.derivatives.as_ref().map(|d| d.iter().map(|k| k.name().to_owned()).collect()),
                priority: submit.priority,
            };
            let id = queue.submit(&request).map_err(usage)?;
            println!("{id}");
            eprintln!("request {id} queued in {}", queue.database());
            return Ok(());
        }
        Some(ServeAction::List(list)) => {
            let queue = existing()?;
            let requests = queue.list(list.status)?;
            if list.json {
                println!("{}", serde_json::to_string_pretty(&requests)?);
            } else {
                for r in &requests {
                    let detail = match (&r.error, r.products.first()) {
                        (Some(error), _) => format!("{}: {error}", r.stage.as_deref().unwrap_or("error")),
                        (None, Some(product)) => product.clone(),
                        (None, None) => String::new(),
                    };
                    println!(
                        "{}\t{}\t{} attempt(s)\t{}/{}\t{}",
                        r.id, r.status, r.attempts, r.date_from, r.date_to, detail
                    );
                }
            }
            return Ok(());
        }
        Some(ServeAction::Retry(retry)) => {
            let queue = existing()?;
            queue.retry(retry.id)?;
            eprintln!("request {} is pending again", retry.id);
            return Ok(());
        }
        None => {}
    }
    if args.init_db {
        let queue = Queue::connect(url)?;
        let migrated = queue.init()?;
        if migrated.from == migrated.to {
            eprintln!("queue schema {} already current in {}", migrated.to, queue.database());
        } else {
            eprintln!("queue schema {} -> {} in {}", migrated.from, migrated.to, queue.database());
        }
        return Ok(());
    }
    let options = service_options(args, store)?;
    let queue = Queue::connect(url)?;
    let stop = eoforge_cli::stop_flag()?;
    eprintln!("worker {} serving {} (model {})", options.rules.worker, queue.database(), options.rules.model);
    let mut on_event = |event: ServiceEvent<'_>| match event {
        ServiceEvent::Claimed(r) => {
            eprintln!("request {}: attempt {}, {} to {} over {:?}", r.id, r.attempts, r.date_from, r.date_to, r.bbox);
        }
        ServiceEvent::Published { id, dest, reused } => {
            eprintln!("request {id}: published {dest}{}", if reused { " (current product kept)" } else { "" });
        }
        ServiceEvent::Rejected { id, failed } => eprintln!("request {id}: rejected by QC: {failed}"),
        ServiceEvent::Failed { id, stage, error, after } => {
            let then = if after == eoforge_service::AfterFailure::Failed { "failed" } else { "will be retried" };
            eprintln!("request {id}: {stage}: {error} ({then})");
        }
        ServiceEvent::Lost { id } => eprintln!("request {id}: lease lost to another worker; result not recorded"),
    };
    let summary = eoforge_service::serve(&queue, &options, &stop, &mut on_event)?;
    eprintln!(
        "worker {}: {} claimed, {} published, {} rejected, {} failed attempt(s), {} lost{}",
        options.rules.worker,
        summary.claimed,
        summary.published,
        summary.rejected,
        summary.failed,
        summary.lost,
        if summary.stopped { "; stopped on request" } else { "" }
    );
    Ok(())
}

/// The worker's typed options from its flags.
fn service_options(args: &ServeArgs, store: &StoreOptions) -> Result<ServiceOptions> {
    let required = |value: &Option<String>, flag: &str| {
        value.clone().ok_or_else(|| UsageError(format!("{flag} is required to serve requests")))
    };
    let predict = args.make.options(None, false)?;
    let model = args.model_name.clone().unwrap_or_else(|| model_name(&predict.model));
    Ok(ServiceOptions {
        predict,
        store: store.clone(),
        products: required(&args.store, "--store")?,
        stac_api: required(&args.stac_api, "--stac-api")?,
        collection: args.collection.clone(),
        assets: args.assets.clone(),
        max_cloud: args.max_cloud,
        rules: ClaimRules {
            worker: args.worker.clone().unwrap_or_else(eoforge_service::worker_name),
            lease: Duration::from_secs_f64(args.lease),
            max_attempts: args.max_attempts,
            model,
            retry_delay: Duration::from_secs_f64(args.retry_delay),
        },
        poll: Duration::from_secs_f64(args.poll),
        once: args.once,
    })
}

/// `identity`, `upsample`, or the run folder's or ONNX file's name without its extension.
fn model_name(model: &ModelSource) -> String {
    match model {
        ModelSource::Run(path) | ModelSource::Onnx(path) => {
            path.file_stem().map_or_else(|| model.name(), |s| s.to_string_lossy().into_owned())
        }
        other => other.name(),
    }
}
