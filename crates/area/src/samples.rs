//! The sampling and merge stages: blocks drawn from each tile's core where the reference has a label and every
//! feature a value ([`eoforge_sampling::sample_blocks`], seeded from (seed, tile name)), their feature values
//! read at the block's centre, and all tiles' samples merged into one Parquet training table with a
//! train/validation/test split by tile or by sample.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use eoforge_raster::Crs;
use eoforge_sampling::{BlockSpec, Split, SplitRatios, sample_blocks};
use ndarray::Array3;

use crate::error::{Error, Result};
use crate::grid::{GridSpec, Tile};
use crate::store::{TileStore, io, tile_grid};

/// How samples are split between training, validation and test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    /// Every sample of a tile in the same split (no spatial leakage between splits).
    Tile,
    /// Each sample on its own.
    Sample,
}

/// What to sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    /// The blocks per tile.
    pub blocks: BlockSpec,
    /// The seed (with each tile's name) of every draw.
    pub seed: u64,
    /// The features whose values make a sample (every band of each).
    pub features: Vec<String>,
    /// The split ratios.
    pub ratios: SplitRatios,
    /// Split by tile or by sample.
    pub split_by: SplitBy,
}

/// One sample: where it is, its label, its split and its feature values.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The tile.
    pub tile: String,
    /// Top-left pixel of the block in the tile's buffered grid.
    pub row: u32,
    /// Top-left pixel column.
    pub col: u32,
    /// Longitude of the block's centre.
    pub lon: f64,
    /// Latitude of the block's centre.
    pub lat: f64,
    /// The reference label at the block's centre.
    pub label: u32,
    /// Its split.
    pub split: Split,
    /// Feature values at the block's centre, one per feature band in column order.
    pub values: Vec<f32>,
}

/// The value columns of `features` in `store` for `tile`: `<feature>` for one band, `<feature>_<band>` for more.
fn columns(features: &[(String, Array3<f32>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, data) in features {
        let bands = data.dim().0;
        if bands == 1 {
            out.push(name.clone());
        } else {
            out.extend((1..=bands).map(|b| format!("{name}_{b}")));
        }
    }
    out
}

/// Samples one tile: returns the value columns and the samples (sorted by position).
pub fn sample_tile(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    options: &SampleOptions,
) -> Result<(Vec<String>, Vec<Sample>)> {
    let reference: Array3<u16> = store.read(&tile.name, "reference")?;
    let nodata = eoforge_raster::Raster::open(&store.local_feature(&tile.name, "reference")?.display().to_string())?
        .nodata(1)?
        .map(|v| v as u16);
    let features = options
        .features
        .iter()
        .map(|f| Ok((f.clone(), store.read::<f32>(&tile.name, f)?)))
        .collect::<Result<Vec<_>>>()?;
    let names = columns(&features);
    let (lo, hi) = (spec.buffer_px as usize, (spec.buffer_px + spec.tile_px) as usize);
    let label = |r: usize, c: usize| -> Option<u32> {
        if r < lo || r >= hi || c < lo || c >= hi {
            return None;
        }
        let value = reference[[0, r, c]];
        if Some(value) == nodata || features.iter().any(|(_, d)| (0..d.dim().0).any(|b| !d[[b, r, c]].is_finite())) {
            return None;
        }
        Some(u32::from(value))
    };
    let side = (spec.tile_px + 2 * spec.buffer_px) as usize;
    let blocks = sample_blocks(options.seed, &tile.name, side, side, &options.blocks, label)
        .map_err(|e| Error::Grid(format!("tile {}: {e}", tile.name)))?;
    let grid = tile_grid(tile, spec);
    let half = options.blocks.block / 2;
    let mut centres: Vec<(f64, f64)> = blocks
        .iter()
        .map(|b| grid.transform.pixel_to_map((b.col + half) as f64 + 0.5, (b.row + half) as f64 + 0.5))
        .collect();
    eoforge_raster::transform_points(&mut centres, &Crs::from_epsg(tile.epsg())?, &Crs::wgs84()?)?;
    let samples = blocks
        .iter()
        .zip(centres)
        .map(|(b, (lon, lat))| {
            let (r, c) = (b.row + half, b.col + half);
            let split_id = match options.split_by {
                SplitBy::Tile => tile.name.clone(),
                SplitBy::Sample => format!("{}/{}/{}", tile.name, b.row, b.col),
            };
            Sample {
                tile: tile.name.clone(),
                row: b.row as u32,
                col: b.col as u32,
                lon,
                lat,
                label: b.class,
                split: options.ratios.split_of(&split_id, options.seed),
                values: features.iter().flat_map(|(_, d)| (0..d.dim().0).map(move |band| d[[band, r, c]])).collect(),
            }
        })
        .collect();
    Ok((names, samples))
}

/// Writes samples as a Parquet table (atomically): `tile`, `row`, `col`, `lon`, `lat`, `label`, `split`, then one
/// Float32 column per value column.
pub fn write_table(path: &Path, columns: &[String], samples: &[Sample]) -> Result<()> {
    let mut fields = vec![
        Field::new("tile", DataType::Utf8, false),
        Field::new("row", DataType::UInt32, false),
        Field::new("col", DataType::UInt32, false),
        Field::new("lon", DataType::Float64, false),
        Field::new("lat", DataType::Float64, false),
        Field::new("label", DataType::UInt32, false),
        Field::new("split", DataType::Utf8, false),
    ];
    fields.extend(columns.iter().map(|c| Field::new(c, DataType::Float32, true)));
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(samples.iter().map(|s| s.tile.as_str()))),
        Arc::new(UInt32Array::from_iter_values(samples.iter().map(|s| s.row))),
        Arc::new(UInt32Array::from_iter_values(samples.iter().map(|s| s.col))),
        Arc::new(Float64Array::from_iter_values(samples.iter().map(|s| s.lon))),
        Arc::new(Float64Array::from_iter_values(samples.iter().map(|s| s.lat))),
        Arc::new(UInt32Array::from_iter_values(samples.iter().map(|s| s.label))),
        Arc::new(StringArray::from_iter_values(samples.iter().map(|s| s.split.name()))),
    ];
    for (i, name) in columns.iter().enumerate() {
        if samples.iter().any(|s| s.values.len() != columns.len()) {
            return Err(Error::Grid(format!(
                "samples disagree on their columns (expected {} with `{name}`)",
                columns.len()
            )));
        }
        arrays.push(Arc::new(Float32Array::from_iter_values(samples.iter().map(|s| s.values[i]))));
    }
    let table_err = |e: String| Error::Grid(format!("training table `{}`: {e}", path.display()));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| table_err(e.to_string()))?;
    let mut bytes = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).map_err(|e| table_err(e.to_string()))?;
    writer.write(&batch).map_err(|e| table_err(e.to_string()))?;
    writer.close().map_err(|e| table_err(e.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    crate::store::write_file(path, &bytes)
}

/// A column as its arrow type, or an error naming the table and the column.
fn typed<'a, T: 'static>(a: &'a ArrayRef, name: &str, path: &Path) -> Result<&'a T> {
    a.as_any().downcast_ref::<T>().ok_or_else(|| Error::Input {
        path: path.display().to_string(),
        reason: format!("column `{name}` has type {}", a.data_type()),
    })
}

/// Reads a table [`write_table`] wrote (one tile's or a merged one): its value columns and samples. A file that
/// is not such a table is an error naming it and the column.
pub fn read_table(path: &Path) -> Result<(Vec<String>, Vec<Sample>)> {
    use arrow::array::Array;
    let table_err = |e: String| Error::Input { path: path.display().to_string(), reason: e };
    let file = std::fs::File::open(path).map_err(io("open", path))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| table_err(format!("not a Parquet table: {e}")))?
        .build()
        .map_err(|e| table_err(e.to_string()))?;
    let fixed = ["tile", "row", "col", "lon", "lat", "label", "split"];
    let mut columns: Option<Vec<String>> = None;
    let mut samples = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| table_err(e.to_string()))?;
        let schema = batch.schema();
        let names: Vec<String> = schema.fields().iter().skip(fixed.len()).map(|f| f.name().clone()).collect();
        columns.get_or_insert_with(|| names.clone());
        let column = |name: &str| batch.column_by_name(name).ok_or_else(|| table_err(format!("no column `{name}`")));
        let (tile, row, col) = (column("tile")?, column("row")?, column("col")?);
        let (lon, lat, label, split) = (column("lon")?, column("lat")?, column("label")?, column("split")?);
        let tile = typed::<StringArray>(tile, "tile", path)?;
        let (row, col) = (typed::<UInt32Array>(row, "row", path)?, typed::<UInt32Array>(col, "col", path)?);
        let (lon, lat) = (typed::<Float64Array>(lon, "lon", path)?, typed::<Float64Array>(lat, "lat", path)?);
        let (label, split) = (typed::<UInt32Array>(label, "label", path)?, typed::<StringArray>(split, "split", path)?);
        let values = names.iter().map(|n| typed::<Float32Array>(column(n)?, n, path)).collect::<Result<Vec<_>>>()?;
        for i in 0..batch.num_rows() {
            let split: Split =
                split.value(i).parse().map_err(|e: eoforge_sampling::SplitError| table_err(format!("row {i}: {e}")))?;
            samples.push(Sample {
                tile: tile.value(i).to_owned(),
                row: row.value(i),
                col: col.value(i),
                lon: lon.value(i),
                lat: lat.value(i),
                label: label.value(i),
                split,
                values: values.iter().map(|v| if v.is_null(i) { f32::NAN } else { v.value(i) }).collect(),
            });
        }
    }
    Ok((columns.unwrap_or_default(), samples))
}
