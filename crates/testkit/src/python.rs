//! The project's Python venv with interop peers (pyarrow, …).

use std::path::PathBuf;
use std::process::Command;

/// The venv's Python when it can import every module in `modules`, or `None` (skipping).
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let python = crate::workspace_root().join(".venv/bin/python");
    let import = format!("import {}", modules.join(", "));
    let ok = python.is_file() && Command::new(&python).args(["-c", &import]).status().is_ok_and(|s| s.success());
    if !ok {
        crate::skip_or_fail(
            "EOFORGE_REQUIRE_PYTHON",
            &format!("{} cannot `{import}` (run scripts/python-env.sh)", python.display()),
        );
    }
    ok.then_some(python)
}

/// The ONNX Runtime library of the venv's `onnxruntime` package (`…/onnxruntime/capi/libonnxruntime.so.X`), or
/// `None` (skipping).
pub fn onnxruntime_library() -> Option<PathBuf> {
    let python = python_with(&["onnxruntime"])?;
    let out = Command::new(python)
        .args(["-c", "import os, onnxruntime; print(os.path.dirname(onnxruntime.__file__))"])
        .output()
        .ok()?;
    let capi = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("capi");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&capi)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so.")))
        .collect();
    found.sort();
    let library = found.pop();
    assert!(library.is_some(), "the onnxruntime package has no libonnxruntime.so.* in {}", capi.display());
    library
}

/// Validates STAC documents offline against the JSON schemas PySTAC ships (`scripts/validate-stac.py`): panics
/// with the errors when one is invalid; returns the script's report (`valid`, `not checked: URL` lines), or `None`
/// (skipping) without the venv.
pub fn validate_stac(paths: &[&std::path::Path]) -> Option<String> {
    let python = python_with(&["pystac", "jsonschema", "referencing"])?;
    let script = crate::workspace_root().join("scripts/validate-stac.py");
    let out = Command::new(python).arg(script).args(paths).output().expect("run scripts/validate-stac.py");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "STAC schema validation failed:\n{report}");
    Some(report)
}
