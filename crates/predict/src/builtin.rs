//! The built-in reference models: `identity` (output = input) and `upsample` (nearest neighbour by `scale`), for
//! checking a deployment end to end and measuring throughput. They keep the input's bands: names, nodata,
//! metadata, type and palette carry over to the product.

use eoforge_profile::Stages;
use eoforge_raster::{DataType, Raster};

use crate::error::{Error, Result};
use crate::options::ModelSource;
use crate::plan::{Made, ProductFacts, Scene, SourceGrid};

pub(crate) fn predict(scene: &Scene<'_>, source: Raster, stages: &mut Stages) -> Result<Made> {
    let (o, info, source_url) = (scene.options(), &scene.info, scene.source_url);
    let picked = scene.picked();
    let in_bands = picked.len();
    // A band out of range carries nothing here; the engine refuses it, naming it.
    let band = |b: &usize| b.checked_sub(1).and_then(|i| info.bands.get(i));
    let names: Option<Vec<String>> = picked.iter().map(|b| Some(band(b)?.description.clone())).collect();
    let out_band_descriptions = names.filter(|n| n.iter().any(|d| !d.is_empty())).unwrap_or_default();
    let in_dtype = source.dtype(picked.first().copied().unwrap_or(1))?;
    for b in &picked {
        if band(b).is_some() && source.dtype(*b)? != in_dtype {
            return Err(scene.error(format!(
                "input band {b} is {}, band {} is {in_dtype}; pick bands of one type with --input-bands",
                source.dtype(*b)?,
                picked[0]
            )));
        }
    }
    if !in_dtype.fits_in(DataType::Float32) {
        return Err(Error::Product(format!(
            "{source_url} is {in_dtype}: models take 32-bit floats, which cannot hold every {in_dtype} value; convert the scene \
             first (e.g. `cog` keeps it exactly, gdal_translate -ot Float32 rounds it)"
        )));
    }
    let out_dtype = o.out_dtype.unwrap_or(in_dtype);
    // Floats into integers would round every value: refused. A narrower integer type is allowed, and the engine
    // stops at the first value it cannot hold (naming the pixel) instead of saturating it.
    if in_dtype.is_float() && !out_dtype.is_float() {
        return Err(Error::Product(format!(
            "--out-dtype {}: the {} model keeps the input's {in_dtype} values, which {out_dtype} would round; use \
             --out-dtype {} (the default) or float64",
            out_dtype.name().to_ascii_lowercase(),
            o.model.name(),
            in_dtype.name().to_ascii_lowercase()
        )));
    }
    let out_nodata = o.out_nodata.or_else(|| picked.first().and_then(|b| band(b)?.nodata));
    if let Some(nodata) = out_nodata
        && !out_dtype.holds(nodata)
    {
        let origin = if o.out_nodata.is_some() { "--out-nodata" } else { "the input's nodata" };
        return Err(Error::Product(format!(
            "{origin} {nodata} is not a value of {out_dtype}; choose --out-nodata within the type"
        )));
    }
    let metadata = source.metadata()?;
    let out_metadata = eoforge_raster::RasterMetadata {
        bands: if metadata.bands.len() == info.band_count {
            picked.iter().filter_map(|b| b.checked_sub(1).and_then(|i| metadata.bands.get(i)).cloned()).collect()
        } else {
            Vec::new()
        },
        ..metadata
    }
    .for_bands(in_bands);
    let out_color_map = if in_bands == 1 && out_dtype == DataType::UInt8 {
        source.color_table(picked[0]).ok().flatten().map(|mut c| {
            c.truncate(256);
            c
        })
    } else {
        None
    };
    let grid = SourceGrid::of(&source);
    drop(source);
    let scale = if o.model == ModelSource::Upsample { o.scale.max(1) } else { 1 };
    let mut model = eoforge_engine::FnModel::new(in_bands, scale, move |x: ndarray::Array4<f32>| {
        if scale == 1 {
            return Ok(x);
        }
        Ok(upsample_nearest(&x, scale))
    });
    let mut engine_options = eoforge_engine::EngineOptions {
        bands: o.input_bands.clone(),
        out_dtype,
        out_nodata,
        out_band_descriptions,
        out_metadata,
        out_color_map,
        nodata_mask: eoforge_engine::NodataMask::PerBand,
        derivatives: o.derivatives.clone(),
        ..scene.engine_options()
    };
    engine_options.cog.overview_resampling = o.resampling.for_data(out_dtype, in_bands);
    let facts = ProductFacts {
        scale,
        class_values: None,
        clipped: false,
        record: serde_json::json!({ "builtin": o.model.name(), "scale": scale }),
    };
    scene.make(&mut model, &engine_options, grid, facts, stages)
}

/// Nearest-neighbour upsampling of a batch `(n, bands, h, w)` by `scale`: each input row is widened once and
/// copied to its `scale` output rows.
fn upsample_nearest(x: &ndarray::Array4<f32>, scale: usize) -> ndarray::Array4<f32> {
    let (count, bands, rows, cols) = x.dim();
    let mut out = ndarray::Array4::<f32>::zeros((count, bands, rows * scale, cols * scale));
    for (src, mut dst) in x.outer_iter().zip(out.outer_iter_mut()) {
        for (src, mut dst) in src.outer_iter().zip(dst.outer_iter_mut()) {
            for (r, src_row) in src.outer_iter().enumerate() {
                let wide: Vec<f32> = src_row.iter().flat_map(|&v| std::iter::repeat_n(v, scale)).collect();
                for k in 0..scale {
                    dst.row_mut(r * scale + k).assign(&ndarray::ArrayView1::from(&wide[..]));
                }
            }
        }
    }
    out
}
