//! `eoforge-demo`: command-line flags ([`cli`]) and the call into `eoforge_demo::run_demo`.

pub mod cli;

use std::path::PathBuf;

/// Parses `args`, runs the main job, maps errors to exit codes (usage 2, failure 1).
pub fn main<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    eoforge_cli::cli_main(args, |c: &cli::Cli| c.verbose, run)
}

fn run(cli: cli::Cli) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let roles = cli::parse_roles(&cli.band_roles).map_err(|e| eoforge_cli::UsageError(format!("--band-roles: {e}")))?;
    let bins = match cli.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let store = cli.store.unwrap_or_else(|| cli.out.join("store").display().to_string());
    let options = eoforge_demo::DemoOptions {
        scene: cli.scene,
        scene_note: cli.scene_note.unwrap_or_else(|| "A scene given by the user.".into()),
        labels: cli.labels,
        ignore: cli.ignore,
        store,
        out: cli.out,
        bins,
        roles,
        water_ndwi: cli.water_ndwi,
        vegetation_ndvi: cli.vegetation_ndvi,
        reflectance_scale: cli.reflectance_scale,
        window: cli.window,
        epochs: cli.epochs,
        seed: cli.seed,
        s3_flags: cli.s3.to_flags(),
        store_options: cli.s3.store_options(),
    };
    let outcome = eoforge_demo::run_demo(&options)?;
    #[allow(clippy::print_stdout)]
    {
        println!("report: {}", outcome.report.display());
    }
    if outcome.ok { Ok(()) } else { Err(format!("a product failed QC; see {}", outcome.report.display()).into()) }
}
