//! [`PatchModel`]: a segmentation network trained by `eoforge-train fit` (a U-Net or segmenter run directory)
//! applied to every tile through the tiled engine: the tile's features named after the run's channels are
//! stacked, run in overlapping windows with seams blended, and the class map of the run's label values (UInt8,
//! 255 = nodata) is stored as the tile's `prediction`.

use std::path::Path;
use std::sync::Mutex;

use burn::backend::Flex;
use eoforge_engine::{BurnModel, EngineOptions};
use eoforge_predict::ClassProbabilities;
use eoforge_raster::{Compression, Crs, DataType, Raster, RasterSpec, TiffOptions, TiledWriter, Window};
use eoforge_train::TrainedRun;
use ndarray::Axis;

use crate::error::{Error, Result};
use crate::grid::{GridSpec, Tile};
use crate::inputs::TileOutcome;
use crate::predict::PREDICTION;
use crate::store::{FeatureInfo, TileStore, io, tile_grid};

/// The nodata value of a patch model's class map (no class of a UInt8 map may use it).
pub const PATCH_NODATA: u8 = 255;

/// A trained segmentation run ready to map tiles.
pub struct PatchModel {
    run: TrainedRun,
    model: Mutex<BurnModel<Flex, ClassProbabilities<Flex>>>,
    window: usize,
    halo: usize,
}

impl std::fmt::Debug for PatchModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatchModel")
            .field("run", &self.run.dir)
            .field("channels", &self.run.data.channels)
            .field("window", &self.window)
            .field("halo", &self.halo)
            .finish_non_exhaustive()
    }
}

impl PatchModel {
    /// Opens the run at `dir` for tiles of `spec`: windows of `window` pixels (default: the largest the network
    /// takes within a buffered tile) with `halo` pixels blended on each side. A run that is not a segmentation
    /// network, or a window the network or the tile cannot take, is an error naming the run.
    pub fn open(dir: &Path, spec: &GridSpec, window: Option<usize>, halo: usize) -> Result<Self> {
        let err = |reason: String| Error::Input { path: dir.display().to_string(), reason };
        let run = TrainedRun::open(dir).map_err(|e| err(e.to_string()))?;
        let classes = run.config.model.classes();
        let Some(multiple) = run.config.model.size_multiple().filter(|_| run.config.model.is_segmentation()) else {
            return Err(err("the run did not train a segmentation network (U-Net or segmenter)".into()));
        };
        if let Some(value) = run.data.classes.values().into_iter().find(|v| *v >= u16::from(PATCH_NODATA)) {
            return Err(err(format!(
                "class value {value} does not fit a tile's UInt8 class map beside nodata {PATCH_NODATA}"
            )));
        }
        if run.data.classes.is_empty() && classes > usize::from(PATCH_NODATA) {
            return Err(err(format!("{classes} classes do not fit a UInt8 class map")));
        }
        let side = (spec.tile_px + 2 * spec.buffer_px) as usize;
        let window = window.unwrap_or(side - side % multiple);
        if window == 0 || !window.is_multiple_of(multiple) || window > side || window <= 2 * halo {
            return Err(err(format!(
                "window {window}: the network needs a multiple of {multiple} pixels, no larger than the {side} px \
                 buffered tile and more than twice the halo {halo}"
            )));
        }
        let model = Mutex::new(
            eoforge_predict::class_model::<Flex>(&run, burn::backend::flex::FlexDevice)
                .map_err(|e| err(e.to_string()))?,
        );
        Ok(Self { run, model, window, halo })
    }

    /// The features the network reads, in order: the run's channel names.
    pub fn channels(&self) -> &[String] {
        &self.run.data.channels
    }

    /// Maps `tile` into its `prediction` feature, unless `skip_existing` and it has one.
    pub fn predict_tile(
        &self,
        store: &TileStore,
        tile: &Tile,
        spec: &GridSpec,
        skip_existing: bool,
    ) -> Result<TileOutcome> {
        if skip_existing && store.has(&tile.name, PREDICTION) {
            return Ok(TileOutcome::Skipped);
        }
        let stack = stack_channels(store, &tile.name, self.channels())?;
        let dir = store.tile_dir(&tile.name);
        let work =
            tempfile::Builder::new().prefix(".predict-").tempdir_in(&dir).map_err(io("create a folder in", &dir))?;
        let (input, output) = (work.path().join("input.tif"), work.path().join("classes.tif"));
        let grid = tile_grid(tile, spec);
        let raster = RasterSpec {
            width: grid.width,
            height: grid.height,
            bands: stack.dim().0,
            geo_transform: Some(grid.transform),
            crs: Some(Crs::from_epsg(tile.epsg())?),
            nodata: Some(f64::NAN),
            band_descriptions: self.channels().to_vec(),
            ..RasterSpec::default()
        };
        let block_size = grid.width.max(grid.height).div_ceil(16) * 16;
        let options = TiffOptions { block_size, compression: Compression::Lzw, ..TiffOptions::default() };
        let mut writer = TiledWriter::<f32>::create(&input, &raster, &options)?;
        writer.write_window(Window::full(grid.width, grid.height), stack.view())?;
        writer.finish(None)?;
        let base = EngineOptions {
            window: self.window,
            halo: self.halo,
            batch: 8,
            out_band_descriptions: vec![PREDICTION.into()],
            cog: eoforge_raster::CogWriterOptions { block_size, ..eoforge_raster::CogWriterOptions::default() },
            ..EngineOptions::default()
        };
        // The same class map as `eoforge-infer predict --model RUN` writes, on the tile's grid.
        let table = self.run.class_table();
        let engine =
            eoforge_predict::class_map_options(&self.run, &table, DataType::UInt8, f64::from(PATCH_NODATA), base);
        {
            let mut model = self.model.lock().map_err(|_| Error::Grid("the patch model panicked".into()))?;
            eoforge_engine::run(&input.display().to_string(), &output, &mut *model, &engine)
                .map_err(|e| Error::Input { path: self.run.dir.display().to_string(), reason: e.to_string() })?;
        }
        let classes = Raster::open(&output.display().to_string())?;
        let map = classes.read_window::<u8>(Window::full(grid.width, grid.height), None)?;
        let names = [PREDICTION.to_owned()];
        let source = self.run.dir.display().to_string();
        let info = FeatureInfo {
            name: PREDICTION,
            nodata: Some(f64::from(PATCH_NODATA)),
            band_names: &names,
            source: &source,
        };
        store.write(tile, spec, &info, &map)?;
        Ok(if map.iter().all(|v| *v == PATCH_NODATA) { TileOutcome::Empty } else { TileOutcome::Done })
    }
}

/// The one-band features `channels` of `tile` stacked in order (`channels × rows × cols`): a network's input.
pub(crate) fn stack_channels(store: &TileStore, tile: &str, channels: &[String]) -> Result<ndarray::Array3<f32>> {
    let mut planes = Vec::with_capacity(channels.len());
    for channel in channels {
        let data = store.read::<f32>(tile, channel)?;
        if data.dim().0 != 1 {
            return Err(Error::Input {
                path: store.location_of(&store.feature_path(tile, channel)),
                reason: format!("{} bands; the network's channel `{channel}` is one band", data.dim().0),
            });
        }
        planes.push(data);
    }
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Grid(e.to_string()))
}
