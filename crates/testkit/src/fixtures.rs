//! Locating the real fixtures.

use std::path::PathBuf;

/// The fixtures root, or `None` (after a skip message) when it is not present.
pub fn fixtures() -> Option<PathBuf> {
    let root = std::env::var_os("EOFORGE_FIXTURES")
        .map_or_else(|| crate::workspace_root().join("../shared/fixtures"), PathBuf::from);
    if root.join("README.md").is_file() {
        Some(root.canonicalize().unwrap_or(root))
    } else {
        crate::skip_or_fail("EOFORGE_REQUIRE_FIXTURES", &format!("fixtures not found at {}", root.display()));
        None
    }
}

/// A file or folder inside the fixtures root, e.g. `fixture("landsat/RGB.byte.tif")`.
pub fn fixture(relative: &str) -> Option<PathBuf> {
    let path = fixtures()?.join(relative);
    assert!(path.exists(), "fixture {} is missing", path.display());
    Some(path)
}
