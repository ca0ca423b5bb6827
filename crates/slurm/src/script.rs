//! The text of the emitted files: a stage's sbatch script (directives, environment by name, the signal
//! forwarding, the task record, the requeue) and `submit.sh`; shell quoting; the secret scan every file passes.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::pipeline::{Resolved, ResolvedStage, secret_like};

/// Quotes `s` for bash as one literal word.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// An `#SBATCH` option with its value in double quotes when the value holds blanks (`--output="/a b/x.out"`).
fn directive(option: &str) -> String {
    match option.split_once('=') {
        Some((name, value)) if value.chars().any(char::is_whitespace) && !value.starts_with('"') => {
            format!("{name}=\"{}\"", value.replace('"', "\\\""))
        }
        _ => option.to_owned(),
    }
}

/// Quotes `s` for bash as one word in which `$VAR` still expands (on the compute node).
fn expanding(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', r"\\").replace('"', "\\\"").replace('`', "\\`"))
}

/// The values of this process's variables that are secrets: those named (passed by name to the stages) and
/// those whose names look like secrets (`*SECRET*`, `*TOKEN*`, `*PASSWORD*`, `DATABASE_URL`, …). Values shorter
/// than 8 characters are not matched.
pub fn secret_values(named: &[String]) -> Vec<(String, String)> {
    std::env::vars().filter(|(name, value)| (named.contains(name) || secret_like(name)) && value.len() >= 8).collect()
}

/// Fails, naming the variable (never the value), when `text` holds one of the `secrets`.
pub fn check_secrets(file: &str, text: &str, secrets: &[(String, String)]) -> Result<()> {
    match secrets.iter().find(|(_, value)| text.contains(value.as_str())) {
        Some((name, _)) => Err(Error::Secret { file: file.to_owned(), variable: name.clone() }),
        None => Ok(()),
    }
}

/// The sbatch script of `stage`.
pub(crate) fn render(pipeline: &Resolved, stage: &ResolvedStage) -> String {
    let job = &stage.job;
    let signal = job.signal.unwrap_or(crate::job::StopSignal::Term).name();
    let lead = job.signal_lead_s.unwrap_or(120);
    let requeues = job.requeue_on_stop.unwrap_or(0);
    let dir = pipeline.dir.display().to_string();
    let logs = pipeline.logs.display().to_string();
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# eoforge-slurm {}: pipeline `{}`, stage `{}`{}.",
        env!("CARGO_PKG_VERSION"),
        pipeline.name,
        stage.name,
        stage.array.map_or_else(String::new, |a| format!(", an array of {} tasks", a.count))
    );
    let _ = writeln!(s, "# Submit the chain with `eoforge-slurm submit {dir}` (or `bash {dir}/submit.sh`).");
    let _ = writeln!(s, "# No secret is written here: the stage gets credentials by name from its environment.");
    // sbatch splits a directive's line at blanks outside double quotes: a value with blanks (a path with spaces)
    // is quoted.
    let d = |s: &mut String, option: &str| {
        let _ = writeln!(s, "#SBATCH {}", directive(option));
    };
    d(&mut s, &format!("--job-name={}-{}", pipeline.name, stage.name));
    let (out, err) = match stage.array {
        Some(a) => {
            let throttle = a.throttle.map_or_else(String::new, |t| format!("%{t}"));
            d(&mut s, &format!("--array={}-{}{throttle}", a.base, a.base + a.count - 1));
            (format!("{logs}/%x_%A_%a.out"), format!("{logs}/%x_%A_%a.err"))
        }
        None => (format!("{logs}/%x_%j.out"), format!("{logs}/%x_%j.err")),
    };
    for (key, value) in [
        ("partition", &job.partition),
        ("account", &job.account),
        ("qos", &job.qos),
        ("time", &job.time),
        ("mem", &job.mem),
    ] {
        if let Some(v) = value {
            d(&mut s, &format!("--{key}={v}"));
        }
    }
    if let Some(n) = job.nodes {
        d(&mut s, &format!("--nodes={n}"));
    }
    d(&mut s, "--ntasks=1");
    if let Some(n) = job.cpus {
        d(&mut s, &format!("--cpus-per-task={n}"));
    }
    if let Some(n) = job.gpus.filter(|g| *g > 0) {
        d(&mut s, &format!("--gpus={n}"));
    }
    d(&mut s, &format!("--output={out}"));
    d(&mut s, &format!("--error={err}"));
    d(&mut s, "--open-mode=append");
    d(&mut s, &format!("--signal=B:{signal}@{lead}"));
    d(&mut s, if requeues > 0 { "--requeue" } else { "--no-requeue" });
    for option in job.sbatch.iter().flatten() {
        d(&mut s, option);
    }
    for note in &stage.notes {
        let _ = writeln!(s, "# {note}");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "set -uo pipefail");
    let _ = writeln!(s, "pipeline_dir={}", quote(&dir));
    let _ = writeln!(s, "stage={}", quote(&stage.name));
    let _ = writeln!(s, "task=${{SLURM_ARRAY_TASK_ID:-0}}");
    let _ = writeln!(s, "records=\"$pipeline_dir/tasks/$stage\"");
    let _ = writeln!(s, "mkdir -p \"$records\"");
    if let Some(file) = &job.env_file {
        let _ = writeln!(s, "\n# Credentials from a file read on the node (they stay in that file).");
        let _ = writeln!(s, "set -a; . {}; set +a", expanding(file));
        if job.container.is_some() {
            // The container starts with a clean environment: the file's variables reach it by name.
            let _ = writeln!(
                s,
                "for name in $(sed -n 's/^[[:space:]]*\\(export[[:space:]]\\+\\)\\{{0,1\\}}\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\2/p' {}); do",
                expanding(file)
            );
            let _ = writeln!(s, "  export \"APPTAINERENV_$name=${{!name}}\"");
            let _ = writeln!(s, "done");
        }
    }
    let pass: Vec<&String> = job.pass_env.iter().flatten().collect();
    if !pass.is_empty() {
        let names: Vec<String> = pass.iter().map(|n| quote(n)).collect();
        let _ = writeln!(s, "\n# Variables passed by name from the submitting environment (sbatch exports it).");
        let _ = writeln!(s, "for name in {}; do", names.join(" "));
        let _ = writeln!(
            s,
            "  [ -n \"${{!name+x}}\" ] || {{ echo \"error: stage $stage needs \\$$name in its environment: set it \
             where you submit, or in env_file\" >&2; exit 1; }}"
        );
        let _ = writeln!(s, "done");
    }
    let mut exported: Vec<String> = pass.iter().map(|n| (*n).clone()).collect();
    let _ = writeln!(s);
    for (name, value) in job.env.iter().flatten() {
        let _ = writeln!(s, "export {name}={}", expanding(value));
        exported.push(name.clone());
    }
    if let Some(tmp) = &job.tmpdir {
        let _ = writeln!(s, "export TMPDIR={}", expanding(tmp));
        let _ = writeln!(s, "mkdir -p \"$TMPDIR\"");
        exported.push("TMPDIR".into());
    }
    if let Some(a) = stage.array {
        let _ = writeln!(s, "# This task's part of the work, pinned so that a resubmitted task keeps its part.");
        let _ = writeln!(s, "export {}=\"$((task - {}))/{}\"", eoforge_sampling::SHARD_ENV, a.base, a.count);
        exported.push(eoforge_sampling::SHARD_ENV.into());
    }
    let _ = writeln!(s, "export EOFORGE_RUN_RECORD=\"$records/$task.run.json\"");
    let _ = writeln!(s, "rm -f \"$EOFORGE_RUN_RECORD\"");
    exported.push("EOFORGE_RUN_RECORD".into());
    let mut command: Vec<String> = Vec::new();
    if let Some(c) = &job.container {
        let _ = writeln!(s, "# The container starts with a clean environment; these reach it by name.");
        for name in &exported {
            let _ = writeln!(s, "export APPTAINERENV_{name}=\"${{{name}}}\"");
        }
        command.extend([quote(&c.runtime), "exec".into(), "--cleanenv".into()]);
        if c.nv {
            command.push("--nv".into());
        }
        let mut binds = vec![dir.clone()];
        binds.extend(c.bind.iter().cloned());
        command.extend(["--bind".into(), quote(&binds.join(","))]);
        command.push(quote(&c.image));
    }
    command.extend(stage.command.iter().map(|a| quote(a)));
    let _ = writeln!(s, "command=({})", command.join(" "));
    let _ = write!(
        s,
        r#"
started=$(date +%s.%N)
"${{command[@]}}" &
child=$!
# SLURM's warning (SIG{signal} to this shell, {lead} s before the time limit; or `scancel --signal={signal} --batch`)
# becomes SIGTERM for the stage: it finishes or abandons its current unit, records its progress and exits {stopped}.
trap 'echo "eoforge-slurm: SIG{signal} received, asking the stage to stop" >&2; kill -TERM "$child" 2>/dev/null' {signal}
wait "$child"; code=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done
trap - {signal}
ended=$(date +%s.%N)
restarts=${{SLURM_RESTART_COUNT:-0}}
case $code in
  0) state=done ;;
  {stopped}) if [ "$restarts" -lt {requeues} ]; then state=requeued; else state=stopped; fi ;;
  *) state=failed ;;
esac
run=null
[ -s "$EOFORGE_RUN_RECORD" ] && run=$(cat "$EOFORGE_RUN_RECORD")
record=$(printf '{{"stage":"%s","task":%s,"shard":"%s","job_id":"%s","array_job_id":"%s","host":"%s","started":%s,"ended":%s,"exit_code":%s,"state":"%s","restarts":%s,"cpus":%s,"run":%s}}' \
  "$stage" "$task" "${{EOFORGE_SHARD:-0/1}}" "${{SLURM_JOB_ID:-}}" "${{SLURM_ARRAY_JOB_ID:-${{SLURM_JOB_ID:-}}}}" \
  "$(hostname)" "$started" "$ended" "$code" "$state" "$restarts" "${{SLURM_CPUS_PER_TASK:-${{SLURM_CPUS_ON_NODE:-1}}}}" "$run")
printf '%s\n' "$record" >> "$records/$task.attempts.jsonl"
printf '%s\n' "$record" > "$records/$task.json.partial" && mv "$records/$task.json.partial" "$records/$task.json"
if [ "$state" = requeued ]; then
  echo "eoforge-slurm: stopped with its progress recorded; requeueing (restart $((restarts + 1)) of {requeues})" >&2
  scontrol requeue "$SLURM_JOB_ID" && exit 0
  echo "eoforge-slurm: scontrol requeue failed; resubmit this task to continue" >&2
fi
exit "$code"
"#,
        stopped = eoforge_profile::EXIT_STOPPED,
    );
    s
}

/// `submit.sh`: the chain submitted by hand, each stage after the ones it needs (`afterok`), a failed stage
/// cancelling those that wait for it (`--kill-on-invalid-dep=yes`).
pub(crate) fn submit_script(pipeline: &Resolved) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# eoforge-slurm {}: submits pipeline `{}` in order (`eoforge-slurm submit` does the same and records the \
         job ids).",
        env!("CARGO_PKG_VERSION"),
        pipeline.name
    );
    let _ = writeln!(s, "set -euo pipefail");
    for (i, stage) in pipeline.stages.iter().enumerate() {
        let deps: Vec<String> = stage
            .after
            .iter()
            .filter_map(|a| pipeline.stages.iter().position(|s| &s.name == a))
            .map(|j| format!("$job{j}"))
            .collect();
        let dependency = if deps.is_empty() {
            String::new()
        } else {
            format!("--kill-on-invalid-dep=yes --dependency=afterok:{} ", deps.join(":"))
        };
        let _ = writeln!(
            s,
            "job{i}=$(sbatch --parsable {dependency}{}); job{i}=${{job{i}%%;*}}",
            quote(&stage.script.display().to_string())
        );
        let _ = writeln!(s, "echo \"{} $job{i}\"", stage.name);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_values_with_blanks_are_quoted() {
        assert_eq!(directive("--output=/runs/my project/x_%j.out"), "--output=\"/runs/my project/x_%j.out\"");
        assert_eq!(directive("--output=/runs/x.out"), "--output=/runs/x.out");
        assert_eq!(directive("--comment=a \"b\""), "--comment=\"a \\\"b\\\"\"");
    }

    #[test]
    fn quoting_keeps_every_argument_one_literal_word() {
        assert_eq!(quote("s3://b/k.tif"), "s3://b/k.tif");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(quote(""), "''");
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s\\n' {} {}", quote("it's $HOME"), expanding("x\"`y`")))
            .output()
            .expect("bash");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $HOME\nx\"`y`\n");
    }

    #[test]
    fn a_secret_value_is_found_and_named_not_printed() {
        let secrets = vec![("AWS_SECRET_ACCESS_KEY".to_owned(), "planted-value-123".to_owned())];
        let err = check_secrets("x.sbatch", "export K=planted-value-123", &secrets).expect_err("found");
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY") && !err.to_string().contains("planted-value"));
        assert!(check_secrets("x.sbatch", "export K=\"${AWS_SECRET_ACCESS_KEY}\"", &secrets).is_ok());
    }
}
