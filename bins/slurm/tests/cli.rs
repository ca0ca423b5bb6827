//! `eoforge-slurm emit` without a cluster: the scripts it writes (bash syntax, directives, the part each task
//! gets, the signal forwarding), pipeline files with rules and dependencies, and what it refuses — planted secrets
//! passed by value, contradicting flags — leaving nothing behind.

use std::path::Path;
use std::process::{Command, Output};

const SECRET: &str = "planted-aws-secret-5Tq8Lw";

fn slurm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eoforge-slurm"))
        .args(args)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .output()
        .expect("run eoforge-slurm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the emitted script's body in bash with SLURM's variables of one array task, and a stage that prints its
/// environment: the part it gets, what it is passed by name.
#[test]
fn an_emitted_array_script_is_valid_bash_and_gives_each_task_its_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("jobs");
    let probe = dir.path().join("probe.sh");
    std::fs::write(
        &probe,
        "#!/bin/bash\necho \"part=$EOFORGE_SHARD tmp=$TMPDIR has_secret=${AWS_SECRET_ACCESS_KEY:+yes}\"\n",
    )
    .expect("probe");
    let o = slurm(&[
        "emit",
        "--out",
        out.to_str().expect("utf-8"),
        "--name",
        "convert",
        "--array",
        "8",
        "--array-base",
        "1",
        "--throttle",
        "3",
        "--partition",
        "normal",
        "--time",
        "04:00:00",
        "--cpus",
        "4",
        "--mem",
        "16G",
        "--requeue-on-stop",
        "2",
        "--signal",
        "USR1",
        "--tmpdir",
        &format!("{}/tmp/$SLURM_JOB_ID", dir.path().display()),
        "--pass-env",
        "AWS_SECRET_ACCESS_KEY",
        "--sbatch=--mail-type=FAIL",
        "--",
        "bash",
        probe.to_str().expect("utf-8"),
        "it's one argument",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let script = std::fs::read_to_string(out.join("convert.sbatch")).expect("script");
    for line in [
        "#SBATCH --job-name=eoforge-convert",
        "#SBATCH --array=1-8%3",
        "#SBATCH --partition=normal",
        "#SBATCH --time=04:00:00",
        "#SBATCH --mem=16G",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --requeue",
        "#SBATCH --mail-type=FAIL",
        "_%A_%a.out",
        "_%A_%a.err",
        "'it'\\''s one argument'",
    ] {
        assert!(script.contains(line), "{line} missing from:\n{script}");
    }
    assert!(!script.contains(SECRET));
    let syntax = Command::new("bash").arg("-n").arg(out.join("convert.sbatch")).output().expect("bash -n");
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    let submit = Command::new("bash").arg("-n").arg(out.join("submit.sh")).output().expect("bash -n");
    assert!(submit.status.success(), "{}", text(&submit.stderr));

    // Task 6 of 1-8 does part 5/8 (also when resubmitted alone, where SLURM says task 6 of 1).
    let run = Command::new("bash")
        .arg(out.join("convert.sbatch"))
        .env("SLURM_ARRAY_TASK_ID", "6")
        .env("SLURM_ARRAY_TASK_COUNT", "1")
        .env("SLURM_ARRAY_TASK_MIN", "6")
        .env("SLURM_JOB_ID", "77")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .output()
        .expect("run the script");
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(
        text(&run.stdout).trim(),
        format!("part=5/8 tmp={}/tmp/77 has_secret=yes", dir.path().display()),
        "{}",
        text(&run.stderr)
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tasks/convert/6.json")).expect("record")).expect("json");
    assert_eq!((record["state"].as_str(), record["shard"].as_str()), (Some("done"), Some("5/8")), "{record}");

    // Without the variable the task fails at once, naming it.
    let missing = Command::new("bash")
        .arg(out.join("convert.sbatch"))
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("run the script");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("needs $AWS_SECRET_ACCESS_KEY in its environment"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn a_pipeline_file_chains_its_stages_and_follows_the_partition_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.toml");
    std::fs::write(
        &file,
        r#"
name = "s2"
[defaults]
partition = "normal"
time = "1-00:00:00"
mem = "8G"

[partitions.normal]
mem = false

[[stage]]
name = "convert"
command = ["eoforge-prep", "shard", "--meta", "m.parquet", "--out", "shards"]
array = 4

[[stage]]
name = "train"
command = ["eoforge-train", "fit", "--data", "shards", "--out", "run"]
partition = "accel"
requeue_on_stop = 3
container = { image = "/images/eoforge.sif", bind = ["/cluster"], nv = true }
pass_env = ["DATABASE_URL"]
"#,
    )
    .expect("pipeline");
    let out = dir.path().join("jobs");
    let o = slurm(&["emit", "--out", out.to_str().expect("utf-8"), "--pipeline", file.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let convert = std::fs::read_to_string(out.join("convert.sbatch")).expect("convert");
    assert!(
        !convert.contains("#SBATCH --mem") && convert.contains("# --mem omitted: partition normal rejects it"),
        "{convert}"
    );
    let train = std::fs::read_to_string(out.join("train.sbatch")).expect("train");
    assert!(train.contains("#SBATCH --mem=8G") && train.contains("#SBATCH --partition=accel"), "{train}");
    assert!(train.contains("command=(apptainer exec --cleanenv --nv --bind"), "{train}");
    assert!(train.contains("export APPTAINERENV_DATABASE_URL=\"${DATABASE_URL}\""), "{train}");
    let submit = std::fs::read_to_string(out.join("submit.sh")).expect("submit.sh");
    assert!(submit.contains("--kill-on-invalid-dep=yes --dependency=afterok:$job0"), "{submit}");

    // A rule broken by the stage itself is refused, and nothing is written.
    let strict = std::fs::read_to_string(&file).expect("read").replace("array = 4", "array = 4\nmem = \"4G\"");
    std::fs::write(&file, strict).expect("write");
    let other = dir.path().join("other");
    let o = slurm(&["emit", "--out", other.to_str().expect("utf-8"), "--pipeline", file.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("stage `convert`: partition `normal`: rejects --mem"), "{}", text(&o.stderr));
    assert!(!other.exists());
}

/// `emit` of `examples/slurm/<pipeline>` against the example partition rules into `out` (which it returns).
fn emit_example(pipeline: &str, out: &std::path::Path) -> std::path::PathBuf {
    let root = eoforge_testkit::workspace_root().join("examples/slurm");
    let o = slurm(&[
        "emit",
        "--pipeline",
        root.join(pipeline).to_str().expect("utf-8"),
        "--partition-rules",
        root.join("partitions.toml").to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{pipeline}: {}", text(&o.stderr));
    out.to_owned()
}

/// The example pipeline of the docs stays valid against the example partition rules.
#[test]
fn the_example_pipeline_emits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = emit_example("pipeline.toml", &dir.path().join("s2"));
    let script = |name: &str| std::fs::read_to_string(out.join(format!("{name}.sbatch"))).expect("script");
    assert!(script("convert").contains("#SBATCH --array=0-15%8") && script("convert").contains("/16\""));
    assert!(script("train").contains("#SBATCH --gpus=1") && script("train").contains("apptainer exec --cleanenv --nv"));
    assert!(!script("finalize").contains("#SBATCH --mem") && script("finalize").contains("#SBATCH --time=00:10:00"));
    let pipeline: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("pipeline.json")).expect("pipeline.json")).expect("json");
    let after: Vec<&serde_json::Value> =
        pipeline["stages"].as_array().expect("stages").iter().map(|s| &s["after"]).collect();
    assert_eq!(
        after,
        [
            &serde_json::json!([]),
            &serde_json::json!(["convert"]),
            &serde_json::json!(["train"]),
            &serde_json::json!(["predict"])
        ]
    );
}

/// The embeddings example (a many-scene window set as an array, its merge, training) emits against the example
/// partition rules, each task pinned to its part.
#[test]
fn the_embeddings_example_pipeline_emits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = emit_example("embeddings.toml", &dir.path().join("aef"));
    let script = |name: &str| std::fs::read_to_string(out.join(format!("{name}.sbatch"))).expect("script");
    assert!(script("windows").contains("#SBATCH --array=0-11%4") && script("windows").contains("/12\""));
    assert!(script("windows").contains("--catalog") && script("merge").contains("--merge"));
    assert!(script("windows").contains("#SBATCH --requeue"));
}

#[test]
fn secrets_by_value_and_bad_flags_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("jobs");
    let o = out.to_str().expect("utf-8");
    for (args, code, expected) in [
        (vec!["emit", "--out", o, "--", "eoforge-prep", "cp", "--token", SECRET], 1, "`AWS_SECRET_ACCESS_KEY`"),
        (vec!["emit", "--out", o, "--", "eoforge-prep", "cp", "s3://key:pw@host/b/k", "x"], 1, "a URL password"),
        (vec!["emit", "--out", o, "--env", "DB_PASSWORD=hunter22", "--", "true"], 1, "`DB_PASSWORD`"),
        (vec!["emit", "--out", o, "--array", "2", "--", "eoforge-prep", "shard", "--shard", "0/2"], 1, "--shard"),
        (vec!["emit", "--out", o], 2, "give the stage command"),
        (vec!["emit", "--out", o, "--signal", "HUP", "--", "true"], 2, "--signal"),
        (vec!["emit", "--out", o, "--time", "00:01:00", "--", "true"], 1, "signal's lead"),
    ] {
        let out = slurm(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(expected), "{args:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains(SECRET) && !text(&out.stdout).contains(SECRET));
        assert!(!Path::new(o).exists(), "{args:?} wrote files");
    }
}

/// A pipeline folder with spaces in its path writes quoted `#SBATCH` paths (sbatch splits a directive at blanks);
/// an `env_file`'s variables reach a container stage by name, the values staying in the file.
#[test]
fn paths_with_spaces_are_quoted_and_env_file_variables_reach_a_container() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env_file = dir.path().join("creds.env");
    std::fs::write(
        &env_file,
        "# credentials\nexport AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY=planted-secret-9\n",
    )
    .expect("env file");
    let file = dir.path().join("pipeline.toml");
    std::fs::write(
        &file,
        format!(
            r#"
name = "s2"
[defaults]
time = "1:00:00"

[[stage]]
name = "predict"
command = ["eoforge-infer", "predict", "a.tif", "b.tif", "--model", "run"]
container = {{ image = "/images/eoforge.sif" }}
env_file = "{}"
"#,
            env_file.display()
        ),
    )
    .expect("pipeline");
    let out = dir.path().join("my jobs");
    let o = slurm(&["emit", "--out", out.to_str().expect("utf-8"), "--pipeline", file.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let script = std::fs::read_to_string(out.join("predict.sbatch")).expect("script");
    let output = script.lines().find(|l| l.starts_with("#SBATCH --output=")).expect("--output");
    assert!(
        output.starts_with("#SBATCH --output=\"") && output.ends_with('"') && output.contains("my jobs"),
        "{output}"
    );
    assert!(!script.contains("planted-secret-9"), "the values stay in the file");
    // The script's env_file lines, run: the file's variables are exported for the container by name.
    let start = script.find("set -a; .").expect("env_file is read");
    let end = script[start..].find("\ndone\n").expect("the loop") + start + 6;
    let probe = format!("{}env | grep ^APPTAINERENV_ | sort\n", &script[start..end]);
    let run = std::process::Command::new("bash").args(["-c", &probe]).output().expect("bash");
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(
        text(&run.stdout).trim(),
        "APPTAINERENV_AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAPPTAINERENV_AWS_SECRET_ACCESS_KEY=planted-secret-9"
    );
}
