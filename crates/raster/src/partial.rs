//! Outputs written under a temporary name and renamed into place only when complete.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written as `<dest>.partial`; [`PartialFile::publish`] renames it to `dest`, and dropping it
/// unpublished deletes it, so readers never see half a file.
#[derive(Debug)]
pub(crate) struct PartialFile {
    dest: PathBuf,
    partial: PathBuf,
    published: bool,
}

impl PartialFile {
    /// Prepares `dest`'s folder and the temporary path beside it (removing a stale one from a killed run).
    pub(crate) fn new(dest: &Path) -> Result<Self> {
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                operation: "create directory",
                path: dir.display().to_string(),
                source,
            })?;
        }
        let mut name = dest.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
        name.push(".partial");
        let partial = dest.with_file_name(name);
        let _ = std::fs::remove_file(&partial);
        Ok(Self { dest: dest.to_owned(), partial, published: false })
    }

    /// Where to write.
    pub(crate) fn path(&self) -> &Path {
        &self.partial
    }

    /// The final destination.
    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the finished file into place (atomic on one filesystem).
    pub(crate) fn publish(mut self) -> Result<PathBuf> {
        std::fs::rename(&self.partial, &self.dest).map_err(|source| Error::Io {
            operation: "publish",
            path: self.dest.display().to_string(),
            source,
        })?;
        self.published = true;
        Ok(self.dest.clone())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
