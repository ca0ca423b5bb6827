//! Inputs for eoforge's criterion benchmarks: realistic rasters built from the real fixtures when present.
#![allow(clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};

use eoforge_raster::{Compression, GeoTransform, Raster, RasterSpec, TiffOptions, TiledWriter, Window};
use ndarray::{Array3, s};

/// The fixtures root (`$EOFORGE_FIXTURES` or `../shared/fixtures`), if present.
pub fn fixtures() -> Option<PathBuf> {
    let root = std::env::var_os("EOFORGE_FIXTURES")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"), PathBuf::from);
    root.join("s2-l2a-29RKH/B04.tif").is_file().then_some(root)
}

/// A `(bands, size, size)` u16 stack: the real 29RKH B02/B03/B04/B08 bands tiled to `size` when the fixtures are
/// present, otherwise a smooth synthetic field with noise (said on stderr).
pub fn scene(size: usize) -> Array3<u16> {
    let mut out = Array3::<u16>::zeros((4, size, size));
    if let Some(root) = fixtures() {
        for (i, band) in ["B02", "B03", "B04", "B08"].iter().enumerate() {
            let path = root.join(format!("s2-l2a-29RKH/{band}.tif"));
            let raster = Raster::open(&path.display().to_string()).expect("open fixture");
            let native =
                raster.read_window::<u16>(Window::full(raster.width(), raster.height()), None).expect("read fixture");
            let (h, w) = (native.dim().1, native.dim().2);
            for r in 0..size {
                for c in 0..size {
                    out[[i, r, c]] = native[[0, r % h, c % w]];
                }
            }
        }
    } else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("fixtures not found: benchmarking on synthetic data");
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for ((b, r, c), v) in out.indexed_iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let smooth = 1000.0 + 800.0 * ((r as f64 / 97.0).sin() + (c as f64 / 131.0).cos()) + 100.0 * b as f64;
            *v = (smooth + (state % 64) as f64) as u16;
        }
    }
    out
}

/// Writes `data` as a tiled GeoTIFF at `path`, tile by tile, and returns the path.
pub fn write_tiled(path: &Path, data: &Array3<u16>, compression: Compression, threads: usize) -> PathBuf {
    let (bands, height, width) = data.dim();
    let spec = RasterSpec {
        width,
        height,
        bands,
        geo_transform: Some(GeoTransform::north_up(199_980.0, 2_800_020.0, 10.0, 10.0)),
        ..RasterSpec::default()
    };
    let options = TiffOptions { compression, threads: Some(threads), ..TiffOptions::default() };
    let mut writer = TiledWriter::<u16>::create(path, &spec, &options).expect("create");
    let (nx, ny) = writer.blocks();
    for by in 0..ny {
        for bx in 0..nx {
            let w = writer.block_window(bx, by);
            writer
                .write_block(bx, by, data.slice(s![.., w.row..w.row + w.height, w.col..w.col + w.width]))
                .expect("write");
        }
    }
    writer.finish(None).expect("finish")
}
