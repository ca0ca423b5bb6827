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
