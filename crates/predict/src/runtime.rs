//! Finding and loading the ONNX Runtime library: nothing is linked at build time, so one eoforge build runs with
//! whichever runtime (CPU or CUDA) the machine has.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The environment variable `ort` itself reads for the library's path.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// How to get a runtime, for errors.
const INSTALL: &str = "install one with `pip install onnxruntime` (or `onnxruntime-gpu` for CUDA) and run from that \
                       Python environment, or give the library with --onnxruntime PATH or ORT_DYLIB_PATH";

/// The ONNX Runtime library to load: `explicit` (`--onnxruntime`), else `ORT_DYLIB_PATH`, else the `capi/` folder of
/// the `onnxruntime` Python package of the active virtual environment or of `python3`.
pub fn find_library(explicit: Option<&Path>) -> Result<PathBuf> {
    let check = |path: PathBuf, origin: &str| -> Result<PathBuf> {
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::Runtime(format!("{origin} `{}` is not a file; {INSTALL}", path.display())))
        }
    };
    if let Some(path) = explicit {
        return check(path.to_owned(), "--onnxruntime");
    }
    if let Some(path) = std::env::var_os(ORT_DYLIB_PATH).filter(|p| !p.is_empty()) {
        return check(PathBuf::from(path), ORT_DYLIB_PATH);
    }
    let mut pythons = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        pythons.push(PathBuf::from(venv).join("bin/python"));
    }
    pythons.push(PathBuf::from("python3"));
    for python in &pythons {
        if let Some(dir) = python_package_dir(python)
            && let Some(library) = library_in(&dir.join("capi"))
        {
            return Ok(library);
        }
    }
    Err(Error::Runtime(format!(
        "no ONNX Runtime library found (no --onnxruntime, {ORT_DYLIB_PATH}, or `onnxruntime` Python package); {INSTALL}"
    )))
}

/// The folder of the `onnxruntime` package `python` imports, if it does.
fn python_package_dir(python: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new(python)
        .args(["-c", "import os, onnxruntime; print(os.path.dirname(onnxruntime.__file__))"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dir.is_dir().then_some(dir)
}

/// `libonnxruntime.so.X.Y.Z` (or `.dylib`, `.dll`) in `dir`: the newest version when there are several.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (name.starts_with("libonnxruntime.so") || name.starts_with("libonnxruntime.") || name == "onnxruntime.dll")
                && !name.contains("providers")
        })
        .collect();
    found.sort();
    found.pop()
}

/// The process's ONNX Runtime environment (one per process): loaded from `library` on first use; a later call
/// naming another library is refused.
pub(crate) fn environment(library: &Path) -> Result<ort::environment::Environment> {
    static LOADED: OnceLock<(PathBuf, std::result::Result<ort::environment::Environment, String>)> = OnceLock::new();
    let (path, env) = LOADED.get_or_init(|| {
        let env = ort::init_from(library)
            .map_err(|e| format!("cannot load `{}`: {e}; {INSTALL}", library.display()))
            .and_then(|builder| builder.with_name("eoforge").build().map_err(|e| e.to_string()));
        (library.to_owned(), env)
    });
    if path != library {
        return Err(Error::Runtime(format!(
            "this process already loaded ONNX Runtime from `{}`; `{}` cannot be loaded beside it",
            path.display(),
            library.display()
        )));
    }
    env.clone().map_err(Error::Runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_library_that_is_missing_says_how_to_install_one() {
        let e = find_library(Some(Path::new("/nonexistent/libonnxruntime.so"))).expect_err("missing");
        let text = e.to_string();
        assert!(text.contains("--onnxruntime") && text.contains("pip install onnxruntime"), "{text}");
    }

    #[test]
    fn the_newest_library_of_a_folder_is_taken_and_provider_libraries_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["libonnxruntime.so.1.31.0", "libonnxruntime.so.1.32.0", "libonnxruntime_providers_shared.so"] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        assert_eq!(library_in(dir.path()), Some(dir.path().join("libonnxruntime.so.1.32.0")));
    }
}
