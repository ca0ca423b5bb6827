//! One library call per subcommand.

use std::path::Path;
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use eoforge_cli::UsageError;
use eoforge_models::{PatchClassifierConfig, UNetConfig};
use eoforge_profile::{Stages, peak_rss_mib};
use eoforge_storage::StoreOptions;
use eoforge_train::{
    FitConfig, Loader, LoaderConfig, ModelConfig, Scores, ShardSet, StopWhen, TrainedRun, evaluate, fit_on, task_of,
};

use crate::cli::{Cli, Command, EvalArgs, ExportArgs, FitArgs, ImportArgs};

type Error = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn run(cli: Cli) -> Result<(), Error> {
    let store = cli.s3.store_options();
    match cli.command {
        Command::Fit(args) => fit_command(&args, &store),
        Command::Eval(args) => eval_command(&args, &store),
        Command::Export(args) => export_command(&args),
        Command::Import(args) => import_command(&args),
    }
}

fn export_command(args: &ExportArgs) -> Result<(), Error> {
    let run = open_run(&args.run, args.allow_unfinished)?;
    let tensors = eoforge_train::export_safetensors::<Flex>(&run, &args.out, &burn::backend::flex::FlexDevice)?;
    println!("{}", serde_json::json!({ "out": args.out.display().to_string(), "tensors": tensors }));
    Ok(())
}

fn import_command(args: &ImportArgs) -> Result<(), Error> {
    let mut remap = Vec::with_capacity(args.remap.len());
    for rule in &args.remap {
        let usage = |reason: String| -> Error { UsageError(format!("--remap {rule}: {reason}")).into() };
        let (pattern, replacement) = rule.split_once('=').ok_or_else(|| usage("expected RE=REPLACEMENT".into()))?;
        let pattern = regex::Regex::new(pattern).map_err(|e| usage(e.to_string()))?;
        remap.push((pattern, replacement.to_owned()));
    }
    let options = eoforge_models::LoadOptions { allow_partial: args.allow_partial, remap };
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

/// A run directory for `eval`/`export`: finished, or any with `--allow-unfinished`.
fn open_run(dir: &Path, allow_unfinished: bool) -> Result<TrainedRun, Error> {
    Ok(if allow_unfinished { TrainedRun::open_any(dir)? } else { TrainedRun::open(dir)? })
}

/// The network of a run when nothing else is said, for the shard set: a U-Net over its channels and one output
/// per class of its class table for a segmentation set, else the multi-label classifier for BigEarthNet's 19
/// classes.
fn default_model(set: &ShardSet) -> Result<ModelConfig, String> {
    let channels = set.stats().channels.len();
    Ok(if set.is_segmentation() {
        let classes = set.class_table().map_err(|e| e.to_string())?.len();
        if classes < 2 {
            return Err(format!(
                "`{}` has {classes} class (label values other than the ignore value); a segmentation network needs \
                 two or more",
                set.store().url_of("index.json")
            ));
        }
        ModelConfig::Unet(UNetConfig::new(channels, classes))
    } else {
        ModelConfig::Classifier(PatchClassifierConfig::new(channels, 19))
    })
}

/// Reads a TOML run configuration over the defaults (a field left out takes its default, as without a file); a
/// wrong or unknown field is an error naming the file and field.
fn read_config(path: &Path, set: &ShardSet) -> Result<FitConfig, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    FitConfig::from_toml(&text, || default_model(set)).map_err(|e| format!("`{}`: {e}", path.display()).into())
}

fn fit_command(args: &FitArgs, store: &StoreOptions) -> Result<(), Error> {
    let result = fit_run(args, store);
    if let Err(e) = &result
        && args.out.is_dir()
        && e.downcast_ref::<eoforge_cli::Stopped>().is_none()
    {
        // The run directory keeps every failure, with its causes, beside the checkpoints.
        let mut text = format!("{} fit failed: {e}", eoforge_profile::utc_now());
        let mut source = e.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        let _ = append(&args.out.join("errors.log"), &text);
    }
    result
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")
}

fn fit_run(args: &FitArgs, store: &StoreOptions) -> Result<(), Error> {
    let start = Instant::now();
    let devices = parse_devices(&args.device)?;
    let mut stages = Stages::default();
    let t = Instant::now();
    let set = open_shards(&args.data, store)?;
    stages.add("setup", t.elapsed().as_secs_f64());
    let mut config = match &args.config {
        Some(path) => read_config(path, &set)?,
        None => FitConfig::new(default_model(&set)?),
    };
    let warmup_given = match &args.config {
        Some(path) => {
            std::fs::read_to_string(path)?.parse::<toml::Table>().is_ok_and(|t| t.contains_key("warmup_steps"))
        }
        None => false,
    };
    config.epochs = args.epochs.unwrap_or(config.epochs);
    config.batch_size = args.batch.unwrap_or(config.batch_size);
    config.lr = args.lr.unwrap_or(config.lr);
    config.seed = args.seed.unwrap_or(config.seed);
    config.checkpoint_every = args.checkpoint_every.unwrap_or(config.checkpoint_every);
    config.lr_scaling = args.lr_scaling.unwrap_or(config.lr_scaling);
    if let Some(n) = args.replicas {
        config.replicas = n;
    } else if devices.len() > 1 {
        config.replicas = devices.len();
    }
    if config.replicas < devices.len() {
        return Err(UsageError(format!(
            "--replicas {} is fewer than the {} devices of --device {}",
            config.replicas,
            devices.len(),
            args.device
        ))
        .into());
    }
    if config.batch_size == 0 || config.replicas == 0 || config.epochs == 0 || config.lr.is_nan() || config.lr <= 0.0 {
        return Err(UsageError("--batch, --epochs, --lr and --replicas must be positive".into()).into());
    }
    if !warmup_given {
        // The default warm-up (100 steps) is at most a tenth of a short run, so its learning rate reaches its peak.
        let batches =
            Loader::new(set.clone(), LoaderConfig { batch_size: config.global_batch(), ..LoaderConfig::default() })?
                .batches_per_epoch() as u64;
        config.warmup_steps = config.warmup_steps.min((batches * config.epochs / 10).max(1));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create `{}`: {e}", args.out.display()))?;
    write_run_record(&args.out, &args.data, &args.device)?;
    let flag = eoforge_cli::stop_flag().map_err(|e| format!("cannot watch the stop signals: {e}"))?;
    let t = Instant::now();
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
    let outcome = match devices[0] {
        Device::Cpu => {
            let cpus = vec![burn::backend::flex::FlexDevice; devices.len()];
            fit_on::<Autodiff<Flex>>(&set, &config, &args.out, &cpus, &stop)?
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
            fit_on::<Autodiff<burn::backend::Cuda>>(&set, &config, &args.out, &gpus, &stop)?
        }
    };
    bar.finish_and_clear();
    let train_s = t.elapsed().as_secs_f64();
    stages.add("training", train_s);
    if outcome.finished {
        let t = Instant::now();
        let run = TrainedRun::open(&args.out)?;
        eoforge_train::draw_run::<Flex>(&run, &set, &burn::backend::flex::FlexDevice)?;
        stages.add("pictures", t.elapsed().as_secs_f64());
    }
    let steps = outcome.steps - outcome.resumed_from;
    let profile = serde_json::json!({
        "stages_s": stages.0,
        "total_s": start.elapsed().as_secs_f64(),
        "steps": steps,
        "resumed_from_step": outcome.resumed_from,
        "samples_per_s": (steps as usize * config.global_batch()) as f64 / train_s.max(1e-9),
        "replicas": config.replicas,
        "devices": args.device,
        "peak_rss_mib": peak_rss_mib(),
        "finished": outcome.finished,
    });
    std::fs::write(args.out.join("profile.json"), serde_json::to_vec_pretty(&profile)?)?;
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

/// `run.json`: what made the run (versions, git revision, command line, host, start time); a resumed call adds
/// itself to `calls`.
fn write_run_record(out: &Path, data: &str, device: &str) -> Result<(), Error> {
    let path = out.join("run.json");
    let mut record: serde_json::Value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("`{}`: {e}", path.display()))?,
        Err(_) => serde_json::json!({
            "eoforge_version": env!("CARGO_PKG_VERSION"),
            "git_revision": env!("EOFORGE_GIT_REVISION"),
            "burn_version": "0.21.0",
            "data": data,
            "calls": [],
        }),
    };
    let call = serde_json::json!({
        "started": eoforge_profile::utc_now(),
        "command": std::env::args().collect::<Vec<_>>(),
        "device": device,
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
    });
    if let Some(calls) = record["calls"].as_array_mut() {
        calls.push(call);
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&record)?)?;
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
    let run = open_run(&args.run, args.allow_unfinished)?;
    let set = open_shards(&args.data, store)?;
    if set.stats().channels != run.data.channels {
        return Err(format!(
            "`{}` has channels {:?}; the run was trained on {:?}",
            args.data,
            set.stats().channels,
            run.data.channels
        )
        .into());
    }
    // The run's own normalisation and class table, whatever the scored set's statistics say.
    let loader = Loader::for_run(
        set.clone(),
        LoaderConfig {
            split: args.split.clone(),
            batch_size: run.config.batch_size,
            shuffle_buffer: 0,
            input: run.data.input.clone(),
            ..LoaderConfig::default()
        },
        &run.data,
    )?;
    let task = task_of(&run.config, &run.data, &set);
    let scores = Scores::for_model(&run.config.model, &task);
    let report = match &run.config.model {
        ModelConfig::Classifier(_) => evaluate(&run.classifier::<B>(device)?, &loader, &task, scores, device)?,
        ModelConfig::Unet(_) => evaluate(&run.unet::<B>(device)?, &loader, &task, scores, device)?,
        ModelConfig::Segmenter(_) => evaluate(&run.segmenter::<B>(device)?, &loader, &task, scores, device)?,
        ModelConfig::Sr(_) => evaluate(&run.sr::<B>(device)?, &loader, &task, scores, device)?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Opens a shard set on a runtime dropped before returning: an idle S3 connection pooled by a runtime that is
/// still alive but no longer driven would hang the loader's first request until the request timeout.
fn open_shards(url: &str, store: &StoreOptions) -> Result<ShardSet, Error> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let set = rt.block_on(ShardSet::open(url, store))?;
    drop(rt);
    Ok(set)
}
