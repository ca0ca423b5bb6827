//! `eoforge-prep windows --catalog` end to end: a part killed (SIGKILL) mid-scene and another stopped by SIGTERM
//! (exit 75, naming how to continue) are rerun, and the set their parts make equals the one a single process
//! writes, byte for byte — no staging file of the killed write left behind. (The same as a SLURM array:
//! `bins/slurm/tests/cluster.rs`.)

use std::path::Path;
use std::process::{Child, Command, Output};

use eoforge_testkit::{embedding_tiles, files_under};

fn prep_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eoforge-prep"));
    cmd.args(args).env_remove("SLURM_ARRAY_TASK_ID").env_remove("SLURM_ARRAY_TASK_COUNT").env_remove("EOFORGE_SHARD");
    cmd
}

fn windows(list: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["windows", "--catalog", list.to_str().expect("utf-8"), "--out"].into_iter().map(str::to_owned).collect();
    args.push(out.display().to_string());
    args.extend(["--size", "16", "--samples-per-shard", "16", "--dequantize", "aef"].map(str::to_owned));
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

fn run(args: &[String]) -> Output {
    prep_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>()).output().expect("run eoforge-prep")
}

/// Waits (with a deadline) until a shard of scene `scene` is under `out`, then pauses `child` (SIGSTOP) so that
/// what happens next lands mid-set whatever the machine's speed.
fn pause_once_scene_started(child: &Child, out: &Path, scene: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let started = || {
        std::fs::read_dir(out.join("train"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(&format!("-s{scene:05}-")))
    };
    while !started() {
        assert!(std::time::Instant::now() < deadline, "no shard of scene {scene}");
        std::thread::yield_now();
    }
    signal(child, "-STOP");
}

fn signal(child: &Child, sig: &str) {
    let o = Command::new("kill").args([sig, &child.id().to_string()]).output().expect("kill");
    assert!(o.status.success(), "kill {sig}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn killed_and_stopped_parts_rerun_to_the_one_process_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Eight 600 x 600 tiles: seconds of work per part.
    let Some(tiles) = embedding_tiles(dir.path(), 600, 600, 4) else { return };
    let list = dir.path().join("scenes.txt");
    let lines: Vec<String> = tiles.tiles.iter().map(|t| format!("{} {}", t.display(), tiles.cdl.display())).collect();
    std::fs::write(&list, lines.join("\n")).expect("list");
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    let o = run(&windows(&list, &whole, &[]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Part 0 (scenes 0, 2, 4, 6) is killed while it cuts scene 2.
    let args = windows(&list, &parts, &["--shard", "0/2"]);
    let mut child = prep_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>()).spawn().expect("spawn");
    pause_once_scene_started(&child, &parts, 2);
    assert!(!parts.join("_manifest/scene-00002.json").exists(), "scene 2 was finished before the kill");
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");

    // Part 1 (scenes 1, 3, 5, 7) is asked to stop while it cuts scene 3: exit 75, its progress recorded.
    let args = windows(&list, &parts, &["--shard", "1/2"]);
    let child = prep_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    pause_once_scene_started(&child, &parts, 3);
    assert!(!parts.join("_manifest/scene-00003.json").exists(), "scene 3 was finished before the stop");
    signal(&child, "-TERM");
    signal(&child, "-CONT");
    let stopped = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("run the same command to continue"), "{stderr}");
    assert!(parts.join("_manifest/scene-00001.json").is_file() && !parts.join("index.json").exists());

    // Both rerun; the last to finish writes the index; `--merge` writes the same bytes again.
    for part in ["0/2", "1/2"] {
        let o = run(&windows(&list, &parts, &["--shard", part]));
        assert!(o.status.success(), "{part}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run(&windows(&list, &parts, &["--merge"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (files_under(&whole), files_under(&parts));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same files, no staging left");
    assert!(a == b, "the killed, stopped and rerun parts make the one-process set");

    // A rerun with other window settings on the same output is refused, naming the manifest.
    let o = run(&windows(&list, &parts, &["--shard", "0/2", "--seed", "9"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("scene-00000.json") && stderr.contains("new --out"), "{stderr}");
}
