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
