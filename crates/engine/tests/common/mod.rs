//! Helpers shared by the engine's integration tests.

use std::path::{Path, PathBuf};

use eoforge_raster::{Compression, Raster, RasterSpec, TiffOptions, TiledWriter, Window};
use eoforge_testkit::fixture;
use ndarray::{Array3, Axis};

/// The real B02/B03/B04/B08 bands as one uncompressed 4-band GeoTIFF in `dir`, and its pixels.
pub(crate) fn scene(dir: &Path) -> Option<(PathBuf, Array3<u16>)> {
    let mut planes = Vec::new();
    let mut spec = RasterSpec::default();
    for band in ["B02", "B03", "B04", "B08"] {
        let r = Raster::open(&fixture(&format!("s2-l2a-29RKH/{band}.tif"))?.display().to_string()).expect("open");
        spec = RasterSpec {
            width: 1098,
            height: 1098,
            bands: 4,
            geo_transform: r.geo_transform(),
            crs: r.crs(),
            nodata: None,
            band_descriptions: vec![],
            ..RasterSpec::default()
        };
        planes.push(r.read_window::<u16>(Window::full(1098, 1098), None).expect("read"));
    }
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    let data = ndarray::concatenate(Axis(0), &views).expect("stack");
    let path = dir.join("stack.tif");
    let mut w = TiledWriter::<u16>::create(
        &path,
        &spec,
        &TiffOptions { compression: Compression::None, ..TiffOptions::default() },
    )
    .expect("create");
    w.write_window(Window::full(1098, 1098), data.view()).expect("write");
    w.finish(None).expect("finish");
    Some((path, data))
}
