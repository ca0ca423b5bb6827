//! Shared by the loader, training and `eoforge-train` tests: a shard set converted from the real BigEarthNet
//! fixtures.
#![allow(dead_code)]

use std::path::Path;

use eoforge_catalog::{Catalog, scan_bigearthnet_v1};
use eoforge_convert::{ConvertOptions, Formats, OnError, convert};
use eoforge_sampling::{ShardSpec, SplitRatios};
use eoforge_storage::{Store, StoreOptions};
use eoforge_testkit::fixture;
use eoforge_train::ShardSet;

/// `n` replicated real patches converted into shards of 5 samples.
pub(crate) fn shard_set(dir: &Path, n: usize) -> Option<Catalog> {
    shard_set_as(dir, n, Formats { webdataset: true, parquet: false })
}

/// The same shard set written in `formats`.
pub(crate) fn shard_set_as(dir: &Path, n: usize, formats: Formats) -> Option<Catalog> {
    let root = fixture("bigearthnet")?;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s2 = Store::open(&root.join("s2").display().to_string()).expect("store");
    let base = rt.block_on(scan_bigearthnet_v1(&s2, None, 4)).expect("scan");
    let records = (0..n)
        .map(|i| {
            let mut r = base.records[i % 2].clone();
            r.patch_id = format!("{}_r{i:04}", r.patch_id);
            r
        })
        .collect();
    let catalog = Catalog { source: "replicated fixtures".into(), records };
    let options = ConvertOptions {
        out: dir.display().to_string(),
        formats,
        fraction: 1.0,
        seed: 5,
        ratios: SplitRatios { train: 0.7, validation: 0.15, test: 0.15 },
        target_shard_mb: 1.8,
        shard: ShardSpec::ALL,
        on_error: OnError::Fail,
        retry_skipped: false,
        with_s1: false,
        with_mask: false,
        threads: 2,
        requests_in_flight: 64,
        store: StoreOptions::default(),
        catalog_load_s: 0.0,
        stop: None,
    };
    convert(&catalog, &options, &|| {}).expect("convert");
    Some(catalog)
}

pub(crate) fn open(dir: &Path) -> ShardSet {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(ShardSet::open(&dir.display().to_string(), &StoreOptions::default())).expect("open")
}

/// The real 29RKH scene's 10 m bands B02, B03, B04, B08 as one named 4-band GeoTIFF in `dir` (nodata 0).
pub(crate) fn scene_stack(dir: &Path) -> Option<std::path::PathBuf> {
    use eoforge_raster::{Compression, Raster, RasterSpec, TiffOptions, TiledWriter, Window};
    let bands = ["B02", "B03", "B04", "B08"];
    let mut planes = Vec::new();
    let mut spec = RasterSpec::default();
    for band in bands {
        let r = Raster::open(&fixture(&format!("s2-l2a-29RKH/{band}.tif"))?.display().to_string()).expect("open");
        spec = RasterSpec {
            width: r.width(),
            height: r.height(),
            bands: bands.len(),
            geo_transform: r.geo_transform(),
            crs: r.crs(),
            nodata: Some(0.0),
            band_descriptions: bands.iter().map(|b| (*b).to_owned()).collect(),
            ..RasterSpec::default()
        };
        planes.push(r.read_window::<u16>(Window::full(r.width(), r.height()), None).expect("read"));
    }
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    let data = ndarray::concatenate(ndarray::Axis(0), &views).expect("stack");
    let path = dir.join("29RKH_stack.tif");
    let options = TiffOptions { compression: Compression::None, ..TiffOptions::default() };
    let mut w = TiledWriter::<u16>::create(&path, &spec, &options).expect("create");
    w.write_window(Window::full(spec.width, spec.height), data.view()).expect("write");
    w.finish(None).expect("finish");
    Some(path)
}

/// Segmentation shards cut from the real 29RKH scene (B02, B03, B04, B08) with its SCL scene classification as
/// labels (0 = no data, ignored): 64 px windows, splits per block of 2×2 windows. Returns the scene stack.
pub(crate) fn scene_windows(scene_dir: &Path, out: &Path) -> Option<std::path::PathBuf> {
    scene_windows_of(scene_dir, out, 64)
}

/// [`scene_windows`] with windows of `size` px.
pub(crate) fn scene_windows_of(scene_dir: &Path, out: &Path, size: usize) -> Option<std::path::PathBuf> {
    let stack = scene_stack(scene_dir)?;
    let scl = fixture("s2-l2a-29RKH/SCL.tif")?;
    let options = eoforge_convert::WindowOptions {
        out: out.display().to_string(),
        size,
        stride: size,
        block: 2,
        ratios: SplitRatios { train: 0.75, validation: 0.25, test: 0.0 },
        samples_per_shard: 32,
        seed: 1,
        ..eoforge_convert::WindowOptions::default()
    };
    eoforge_convert::convert_windows(&stack.display().to_string(), Some(&scl.display().to_string()), &options, &|| {})
        .expect("windows");
    Some(stack)
}

/// Segmentation shards of the real eo-learn test patch: its 68-date Sentinel-2 NDVI series (Float32) with its
/// land-use labels (0 none, 1 cultivated, 2 forest, 3 grassland, 4 shrubland, 8 artificial; 0 ignored), in
/// non-overlapping 16 px windows, each its own split unit.
pub(crate) fn land_use_windows(out: &Path) -> Option<()> {
    let lulc = fixture("labels/eolearn_TestEOPatch_LULC.tif")?;
    land_use_windows_ignoring(&lulc, out, Some(0)).map(|_| ())
}

/// A small U-Net (depth 2, 8 base channels, 2 epochs, seed 7) trained on [`scene_windows`]' set into `run`: a real
/// segmentation run for the tests that apply one (scene and area predictions).
pub(crate) fn fit_small_unet(set: &ShardSet, run: &Path) {
    use eoforge_models::{NormKind, UNetConfig};
    use eoforge_train::{FitConfig, ModelConfig, StopWhen, fit};
    let config = FitConfig {
        batch_size: 8,
        epochs: 2,
        lr: 5e-3,
        warmup_steps: 5,
        checkpoint_every: 100,
        seed: 7,
        ..FitConfig::new(ModelConfig::Unet(UNetConfig {
            depth: 2,
            base_width: 8,
            norm: NormKind::Batch,
            ..UNetConfig::new(4, set.class_table().expect("class table").len())
        }))
    };
    let device = burn::backend::flex::FlexDevice;
    fit::<burn::backend::Autodiff<burn::backend::Flex>>(set, &config, run, &device, &StopWhen::default()).expect("fit");
}

/// The real eo-learn land-use labels (0 none, 1 cultivated, 2 forest, 3 grassland, 4 shrubland, 8 artificial)
/// rewritten with each value `v` as `map(v)`, as UInt8 or UInt16 with `nodata`: the conventions users' label
/// rasters come in (nodata 255 beside a real class 0, sparse ids, ids above 255). Returns the raster's path.
pub(crate) fn relabelled_land_use(
    dir: &Path,
    name: &str,
    map: impl Fn(u8) -> u16,
    uint16: bool,
    nodata: f64,
) -> Option<std::path::PathBuf> {
    use eoforge_raster::{Compression, Raster, RasterSpec, TiffOptions, TiledWriter, Window};
    let lulc = Raster::open(&fixture("labels/eolearn_TestEOPatch_LULC.tif")?.display().to_string()).expect("open");
    let values = lulc
        .read_window::<u16>(Window::full(lulc.width(), lulc.height()), None)
        .expect("read")
        .mapv(|v| u8::try_from(v).expect("land-use values fit a byte"));
    let spec = RasterSpec {
        width: lulc.width(),
        height: lulc.height(),
        bands: 1,
        geo_transform: lulc.geo_transform(),
        crs: lulc.crs(),
        nodata: Some(nodata),
        ..RasterSpec::default()
    };
    let path = dir.join(name);
    let options = TiffOptions { compression: Compression::None, ..TiffOptions::default() };
    let window = Window::full(spec.width, spec.height);
    if uint16 {
        let mut w = TiledWriter::<u16>::create(&path, &spec, &options).expect("create");
        w.write_window(window, values.mapv(&map).view()).expect("write");
        w.finish(None).expect("finish");
    } else {
        let mut w = TiledWriter::<u8>::create(&path, &spec, &options).expect("create");
        w.write_window(window, values.mapv(|v| u8::try_from(map(v)).expect("a UInt8 value")).view()).expect("write");
        w.finish(None).expect("finish");
    }
    Some(path)
}

/// Segmentation windows (16 px, each its own split unit) of the real eo-learn NDVI series with `labels` (the
/// ignore value: the label raster's nodata).
pub(crate) fn land_use_windows_with(labels: &Path, out: &Path) -> Option<eoforge_convert::WindowsReport> {
    land_use_windows_ignoring(labels, out, None)
}

/// The eo-learn NDVI series with `labels` in non-overlapping 16 px windows, each its own split unit, `ignore` as
/// "no label" (`None`: the raster's nodata).
fn land_use_windows_ignoring(labels: &Path, out: &Path, ignore: Option<u16>) -> Option<eoforge_convert::WindowsReport> {
    let ndvi = fixture("labels/eolearn_TestEOPatch_NDVI_68dates.tif")?;
    let options = eoforge_convert::WindowOptions {
        out: out.display().to_string(),
        size: 16,
        stride: 16,
        block: 1,
        ratios: SplitRatios { train: 0.7, validation: 0.3, test: 0.0 },
        samples_per_shard: 8,
        seed: 2,
        ignore,
        ..eoforge_convert::WindowOptions::default()
    };
    let (scene, labels) = (ndvi.display().to_string(), labels.display().to_string());
    Some(eoforge_convert::convert_windows(&scene, Some(&labels), &options, &|| {}).expect("windows"))
}
