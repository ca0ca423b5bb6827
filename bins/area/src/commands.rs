//! One library call per subcommand, and what it prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use eoforge_area::{Aoi, AreaConfig, Error, RunOptions, Stage};
use eoforge_cli::{Stopped, UsageError, usage};
use eoforge_sampling::ShardSpec;

use crate::cli::{Cli, Command, RunArgs, TilesArgs};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run_pipeline(&args),
        Command::Tiles(args) => tiles(&args),
    }
}

/// `NAME=VALUE` flags as a map; anything else is a usage error.
fn variables(flags: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for flag in flags {
        let Some((name, value)) = flag.split_once('=') else {
            return usage(format!("--var {flag}: write NAME=VALUE"));
        };
        out.insert(name.trim().to_owned(), value.to_owned());
    }
    Ok(out)
}

/// Library errors as the binary reports them: selections are usage errors, a stop exits 75.
fn mapped(e: Error) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        Error::Usage(message) => Box::new(UsageError(message)),
        Error::Stopped(message) => Box::new(Stopped(message)),
        other => Box::new(other),
    }
}

fn run_pipeline(args: &RunArgs) -> Result<()> {
    let config = AreaConfig::load(&args.config, &variables(&args.vars)?)?;
    let mut stages = Vec::new();
    for name in args.stage.iter().chain(&args.stages) {
        stages.push(name.parse::<Stage>().map_err(mapped)?);
    }
    let shard = if let Some(value) = &args.shard {
        Some(value.parse::<ShardSpec>().map_err(|e| UsageError(format!("--shard {e}")))?)
    } else {
        let from_env = ShardSpec::from_env().map_err(|e| UsageError(e.to_string()))?;
        (from_env.count > 1).then_some(from_env)
    };
    let options = RunOptions {
        stages,
        tiles: args.tiles.clone(),
        shard,
        stop: Some(eoforge_cli::stop_flag()?),
        store: args.s3.store_options(),
        force: args.force,
        revision: env!("EOFORGE_GIT_REVISION").into(),
    };
    let bars = crate::progress::Bars::new();
    let report = eoforge_area::run(&config, &options, &bars).map_err(mapped)?;
    let written: usize = report.stages.iter().filter(|s| s.stage.per_tile()).map(|s| s.done + s.empty).sum();
    eoforge_cli::report_work(written as f64, "tile stages");
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for s in &report.stages {
            println!(
                "{:<9} {:>5} done {:>5} skipped {:>5} empty {:>5} failed  {:>8.1} s",
                s.stage.name(),
                s.done,
                s.skipped,
                s.empty,
                s.failed.len(),
                s.seconds
            );
        }
        println!("report: {}/report.json", report.dir);
    }
    let failures = report.failures();
    if failures > 0 {
        let log = format!("{}/failure.log", report.dir);
        let first = report.stages.iter().flat_map(|s| s.failed.iter().map(move |f| (s.stage, f))).next();
        let example =
            first.map(|(stage, f)| format!("; first: {} {}: {}", stage.name(), f.tile, f.reason)).unwrap_or_default();
        return Err(format!("{failures} tile(s) or zone(s) failed, the others finished; see `{log}`{example}").into());
    }
    Ok(())
}

fn tiles(args: &TilesArgs) -> Result<()> {
    let config = AreaConfig::load(&args.config, &variables(&args.vars)?)?;
    let aoi = Aoi::read(std::path::Path::new(&config.area.aoi))?;
    let grid = eoforge_area::build_grid(&aoi, &config.area.grid_spec())?;
    let text = if args.json {
        serde_json::to_string_pretty(&grid)? + "\n"
    } else {
        let mut text = String::new();
        for (i, tile) in grid.tiles.iter().enumerate() {
            let [x0, y0, x1, y1] = tile.core;
            let _ = writeln!(text, "{i:>6}  {:<18} EPSG:{}  {x0:.0} {y0:.0} {x1:.0} {y1:.0}", tile.name, tile.epsg());
        }
        text
    };
    // A reader that stops early (`| head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
