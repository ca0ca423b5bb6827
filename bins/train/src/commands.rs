//! One library call per subcommand.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use eoforge_cli::UsageError;
use eoforge_models::PatchClassifierConfig;
use eoforge_profile::{Stages, peak_rss_mib};
use eoforge_storage::StoreOptions;
use eoforge_train::{FitConfig, Loader, LoaderConfig, ShardSet, StopWhen, evaluate, fit};

use crate::cli::{Cli, Command, EvalArgs, FitArgs};

type Error = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn run(cli: Cli, stopped: &AtomicBool) -> Result<(), Error> {
    let store = cli.s3.store_options();
    match cli.command {
        Command::Fit(args) => fit_command(&args, &store, stopped),
        Command::Eval(args) => eval_command(&args, &store),
    }
}

/// The settings of a run when nothing else is said: the classifier for BigEarthNet's 12 bands and 19 classes.
fn default_config() -> FitConfig {
    FitConfig {
        model: PatchClassifierConfig::new(12, 19),
        batch_size: 16,
        shuffle_buffer: 512,
        augment: true,
        epochs: 10,
        lr: 1e-3,
        warmup_steps: 100,
        min_lr: 1e-5,
        weight_decay: 1e-4,
        clip_norm: Some(1.0),
        checkpoint_every: 200,
        seed: 0,
    }
}

/// Reads a TOML run configuration; a wrong or unknown field is an error naming the file and field.
fn read_config(path: &Path) -> Result<FitConfig, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("`{}`: {}", path.display(), e.to_string().trim()).into())
}

fn fit_command(args: &FitArgs, store: &StoreOptions, stopped: &AtomicBool) -> Result<(), Error> {
    let start = Instant::now();
    let device = parse_device(&args.device)?;
    let mut stages = Stages::default();
    let mut config = match &args.config {
        Some(path) => read_config(path)?,
        None => default_config(),
    };
    config.epochs = args.epochs.unwrap_or(config.epochs);
    config.batch_size = args.batch.unwrap_or(config.batch_size);
    config.lr = args.lr.unwrap_or(config.lr);
    config.seed = args.seed.unwrap_or(config.seed);
    config.checkpoint_every = args.checkpoint_every.unwrap_or(config.checkpoint_every);
    if config.batch_size == 0 || config.epochs == 0 || config.lr.is_nan() || config.lr <= 0.0 {
        return Err(UsageError("--batch, --epochs and --lr must be positive".into()).into());
    }
    // A run directory belongs to one configuration: resuming with another would mix two runs.
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create `{}`: {e}", args.out.display()))?;
    let snapshot = args.out.join("config.toml");
    let text = toml::to_string_pretty(&config)?;
    match std::fs::read_to_string(&snapshot) {
        Ok(existing) if existing != text => {
            return Err(format!(
                "`{}` was made with another configuration; use a new --out, or the same settings to resume",
                snapshot.display()
            )
            .into());
        }
        Ok(_) => {}
        Err(_) => std::fs::write(&snapshot, &text)?,
    }
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, std::sync::Arc::clone(&flag))
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let t = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let set = rt.block_on(ShardSet::open(&args.data, store))?;
    stages.add("setup", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let stop = StopWhen { max_steps: None, flag: Some(&flag) };
    let outcome = match device {
        Device::Cpu => fit::<Autodiff<Flex>>(&set, &config, &args.out, &burn::backend::flex::FlexDevice, &stop)?,
        #[cfg(feature = "cuda")]
        Device::Cuda(index) => {
            let device = burn::backend::cuda::CudaDevice::new(index);
            fit::<Autodiff<burn::backend::Cuda>>(&set, &config, &args.out, &device, &stop)?
        }
    };
    let train_s = t.elapsed().as_secs_f64();
    stages.add("training", train_s);
    let steps = outcome.steps - outcome.resumed_from;
    let profile = serde_json::json!({
        "stages_s": stages.0,
        "total_s": start.elapsed().as_secs_f64(),
        "steps": steps,
        "resumed_from_step": outcome.resumed_from,
        "samples_per_s": (steps as usize * config.batch_size) as f64 / train_s.max(1e-9),
        "peak_rss_mib": peak_rss_mib(),
        "finished": outcome.finished,
    });
    std::fs::write(args.out.join("profile.json"), serde_json::to_vec_pretty(&profile)?)?;
    if !outcome.finished {
        stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        eprintln!("stopped at step {}: checkpoint written; run the same command to continue", outcome.steps);
        return Ok(());
    }
    let last = outcome.validation.last().map(|r| serde_json::json!({ "micro_map": r.micro_map, "macro_map": r.macro_map, "micro_f1": r.micro_f1, "macro_f1": r.macro_f1 }));
    println!(
        "{}",
        serde_json::json!({ "run": args.out.display().to_string(), "steps": outcome.steps, "validation": last })
    );
    Ok(())
}

/// A device named by `--device`.
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
    let config = read_config(&args.run.join("config.toml"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let set = rt.block_on(ShardSet::open(&args.data, store))?;
    let weights = args.run.join("model.mpk");
    if !weights.is_file() {
        return Err(format!("`{}` not found: the run has not finished", weights.display()).into());
    }
    let model = config
        .model
        .init::<B>(device)?
        .load_file(args.run.join("model"), &NamedMpkFileRecorder::<FullPrecisionSettings>::new(), device)
        .map_err(|e| format!("`{}`: {e}", weights.display()))?;
    let loader = Loader::new(
        set,
        LoaderConfig {
            split: args.split.clone(),
            batch_size: config.batch_size,
            shuffle_buffer: 0,
            ..LoaderConfig::default()
        },
    )?;
    let report = evaluate(&model, &loader, config.model.classes, device)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
