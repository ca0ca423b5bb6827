//! One library call per subcommand.

use std::path::Path;

use eoforge_cli::usage;
use eoforge_slurm::{Container, JobSpec, Pipeline, StageDef, Status, SubmitOptions};

use crate::cli::{Cli, Command, EmitArgs, JobArgs, ProfileArgs, StatusArgs, SubmitArgs};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) fn run(cli: Cli) -> Result {
    match cli.command {
        Command::Emit(args) => emit(&args),
        Command::Submit(args) => submit(&args),
        Command::Status(args) => status(&args),
        Command::Profile(args) => profile(&args),
    }
}

fn job_spec(args: &JobArgs) -> Result<JobSpec> {
    let mut env = std::collections::BTreeMap::new();
    for pair in &args.env {
        let Some((name, value)) = pair.split_once('=') else {
            return usage(format!("--env {pair}: expected NAME=VALUE"));
        };
        env.insert(name.to_owned(), value.to_owned());
    }
    Ok(JobSpec {
        partition: args.partition.clone(),
        account: args.account.clone(),
        qos: args.qos.clone(),
        time: args.time.clone(),
        mem: args.mem.clone(),
        cpus: args.cpus,
        gpus: args.gpus,
        nodes: args.nodes,
        signal: args.signal,
        signal_lead_s: args.signal_lead,
        requeue_on_stop: args.requeue_on_stop,
        tmpdir: args.tmpdir.clone(),
        pass_env: (!args.pass_env.is_empty()).then(|| args.pass_env.clone()),
        env_file: args.env_file.clone(),
        env: (!env.is_empty()).then_some(env),
        container: args.container.as_ref().map(|image| Container {
            image: image.clone(),
            runtime: "apptainer".into(),
            bind: args.bind.clone(),
            nv: args.nv,
        }),
        sbatch: (!args.sbatch.is_empty()).then(|| args.sbatch.clone()),
    })
}

fn emit(args: &EmitArgs) -> Result {
    let flags = job_spec(&args.job)?;
    let mut pipeline = if let Some(file) = &args.pipeline {
        if !args.command.is_empty() {
            return usage("give either --pipeline FILE or a stage command after `--`, not both");
        }
        let mut p = Pipeline::load(file)?;
        p.defaults = flags.over(&p.defaults);
        p
    } else {
        if args.command.is_empty() {
            return usage("give the stage command after `--` (or --pipeline FILE)");
        }
        let array =
            args.array.map(|count| eoforge_slurm::ArraySpec { count, base: args.array_base, throttle: args.throttle });
        Pipeline {
            name: "eoforge".into(),
            stages: vec![StageDef {
                name: args.name.clone(),
                command: args.command.clone(),
                array,
                after: None,
                job: flags,
            }],
            ..Pipeline::default()
        }
    };
    if let Some(file) = &args.partition_rules {
        for (name, rule) in eoforge_slurm::load_rules(file)? {
            pipeline.partitions.entry(name).or_insert(rule);
        }
    }
    let resolved = pipeline.resolve(&args.out)?;
    for file in resolved.emit()? {
        println!("wrote {}", file.display());
    }
    if args.submit {
        submit_and_report(&resolved.dir, &SubmitOptions::default(), args.wait)?;
    }
    Ok(())
}

fn submit(args: &SubmitArgs) -> Result {
    let options = SubmitOptions { stage: args.stage.clone(), array: args.array.clone(), sbatch: None };
    submit_and_report(&args.dir, &options, args.wait)
}

fn submit_and_report(dir: &Path, options: &SubmitOptions, wait: bool) -> Result {
    let submitted = eoforge_slurm::submit(dir, options)?;
    for s in &submitted {
        let after = if s.after.is_empty() { String::new() } else { format!(" (after {})", s.after.join(", ")) };
        println!("submitted {} as job {}{after}", s.stage, s.job_id);
    }
    if wait {
        eoforge_slurm::wait(&submitted.iter().map(|s| s.job_id.clone()).collect::<Vec<_>>())?;
        let status = eoforge_slurm::status(dir, Some("sacct"))?;
        print_status(&status, dir);
        if !status.complete() {
            return Err(format!(
                "pipeline `{}` did not complete; see `eoforge-slurm status {}`",
                status.pipeline,
                dir.display()
            )
            .into());
        }
    }
    Ok(())
}

fn status(args: &StatusArgs) -> Result {
    if args.wait {
        let jobs: Vec<String> = eoforge_slurm::submissions(&args.dir)?.into_iter().map(|s| s.job_id).collect();
        eoforge_slurm::wait(&jobs)?;
    }
    let status = eoforge_slurm::status(&args.dir, (!args.no_sacct).then_some("sacct"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_status(&status, &args.dir);
    }
    Ok(())
}

fn print_status(status: &Status, dir: &Path) {
    println!("pipeline {}{}", status.pipeline, if status.sacct { "" } else { " (no sacct: task records only)" });
    println!("{:<16} {:>6} {:>6} {:>7} {:>10}", "stage", "tasks", "done", "failed", "remaining");
    for stage in &status.stages {
        println!(
            "{:<16} {:>6} {:>6} {:>7} {:>10}",
            stage.stage,
            stage.tasks.len(),
            stage.done.len(),
            stage.failed.len(),
            stage.remaining.len()
        );
        for task in stage.tasks.iter().filter(|t| t.state != "done") {
            println!(
                "  task {}: {}{}{}",
                task.task,
                task.state,
                task.exit_code.map_or_else(String::new, |c| format!(", exit {c}")),
                task.slurm.as_ref().map_or_else(String::new, |s| format!(", SLURM {s}"))
            );
        }
        if let Some(list) = &stage.resubmit {
            println!(
                "  resubmit: eoforge-slurm submit {} --stage {} --array {list}   (sbatch --array={list} {})",
                dir.display(),
                stage.stage,
                dir.join(format!("{}.sbatch", stage.stage)).display()
            );
        }
    }
}

fn profile(args: &ProfileArgs) -> Result {
    let (profile, path) = eoforge_slurm::write_merged_profile(&args.dir)?;
    for stage in &profile.stages {
        let work = match (stage.work, &stage.work_unit) {
            (Some(w), Some(u)) => format!(", {w:.0} {u}"),
            _ => String::new(),
        };
        let slowest = stage.slowest_task.map_or_else(String::new, |(t, s)| format!(", slowest task {t} ({s:.1} s)"));
        println!("{}: {} task(s){work}{slowest}, {:.4} core-hours", stage.stage, stage.tasks.len(), stage.core_hours);
    }
    println!("total {:.4} core-hours; wrote {}", profile.core_hours, path.display());
    Ok(())
}
