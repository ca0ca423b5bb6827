//! `predict`: a model over a scene, or over this worker's share of a scene list, through `eoforge_predict::Plan`.

use eoforge_cli::UsageError;
use eoforge_predict::{Plan, SceneEvent};
use eoforge_storage::StoreOptions;

use super::{Result, announce, summarize};
use crate::cli::PredictArgs;

/// A library error as the command reports it: flag errors exit 2.
fn usage_or(e: eoforge_predict::Error) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        eoforge_predict::Error::Usage(text) => UsageError(text).into(),
        other => other.into(),
    }
}

pub(super) fn predict(args: &PredictArgs, store: &StoreOptions) -> Result {
    let plan = Plan::new(args.options()?, store.clone());
    let Some(list) = &args.scenes else {
        let (made, dest) = match (&args.stac_item, &args.stac_api, &args.source, &args.dest) {
            (Some(item), None, Some(dest), None) => {
                (plan.predict_item(item, &args.assets, dest).map_err(usage_or)?, dest)
            }
            (None, Some(api), Some(dest), None) => {
                (plan.predict_search(api, &args.scene_query(), &args.assets, dest).map_err(usage_or)?, dest)
            }
            (Some(_), _, _, _) | (_, Some(_), _, _) => {
                return Err(UsageError("with --stac-item or --stac-api give DEST alone".into()).into());
            }
            (None, None, Some(source), Some(dest)) => (plan.predict(source, dest).map_err(usage_or)?, dest),
            (None, None, _, _) => {
                return Err(UsageError("give SOURCE and DEST, --stac-item ITEM DEST, or --scenes LIST".into()).into());
            }
        };
        report(&made);
        announce(&made.outcome, dest)?;
        return Ok(());
    };
    let shard = match &args.shard {
        Some(spec) => spec.parse()?,
        None => eoforge_sampling::ShardSpec::from_env()?,
    };
    let mut on_event = |event: SceneEvent<'_>| match event {
        SceneEvent::Started { index, source, dest } => eprintln!("scene {}: {source} -> {dest}", index + 1),
        SceneEvent::Skipped { index, dest } => {
            eprintln!(
                "scene {}: already published with these options and a passing report, skipped: {dest}",
                index + 1
            );
        }
        SceneEvent::Made { made, .. } => report(made),
        SceneEvent::Failed { index, reason } => eprintln!("scene {}: failed: {reason}", index + 1),
    };
    let outcome = plan.predict_list(list, shard, &mut on_event).map_err(usage_or)?;
    eprintln!("shard {shard}: {} of the {} scenes in {list}", outcome.mine, outcome.scenes);
    eprintln!(
        "shard {shard}: {} published, {} skipped, {} failed",
        outcome.done,
        outcome.skipped,
        outcome.failed.len()
    );
    if outcome.failed.is_empty() { Ok(()) } else { Err(eoforge_predict::Error::Scenes(outcome.failed).into()) }
}

/// The engine's throughput and the QC verdicts of a product, on stderr.
fn report(made: &eoforge_predict::Made) {
    let engine = &made.engine;
    eprintln!(
        "{} windows in {:.2} s ({:.0} windows/s, {:.1} output MB/s); busy s: {}",
        engine.windows,
        engine.total_s,
        engine.windows_per_s,
        engine.output_mb_per_s,
        engine.busy_s.0.iter().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>().join(", ")
    );
    summarize(&made.outcome.report);
    for report in &made.outcome.derived_reports {
        eprint!("{}: ", report.path);
        summarize(report);
    }
}
