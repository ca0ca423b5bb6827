//! One library call per subcommand.

use burn::backend::{Autodiff, Flex};
use eoforge_cli::UsageError;
use eoforge_storage::StoreOptions;
use eoforge_train::{CallRecord, FitOverrides, RunDir, ShardSet, StopWhen, TrainedRun};

use crate::cli::{Cli, Command, EvalArgs, ExportArgs, FeaturesArgs, FitArgs, ImportArgs, SuiteArgs, SuiteCommand};

type Error = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn run(cli: Cli) -> Result<(), Error> {
    let store = cli.s3.store_options();
    match cli.command {
        Command::Fit(args) => fit_command(&args, &store),
        Command::Eval(args) => eval_command(&args, &store),
        Command::Export(args) => export_command(&args),
        Command::Import(args) => import_command(&args),
        Command::Features(args) => features_command(&args),
        Command::Suite(args) => suite_command(&args, &store),
    }
}

fn suite_command(args: &SuiteArgs, store: &StoreOptions) -> Result<(), Error> {
    if let Some(SuiteCommand::Compare { a, b }) = &args.compare {
        let (a, b) = (eoforge_train::SuiteReport::read(a)?, eoforge_train::SuiteReport::read(b)?);
        for (task, metric, x, y) in eoforge_train::compare_suites(&a, &b) {
            let delta = x.zip(y).map(|(x, y)| y - x);
            println!("{}", serde_json::json!({ "task": task, "metric": metric, "a": x, "b": y, "delta": delta }));
        }
        return Ok(());
    }
    let Some(path) = &args.suite else { return Err(UsageError("give SUITE.toml".into()).into()) };
    let suite = eoforge_train::SuiteConfig::read(path)?;
    let out = args.out.clone().unwrap_or_else(|| path.with_extension(""));
    let cpu = burn::backend::flex::FlexDevice;
    let report = if args.report_only {
        eoforge_train::suite_report::<Flex>(&suite, &out, store, &cpu)?
    } else {
        let only = match (&args.task, args.task_index) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(i)) => Some(
                suite
                    .tasks
                    .get(i)
                    .ok_or_else(|| UsageError(format!("--task-index {i}: the suite has {} tasks", suite.tasks.len())))?
                    .name
                    .clone(),
            ),
            (None, None) => None,
        };
        let record = CallRecord {
            data: String::new(),
            device: "cpu".into(),
            command: std::env::args().collect(),
            eoforge_version: env!("CARGO_PKG_VERSION").into(),
            git_revision: env!("EOFORGE_GIT_REVISION").into(),
        };
        let run = eoforge_train::SuiteRun { out: &out, only: only.as_deref(), record: &record, store };
        eoforge_train::run_suite::<Autodiff<Flex>, Flex>(&suite, &run, &[cpu], &cpu, &|task| eprintln!("task {task}"))?
    };
    println!(
        "{}",
        serde_json::to_string_pretty(
            &report
                .rows
                .iter()
                .map(|r| serde_json::json!({
                    "task": r.task, "status": r.status, "metric": r.metric, "value": r.value, "baseline": r.baseline,
                    "error": r.error,
                }))
                .collect::<Vec<_>>()
        )?
    );
    let failed: Vec<&str> = report.rows.iter().filter(|r| r.error.is_some()).map(|r| r.task.as_str()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} tasks failed ({}); see {}/<task>/error.txt",
            failed.len(),
            report.rows.len(),
            failed.join(", "),
            out.display()
        )
        .into())
    }
}

fn features_command(args: &FeaturesArgs) -> Result<(), Error> {
    let options = eoforge_models::LoadOptions { allow_partial: false, remap: remap_rules(&args.remap)? };
    let files = eoforge_train::FeatureFiles {
        weights: &args.weights,
        config: &args.config,
        input: &args.input,
        temporal_coords: args.temporal_coords.as_deref(),
        location_coords: args.location_coords.as_deref(),
    };
    let (written, report) =
        eoforge_train::write_vit_features::<Flex>(&files, &options, &args.out, &burn::backend::flex::FlexDevice)?;
    println!(
        "{}",
        serde_json::json!({
            "blocks": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "applied": report.applied.len(),
            "unused": report.unused,
        })
    );
    Ok(())
}

/// `--remap RE=REPLACEMENT` rules, in order.
fn remap_rules(rules: &[String]) -> Result<Vec<(regex::Regex, String)>, Error> {
    let mut remap = Vec::with_capacity(rules.len());
    for rule in rules {
        let usage = |reason: String| -> Error { UsageError(format!("--remap {rule}: {reason}")).into() };
        let (pattern, replacement) = rule.split_once('=').ok_or_else(|| usage("expected RE=REPLACEMENT".into()))?;
        let pattern = regex::Regex::new(pattern).map_err(|e| usage(e.to_string()))?;
        remap.push((pattern, replacement.to_owned()));
    }
    Ok(remap)
}

fn export_command(args: &ExportArgs) -> Result<(), Error> {
    let run = TrainedRun::open_with(&args.run, args.allow_unfinished)?;
    let tensors = eoforge_train::export_safetensors::<Flex>(&run, &args.out, &burn::backend::flex::FlexDevice)?;
    // The model card beside the weights: how to feed them and what they give (STAC MLM fields).
    let card_path = eoforge_card::card_path(&args.out);
    let name = args.out.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let asset = args.out.file_name().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let card = eoforge_card::ModelCard::of_run(&run).to_mlm(&name, &asset);
    std::fs::write(&card_path, serde_json::to_vec_pretty(&card)?)
        .map_err(|e| format!("cannot write {}: {e}", card_path.display()))?;
    println!(
        "{}",
        serde_json::json!({ "out": args.out.display().to_string(), "tensors": tensors, "card": card_path.display().to_string() })
    );
    Ok(())
}

fn import_command(args: &ImportArgs) -> Result<(), Error> {
    let options = eoforge_models::LoadOptions { allow_partial: args.allow_partial, remap: remap_rules(&args.remap)? };
    let report = eoforge_train::import_safetensors::<Flex>(
        &args.weights,
        &args.out,
        args.like.as_deref(),
        &options,
        &burn::backend::flex::FlexDevice,
    )?;
    println!(
        "{}",
        serde_json::json!({
            "run": args.out.display().to_string(),
            "applied": report.applied.len(),
            "missing": report.missing,
            "unused": report.unused,
        })
    );
    Ok(())
}

fn fit_command(args: &FitArgs, store: &StoreOptions) -> Result<(), Error> {
    let devices = parse_devices(&args.device)?;
    let positive = |v: Option<f64>| v.is_none_or(|v| v > 0.0);
    if !positive(args.batch.map(|v| v as f64))
        || !positive(args.epochs.map(|v| v as f64))
        || !positive(args.replicas.map(|v| v as f64))
        || !positive(args.lr)
    {
        return Err(UsageError("--batch, --epochs, --lr and --replicas must be positive".into()).into());
    }
    if let Some(n) = args.replicas
        && n < devices.len()
    {
        let reason = format!("--replicas {n} is fewer than the {} devices of --device {}", devices.len(), args.device);
        return Err(UsageError(reason).into());
    }
    let set = open_shards(&args.data, store)?;
    let run = RunDir::new(&args.out);
    let overrides = FitOverrides {
        epochs: args.epochs,
        batch_size: args.batch,
        lr: args.lr,
        seed: args.seed,
        checkpoint_every: args.checkpoint_every,
        lr_scaling: args.lr_scaling,
        replicas: args.replicas,
    };
    let config = RunDir::configure(&set, args.config.as_deref(), &overrides, devices.len()).inspect_err(|e| {
        run.log_error(e);
    })?;
    let record = CallRecord {
        data: args.data.clone(),
        device: args.device.clone(),
        command: std::env::args().collect(),
        eoforge_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: env!("EOFORGE_GIT_REVISION").into(),
    };
    let flag = eoforge_cli::stop_flag().map_err(|e| format!("cannot watch the stop signals: {e}"))?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} step {pos}/{len} {msg} {elapsed} (eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let on_step = |p: &eoforge_train::StepProgress| {
        bar.set_length(p.total_steps);
        bar.set_position(p.step);
        bar.set_message(format!("epoch {}/{} loss {:.4}", p.epoch + 1, p.epochs, p.loss));
    };
    let stop = StopWhen { max_steps: None, flag: Some(&flag), on_step: Some(&on_step) };
    let cpu = burn::backend::flex::FlexDevice;
    let (outcome, _) = match devices[0] {
        Device::Cpu => {
            run.train::<Autodiff<Flex>, Flex>(&set, &config, &vec![cpu; devices.len()], &cpu, &record, &stop)?
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => {
            let gpus: Vec<_> = devices
                .iter()
                .filter_map(|d| match d {
                    Device::Cuda(index) => Some(burn::backend::cuda::CudaDevice::new(*index)),
                    Device::Cpu => None,
                })
                .collect();
            run.train::<Autodiff<burn::backend::Cuda>, Flex>(&set, &config, &gpus, &cpu, &record, &stop)?
        }
    };
    bar.finish_and_clear();
    let steps = outcome.steps - outcome.resumed_from;
    eoforge_cli::report_work((steps as usize * config.global_batch()) as f64, "samples");
    if !outcome.finished {
        return Err(eoforge_cli::Stopped(format!(
            "at step {}: checkpoint written; run the same command to continue",
            outcome.steps
        ))
        .into());
    }
    let best = outcome
        .best
        .map(|(value, epoch)| serde_json::json!({ "metric": config.metric(), "value": value, "epoch": epoch }));
    println!(
        "{}",
        serde_json::json!({ "run": args.out.display().to_string(), "steps": outcome.steps, "validation": outcome.validation.last(), "best": best })
    );
    Ok(())
}

/// A device named by `--device`.
#[derive(Clone, Copy, PartialEq)]
enum Device {
    Cpu,
    #[cfg(feature = "cuda")]
    Cuda(usize),
}

fn parse_device(name: &str) -> Result<Device, Error> {
    let usage = |reason: String| -> Error { UsageError(format!("--device {name}: {reason}")).into() };
    match name.split_once(':').unwrap_or((name, "0")) {
        ("cpu", _) => Ok(Device::Cpu),
        #[cfg(feature = "cuda")]
        ("cuda", index) => index.parse().map(Device::Cuda).map_err(|_| usage(format!("`{index}` is not a GPU index"))),
        #[cfg(not(feature = "cuda"))]
        ("cuda", _) => Err(usage("this build has no CUDA support (build with `--features cuda`)".into())),
        _ => Err(usage("expected cpu, cuda or cuda:N".into())),
    }
}

/// The devices of a comma-separated `--device` list: all CPU or all CUDA, none twice.
fn parse_devices(list: &str) -> Result<Vec<Device>, Error> {
    let devices = list.split(',').map(|name| parse_device(name.trim())).collect::<Result<Vec<_>, _>>()?;
    let usage = |reason: &str| -> Error { UsageError(format!("--device {list}: {reason}")).into() };
    if devices.iter().any(|d| *d != Device::Cpu) && devices.contains(&Device::Cpu) {
        return Err(usage("CPU and CUDA devices cannot train together"));
    }
    if devices.iter().enumerate().any(|(i, d)| *d != Device::Cpu && devices[..i].contains(d)) {
        return Err(usage("a GPU is named twice"));
    }
    if devices.len() > 1 && devices[0] == Device::Cpu {
        return Err(usage("one CPU device is all there is; use --replicas N for logical replicas on it"));
    }
    Ok(devices)
}

fn eval_command(args: &EvalArgs, store: &StoreOptions) -> Result<(), Error> {
    match parse_device(&args.device)? {
        Device::Cpu => eval_on::<Flex>(args, store, &burn::backend::flex::FlexDevice),
        #[cfg(feature = "cuda")]
        Device::Cuda(index) => {
            eval_on::<burn::backend::Cuda>(args, store, &burn::backend::cuda::CudaDevice::new(index))
        }
    }
}

fn eval_on<B: burn::tensor::backend::Backend>(
    args: &EvalArgs,
    store: &StoreOptions,
    device: &B::Device,
) -> Result<(), Error> {
    let run = TrainedRun::open_with(&args.run, args.allow_unfinished)?;
    let report = run.evaluate::<B>(&open_shards(&args.data, store)?, &args.split, device)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Opens a shard set on a runtime dropped before returning: an idle S3 connection pooled by a runtime that is
/// still alive but no longer driven would hang the loader's first request until the request timeout.
fn open_shards(url: &str, store: &StoreOptions) -> Result<ShardSet, Error> {
    Ok(ShardSet::open_blocking(url, store)?)
}
