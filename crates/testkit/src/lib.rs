/*!
Test support shared by eoforge's integration tests.

- [`fixtures`] finds the real Earth-observation fixtures (`$EOFORGE_FIXTURES`, else `../shared/fixtures` beside
  the repository).
- [`embedding_tiles`] builds embedding tiles (signed bytes, bottom-up, two UTM zones) over the CDL fixture.
- [`python_with`] finds the project's Python venv with the interop peers a test needs.
- [`PostgresServer`] starts a private PostgreSQL cluster (`scripts/postgres.sh`) for the request-queue tests.
- [`S3Server`] starts a real S3-compatible server (SeaweedFS, the `weed` binary from the project's Python venv or
  `$EOFORGE_WEED`) on free loopback ports, creates buckets, and can be killed and restarted mid-test.

Each skips (with a message on stderr) when its resource is absent, unless `EOFORGE_REQUIRE_FIXTURES=1`,
`EOFORGE_REQUIRE_S3=1`, `EOFORGE_REQUIRE_POSTGRES=1`, `EOFORGE_REQUIRE_PYTHON=1` or `EOFORGE_REQUIRE_BROWSER=1` is set, in which case a missing resource fails the test.
`make test` sets them, so the project's test command can never pass by skipping.
*/
#![deny(missing_docs)]
#![allow(clippy::print_stderr)]

mod embedding;
mod fixtures;
mod http_receiver;
mod postgres;
mod python;
mod s3_server;
mod slurm;
mod stac_api;

pub use crate::embedding::{EmbeddingTiles, embedding_tiles};
pub use crate::fixtures::{fixture, fixtures};
pub use crate::http_receiver::{HttpReceiver, Received};
pub use crate::postgres::PostgresServer;
pub use crate::python::{onnxruntime_library, python_with, validate_stac};
pub use crate::s3_server::S3Server;
pub use crate::slurm::SlurmCluster;
pub use crate::stac_api::{PgStacApi, StacApiServer};

/// Every file under `dir` (its path relative to `dir`) with its bytes, `profile/` left out (timings): what two runs
/// that must agree byte for byte are compared by.
pub fn files_under(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            let rel = p.strip_prefix(dir).expect("inside").display().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if !rel.starts_with("profile/") {
                files.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    files
}

/// Runs GDAL's own COG validator (Debian python3-gdal) on `path`: (passed, its output).
pub fn gdal_cog_validator(path: &std::path::Path) -> (bool, String) {
    let script = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";
    assert!(std::path::Path::new(script).is_file(), "GDAL's COG validator (python3-gdal) must be installed: {script}");
    let out =
        std::process::Command::new("/usr/bin/python3").arg(script).arg(path).output().expect("run the COG validator");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

/// The repository root (the workspace directory).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Either skips the calling test (returns `false`, after saying why) or panics when `require_var` is set.
fn skip_or_fail(require_var: &str, what: &str) -> bool {
    assert!(!std::env::var(require_var).is_ok_and(|v| v == "1"), "{what} ({require_var}=1 makes this a failure)");
    eprintln!("SKIPPED: {what} (set {require_var}=1 to make this fail)");
    false
}

/// Runs one of GDAL's command-line tools (`gdalwarp`, `gdal_translate`, `gdal_edit.py` …, from gdal-bin) and
/// panics with its stderr if it fails: how tests make real inputs in the shapes users bring.
pub fn gdal_tool(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program} (gdal-bin must be installed): {e}"));
    assert!(out.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// Waits until `ready()` holds — a run's visible progress (a working file, a manifest entry) — and panics if
/// `child` exits first: a kill test that did not kill fails instead of passing by accident.
pub fn wait_for(child: &mut std::process::Child, what: &str, mut ready: impl FnMut() -> bool) {
    loop {
        if ready() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the process ended ({status}) before {what}");
        }
        std::thread::yield_now();
    }
}

/// The size of the largest file named `name` anywhere under `root` whose path contains `within` (0 if none).
pub fn largest_file_named(root: &std::path::Path, within: &str, name: &str) -> u64 {
    let mut largest = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if entry.file_name() == name && path.to_string_lossy().contains(within) {
                largest = largest.max(entry.metadata().map_or(0, |m| m.len()));
            }
        }
    }
    largest
}

/// `n` seeded pseudo-random 64-bit values (SplitMix64): test inputs that are the same on every run.
pub fn seeded_u64s(seed: u64, n: usize) -> Vec<u64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
        .collect()
}

/// Chromium and its WebDriver (`chromedriver`) from Debian's `chromium` and `chromium-driver` packages, for tests
/// that open a page in a real headless browser; `None` (skip) when absent, a failure under
/// `EOFORGE_REQUIRE_BROWSER=1`.
pub fn browser() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let chromium = std::path::PathBuf::from("/usr/bin/chromium");
    let driver = std::path::PathBuf::from("/usr/bin/chromedriver");
    if chromium.is_file() && driver.is_file() {
        return Some((chromium, driver));
    }
    skip_or_fail(
        "EOFORGE_REQUIRE_BROWSER",
        "Chromium and chromedriver not found (scripts/setup-system.sh browser installs them)",
    );
    None
}
