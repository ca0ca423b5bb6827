//! Scene lists: one `SOURCE DEST` pair per line, `#` comments, from a path or URL.

use eoforge_storage::{Store, StoreOptions};

use crate::error::{Error, Result};

/// One scene of a list: where to read it and where its product goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scene {
    /// 1-based line in the list.
    pub line: usize,
    /// The input raster (path or URL).
    pub source: String,
    /// The product's destination (path or URL).
    pub dest: String,
}

/// Reads the scene list at `list` (path or URL). A line that is not `SOURCE DEST` is an error naming `list:line`;
/// so are a list without scenes and two scenes with one destination.
pub async fn read_scene_list(list: &str, options: &StoreOptions) -> Result<Vec<Scene>> {
    let (store, key) = Store::open_object(list, options)?;
    let bytes = store.get(&key).await?;
    let err = |line: usize, reason: String| Error::SceneList { list: list.to_owned(), line, reason };
    let text = std::str::from_utf8(&bytes).map_err(|_| err(0, "not UTF-8 text".into()))?;
    let mut scenes: Vec<Scene> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [source, dest] = fields.as_slice() else {
            return Err(err(n + 1, format!("expected `SOURCE DEST`, found {} field(s)", fields.len())));
        };
        if let Some(other) = scenes.iter().find(|s| s.dest == *dest) {
            return Err(err(n + 1, format!("destination `{dest}` is already the destination of line {}", other.line)));
        }
        scenes.push(Scene { line: n + 1, source: (*source).to_owned(), dest: (*dest).to_owned() });
    }
    if scenes.is_empty() {
        return Err(err(0, "the list holds no scenes".into()));
    }
    Ok(scenes)
}
