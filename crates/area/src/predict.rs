//! The predict stage: a trained [`PixelModel`] applied to every pixel of a tile's buffered grid, written to the
//! store as the `prediction` feature — a class map of the model's label values for classification (UInt8 with 0
//! as nodata when no class is 0, else the type and nodata [`eoforge_shards::ClassTable::map_type`] picks: 255
//! beside a real class 0, UInt16 for values above 255), Float32 (NaN = nodata) for regression. Pixels where a
//! feature has no value get nodata.

use ndarray::{Array3, Axis};

use crate::error::{Error, Result};
use crate::grid::{GridSpec, Tile};
use crate::inputs::TileOutcome;
use crate::pixel_model::{PixelModel, PixelTask};
use crate::store::{FeatureInfo, TileStore};

/// The feature name predictions are stored under.
pub const PREDICTION: &str = "prediction";

/// Predicts `tile` with `model`, reading the model's feature columns from `features` (the stored features, in the
/// order the model was trained on), unless `skip_existing` and the tile has a prediction.
pub fn predict_tile(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    model: &PixelModel,
    features: &[String],
    skip_existing: bool,
) -> Result<TileOutcome> {
    if skip_existing && store.has(&tile.name, PREDICTION) {
        return Ok(TileOutcome::Skipped);
    }
    if model.task == PixelTask::Classification && model.classes.iter().any(|c| *c > u32::from(u16::MAX)) {
        return Err(Error::Grid(format!(
            "pixel model classes {:?}: a class map holds values up to 65535",
            model.classes
        )));
    }
    let stacks = features.iter().map(|f| store.read::<f32>(&tile.name, f)).collect::<Result<Vec<_>>>()?;
    let bands: usize = stacks.iter().map(|s| s.dim().0).sum();
    if bands != model.columns.len() {
        return Err(Error::Grid(format!(
            "tile {}: features {features:?} give {bands} values per pixel, the model reads {} ({:?})",
            tile.name,
            model.columns.len(),
            model.columns
        )));
    }
    let (_, rows, cols) = stacks.first().map(Array3::dim).unwrap_or_default();
    let mut valid = Vec::new();
    let mut values = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let pixel: Vec<f32> =
                stacks.iter().flat_map(|s| s.index_axis(Axis(1), r).index_axis(Axis(1), c).to_vec()).collect();
            if pixel.iter().all(|v| v.is_finite()) {
                valid.push(r * cols + c);
                values.push(pixel);
            }
        }
    }
    let predicted = model.predict(&values)?;
    let names = [PREDICTION.to_owned()];
    match model.task {
        PixelTask::Classification => {
            let (uint16, nodata) = class_map_type(&model.classes);
            let info = FeatureInfo {
                name: PREDICTION,
                nodata: Some(f64::from(nodata)),
                band_names: &names,
                source: "pixel model",
            };
            if uint16 {
                let mut map = Array3::<u16>::from_elem((1, rows, cols), nodata);
                for (&i, p) in valid.iter().zip(&predicted) {
                    map[[0, i / cols, i % cols]] = *p as u16;
                }
                store.write(tile, spec, &info, &map)?;
            } else {
                let mut map = Array3::<u8>::from_elem((1, rows, cols), nodata as u8);
                for (&i, p) in valid.iter().zip(&predicted) {
                    map[[0, i / cols, i % cols]] = *p as u8;
                }
                store.write(tile, spec, &info, &map)?;
            }
        }
        PixelTask::Regression => {
            let mut map = Array3::<f32>::from_elem((1, rows, cols), f32::NAN);
            for (&i, p) in valid.iter().zip(&predicted) {
                map[[0, i / cols, i % cols]] = *p as f32;
            }
            let info =
                FeatureInfo { name: PREDICTION, nodata: Some(f64::NAN), band_names: &names, source: "pixel model" };
            store.write(tile, spec, &info, &map)?;
        }
    }
    Ok(if valid.is_empty() { TileOutcome::Empty } else { TileOutcome::Done })
}

/// A pixel model's class map: (UInt16?, nodata). UInt8 with 0 as nodata while no class is 0 (as maps were
/// before class tables), else what the class table picks.
fn class_map_type(classes: &[u32]) -> (bool, u16) {
    let values = classes.iter().filter_map(|c| u16::try_from(*c).ok());
    let table = eoforge_shards::ClassTable::of_values(values, |_| None, |_| None);
    if table.index_of(0).is_none() && classes.iter().all(|c| *c <= 255) {
        (false, 0)
    } else {
        let t = table.map_type();
        (t.uint16, t.nodata)
    }
}
