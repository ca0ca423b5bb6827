//! Reading one BigEarthNet patch: 12 Sentinel-2 bands at 10/20/60 m resampled onto the 10 m grid of B02 and
//! stacked as `(12, 120, 120)` u16 in [`S2_BANDS`] order, optional Sentinel-1 VV/VH as `(2, 120, 120)` f32,
//! and the 19-class multi-hot label vector.
//!
//! Resampling: 20 m and 60 m bands are upsampled with bilinear interpolation (reflectances are continuous; the
//! nearest neighbour would leave 2×2 and 6×6 blocks). The 10 m bands are read as they are.

use eoforge_catalog::labels::{BEN19, LabelClass, class19, multi_hot19};
use eoforge_catalog::{LABEL_RASTER, PatchRecord, S1_BANDS, S2_BANDS, Sensor};
use eoforge_raster::{Grid, Raster, Resampling, Window};
use eoforge_shards::{Sample, Tensor};
use eoforge_storage::StoreOptions;
use ndarray::{Array1, Array3, Axis, s};

/// Grid size of a BigEarthNet patch at 10 m.
pub const PATCH_SIZE: usize = 120;

/// A converted patch.
#[derive(Clone, Debug)]
pub struct PatchData {
    /// Sentinel-2 stack `(12, 120, 120)`.
    pub s2: Array3<u16>,
    /// Sentinel-1 stack `(2, 120, 120)` (VV, VH in dB), when requested.
    pub s1: Option<Array3<f32>>,
    /// 19-class multi-hot labels.
    pub labels: [u8; 19],
    /// Per-pixel class raster `(120, 120)` (nearest-neighbour onto the 10 m grid), when the catalog has one.
    pub mask: Option<ndarray::Array2<u16>>,
}

/// Reads a patch; the error string says what is wrong (it is reported with the patch id). With `with_mask`, the
/// patch's `label_raster` is read onto the 10 m grid with nearest-neighbour resampling (class values are kept).
pub fn read_patch(
    record: &PatchRecord,
    with_s1: bool,
    with_mask: bool,
    options: &StoreOptions,
) -> Result<PatchData, String> {
    let path = |sensor, band: &str| {
        record.path(sensor, band).ok_or_else(|| format!("the catalog has no path for band {band} (run gen-metadata)"))
    };
    let open = |url: &str| Raster::open_with(url, options).map_err(|e| e.to_string());
    let reference = open(path(Sensor::S2, "B02")?)?;
    if (reference.width(), reference.height()) != (PATCH_SIZE, PATCH_SIZE) {
        return Err(format!(
            "B02 is {}x{} pixels, expected {PATCH_SIZE}x{PATCH_SIZE} at 10 m",
            reference.width(),
            reference.height()
        ));
    }
    let transform = reference.geo_transform().ok_or("B02 is not georeferenced")?;
    let grid = Grid { width: PATCH_SIZE, height: PATCH_SIZE, transform };
    let mut s2 = Array3::<u16>::zeros((S2_BANDS.len(), PATCH_SIZE, PATCH_SIZE));
    for (i, band) in S2_BANDS.iter().enumerate() {
        let raster = if *band == "B02" { None } else { Some(open(path(Sensor::S2, band)?)?) };
        let raster = raster.as_ref().unwrap_or(&reference);
        let plane = if raster.width() == PATCH_SIZE && raster.height() == PATCH_SIZE {
            raster.read_window::<u16>(Window::full(PATCH_SIZE, PATCH_SIZE), Some(&[1]))
        } else {
            expect_size(raster, band)?;
            raster.read_onto_grid::<u16>(&grid, Some(&[1]), Resampling::Bilinear)
        }
        .map_err(|e| format!("band {band}: {e}"))?;
        s2.slice_mut(s![i, .., ..]).assign(&plane.index_axis(Axis(0), 0));
    }
    if s2.iter().all(|v| *v == 0) {
        return Err("all Sentinel-2 values are 0 (nodata)".into());
    }
    let s1 = if with_s1 {
        let mut stack = Array3::<f32>::zeros((S1_BANDS.len(), PATCH_SIZE, PATCH_SIZE));
        for (i, band) in S1_BANDS.iter().enumerate() {
            let raster = open(path(Sensor::S1, band)?)?;
            let plane = raster
                .read_onto_grid::<f32>(&grid, Some(&[1]), Resampling::Bilinear)
                .map_err(|e| format!("band {band}: {e}"))?;
            stack.slice_mut(s![i, .., ..]).assign(&plane.index_axis(Axis(0), 0));
        }
        Some(stack)
    } else {
        None
    };
    let mask = if with_mask {
        let url =
            record.paths.get(LABEL_RASTER).ok_or("the catalog has a label_raster column but this patch has none")?;
        let raster = open(url)?;
        let plane = raster
            .read_onto_grid::<u16>(&grid, Some(&[1]), Resampling::Nearest)
            .map_err(|e| format!("label raster: {e}"))?;
        Some(plane.index_axis(Axis(0), 0).to_owned())
    } else {
        None
    };
    Ok(PatchData { s2, s1, labels: multi_hot19(&record.labels), mask })
}

/// 20 m bands must be 60x60 and 60 m bands 20x20: anything else is a wrong-size patch, not something to resample.
fn expect_size(raster: &Raster, band: &str) -> Result<(), String> {
    let want = match band {
        "B05" | "B06" | "B07" | "B8A" | "B11" | "B12" => 60,
        "B01" | "B09" => 20,
        _ => PATCH_SIZE,
    };
    if (raster.width(), raster.height()) == (want, want) {
        Ok(())
    } else {
        Err(format!("band {band} is {}x{} pixels, expected {want}x{want}", raster.width(), raster.height()))
    }
}

/// The shard sample of a patch: tensors `s2` (and `s1`), `labels` (19,) u8, and JSON metadata.
pub fn to_sample(record: &PatchRecord, split: &str, data: &PatchData) -> Sample {
    let mut tensors = vec![Tensor::new("s2", &data.s2.view().into_dyn())];
    if let Some(s1) = &data.s1 {
        tensors.push(Tensor::new("s1", &s1.view().into_dyn()));
    }
    tensors.push(Tensor::new("labels", &Array1::from(data.labels.to_vec()).view().into_dyn()));
    if let Some(mask) = &data.mask {
        tensors.push(Tensor::new("mask", &mask.view().into_dyn()));
    }
    let labels19: Vec<&str> = record
        .labels
        .iter()
        .filter_map(|l| match class19(l) {
            Some(LabelClass::Class(i)) => Some(BEN19[i]),
            _ => None,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let meta = serde_json::json!({
        "patch_id": record.patch_id,
        "split": split,
        "labels": record.labels,
        "labels19": labels19,
        "country": record.country,
        "s1_name": record.s1_name,
        "s2_bands": S2_BANDS,
    });
    Sample { key: record.patch_id.clone(), tensors, meta }
}
