//! [`TileStore`]: the per-tile layout of an area pipeline's store — a folder per tile holding one GeoTIFF per
//! feature (`<root>/tiles/<tile>/<feature>.tif`) and `meta.json` (the tile, its zone's CRS, its buffered bounds
//! and grid, and each feature's source). Files are written through a `.partial` name and renamed, so a feature
//! that exists is complete; that is what skip-existing relies on. A store on object storage (`s3://`) is worked on
//! through a local folder ([`Mirror`]): files are downloaded when read and uploaded as soon as they are written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eoforge_raster::{Compression, Crs, GeoTransform, Grid, Raster, RasterSpec, TiffOptions, TiledWriter, Window};
use ndarray::Array3;

use crate::error::{Error, Result};
use crate::grid::{GridSpec, Tile};
use crate::mirror::Mirror;

/// What a stored feature is: its name, nodata value, band names and where it came from (recorded in `meta.json`).
#[derive(Clone, Copy, Debug)]
pub struct FeatureInfo<'a> {
    /// The feature's name (its file is `<name>.tif`).
    pub name: &'a str,
    /// Its nodata value.
    pub nodata: Option<f64>,
    /// One name per band.
    pub band_names: &'a [String],
    /// The raster or computation it came from.
    pub source: &'a str,
}

/// The per-tile store under a local root, or on object storage through a local working folder.
#[derive(Clone, Debug)]
pub struct TileStore {
    /// The root folder (for a store on object storage, the local folder it is worked on through).
    pub root: PathBuf,
    mirror: Option<Arc<Mirror>>,
}

impl TileStore {
    /// A store under the local folder `root` (created when written to).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), mirror: None }
    }

    /// The store at `location`: a local folder, or an `s3://bucket/prefix` (listed now; worked on through a
    /// temporary local folder removed when the last clone of the store is dropped).
    pub fn open(location: &str, options: &eoforge_storage::StoreOptions) -> Result<Self> {
        if !crate::mirror::is_remote(location) {
            return Ok(Self::new(location));
        }
        let mirror = Mirror::open(location, options)?;
        Ok(Self { root: mirror.local().to_owned(), mirror: Some(Arc::new(mirror)) })
    }

    /// Where the store is, for reports and messages: its folder, or its URL.
    pub fn location(&self) -> String {
        match &self.mirror {
            Some(mirror) => mirror.url(),
            None => self.root.display().to_string(),
        }
    }

    /// Where a file under [`TileStore::root`] is kept: the path itself, or its object's URL.
    pub fn location_of(&self, path: &Path) -> String {
        match &self.mirror {
            Some(mirror) => mirror.url_of(path),
            None => path.display().to_string(),
        }
    }

    /// Whether the store holds the file at `path` (under [`TileStore::root`]; complete, as files appear whole).
    pub fn exists(&self, path: &Path) -> bool {
        match &self.mirror {
            Some(mirror) => mirror.has(path),
            None => path.is_file(),
        }
    }

    /// Makes the file at `path` readable locally (downloading it from object storage); whether the store has it.
    pub fn fetch(&self, path: &Path) -> Result<bool> {
        match &self.mirror {
            Some(mirror) => mirror.fetch(path),
            None => Ok(path.is_file()),
        }
    }

    /// Stores the file just written whole at `path` (uploads it to object storage; nothing for a local folder).
    pub fn publish(&self, path: &Path) -> Result<()> {
        match &self.mirror {
            Some(mirror) => mirror.upload(path),
            None => Ok(()),
        }
    }

    /// Makes every file of the store under the folder `dir` readable locally (nothing to do for a local folder).
    pub fn fetch_dir(&self, dir: &Path) -> Result<()> {
        match &self.mirror {
            Some(mirror) => mirror.fetch_dir(dir),
            None => Ok(()),
        }
    }

    /// Stores every file under the folder `dir`, just written (uploads them; nothing for a local folder).
    pub fn publish_dir(&self, dir: &Path) -> Result<()> {
        match &self.mirror {
            Some(mirror) => mirror.upload_dir(dir),
            None => Ok(()),
        }
    }

    /// Removes the folder `dir` and everything under it, from object storage too.
    pub fn remove_dir(&self, dir: &Path) -> Result<()> {
        if let Some(mirror) = &self.mirror {
            mirror.delete_dir(dir)?;
        }
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", dir)(e)),
            _ => Ok(()),
        }
    }

    /// A feature's GeoTIFF, readable locally (fetched first from object storage).
    pub fn local_feature(&self, tile: &str, feature: &str) -> Result<PathBuf> {
        let path = self.feature_path(tile, feature);
        if self.fetch(&path)? {
            Ok(path)
        } else {
            Err(Error::Input {
                path: self.location_of(&path),
                reason: "not in the store: run the stage that writes it first".into(),
            })
        }
    }

    /// The tile's folder.
    pub fn tile_dir(&self, tile: &str) -> PathBuf {
        self.root.join("tiles").join(tile)
    }

    /// A feature's GeoTIFF.
    pub fn feature_path(&self, tile: &str, feature: &str) -> PathBuf {
        self.tile_dir(tile).join(format!("{feature}.tif"))
    }

    /// Whether the tile has the feature (complete: files appear only by rename).
    pub fn has(&self, tile: &str, feature: &str) -> bool {
        self.exists(&self.feature_path(tile, feature))
    }

    /// Writes a feature of a tile (`bands × rows × cols` on the tile's buffered grid) and records it in the
    /// tile's `meta.json`.
    pub fn write<T: eoforge_raster::Pixel>(
        &self,
        tile: &Tile,
        spec: &GridSpec,
        feature: &FeatureInfo<'_>,
        data: &Array3<T>,
    ) -> Result<PathBuf> {
        let FeatureInfo { name: feature, nodata, band_names, source } = *feature;
        let grid = tile_grid(tile, spec);
        if data.dim() != (data.dim().0, grid.height, grid.width) {
            return Err(Error::Grid(format!(
                "feature `{feature}` of tile {} is {:?}, not on the tile's {}x{} grid",
                tile.name,
                data.dim(),
                grid.width,
                grid.height
            )));
        }
        let dir = self.tile_dir(&tile.name);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let path = self.feature_path(&tile.name, feature);
        let partial = path.with_extension("tif.partial");
        let raster = RasterSpec {
            width: grid.width,
            height: grid.height,
            bands: data.dim().0,
            geo_transform: Some(grid.transform),
            crs: Some(Crs::from_epsg(tile.epsg())?),
            nodata,
            band_descriptions: band_names.to_vec(),
            ..RasterSpec::default()
        };
        // Tiles no larger than the tile (multiples of 16): a 20 px tile of 68 bands must not pad to 68 × 256².
        let block_size = grid.width.max(grid.height).div_ceil(16).clamp(1, 16) * 16;
        let options =
            TiffOptions { block_size, compression: Compression::Deflate { level: 6 }, ..TiffOptions::default() };
        let mut writer = TiledWriter::<T>::create(&partial, &raster, &options)?;
        writer.write_window(Window::full(grid.width, grid.height), data.view())?;
        writer.finish(None)?;
        std::fs::rename(&partial, &path).map_err(io("rename into place", &path))?;
        self.publish(&path)?;
        self.record(tile, spec, feature, source)?;
        Ok(path)
    }

    /// Reads a feature of a tile.
    pub fn read<T: eoforge_raster::Pixel>(&self, tile: &str, feature: &str) -> Result<Array3<T>> {
        let path = self.local_feature(tile, feature)?;
        let raster = Raster::open(&path.display().to_string())?;
        Ok(raster.read_window::<T>(Window::full(raster.width(), raster.height()), None)?)
    }

    /// Adds a feature to the tile's `meta.json` (written whole through a rename).
    fn record(&self, tile: &Tile, spec: &GridSpec, feature: &str, source: &str) -> Result<()> {
        let path = self.tile_dir(&tile.name).join("meta.json");
        self.fetch(&path)?;
        let mut meta: serde_json::Value = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::Grid(format!("`{}`: {e}", path.display())))?
            }
            Err(_) => serde_json::json!({ "tile": tile, "epsg": tile.epsg(), "grid": spec, "features": {} }),
        };
        meta["features"][feature] = serde_json::json!({ "source": source });
        let bytes = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Grid(e.to_string()))?;
        write_file(&path, &bytes)?;
        self.publish(&path)
    }
}

/// The tile's buffered pixel grid in its zone's CRS, north-up at the grid's resolution.
pub fn tile_grid(tile: &Tile, spec: &GridSpec) -> Grid {
    let side = (spec.tile_px + 2 * spec.buffer_px) as usize;
    Grid {
        width: side,
        height: side,
        transform: GeoTransform::north_up(tile.buffered[0], tile.buffered[3], spec.resolution, spec.resolution),
    }
}

/// Writes `bytes` to `path` through a uniquely named `.<name>.*.partial` file beside it and a rename: readers see
/// the whole file or none, and processes writing the same file at once (array tasks caching one grid) each
/// complete theirs, the last rename winning. A failed write leaves nothing behind.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    // Like any file this process creates (0666 less the umask), not a temporary file's owner-only 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut partial = builder.tempfile_in(dir).map_err(io("create a file beside", path))?;
    partial.write_all(bytes).map_err(io("write", path))?;
    partial.persist(path).map_err(|e| Error::Io {
        operation: "rename into place",
        path: path.display().to_string(),
        source: e.error,
    })?;
    Ok(())
}

/// Bytes as lowercase hexadecimal (digests in file names and records).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

pub(crate) fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |source| Error::Io { operation, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_of_one_file_at_once_all_complete_and_leave_no_partial_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("grid.geojson");
        std::thread::scope(|scope| {
            for writer in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..50 {
                        write_file(path, &[writer; 4096]).expect("every writer completes");
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).expect("read");
        assert!(bytes.len() == 4096 && bytes.iter().all(|b| *b == bytes[0]), "one writer's whole file");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["grid.geojson"]);
    }
}
