//! Raster hot paths: windowed reads (the tiling side of inference) and tiled compressed writes (the
//! post-processing side), on a 4-band 2048² u16 scene built from the real 29RKH bands.
//!
//! Run: `cargo bench -p eoforge-benches --bench raster` (or `make bench`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eoforge_benches::{scene, write_tiled};
use eoforge_raster::{Compression, Grid, Raster, Resampling, Window};

const SIZE: usize = 2048;

fn reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = scene(SIZE);
    let path = write_tiled(&dir.path().join("scene.tif"), &data, Compression::Lzw, 2);
    let raster = Raster::open(&path.display().to_string()).expect("open");
    let mut group = c.benchmark_group("read");
    let window = 256;
    group.throughput(Throughput::Bytes((4 * window * window * 2) as u64));
    group.bench_function("window_256x256x4_u16_lzw", |b| {
        let mut i = 0usize;
        b.iter(|| {
            // Walk the scene; after the first pass GDAL's block cache serves the tiles (the cached case).
            let (col, row) = ((i * 389) % (SIZE - window), (i * 211) % (SIZE - window));
            i += 1;
            black_box(raster.read_window::<u16>(Window::new(col, row, window, window), None).expect("read"))
        });
    });
    group.bench_function("window_256x256x4_u16_lzw_fresh_open", |b| {
        // Opening per read drops the dataset's cached blocks: this measures decompression, not the block cache.
        let location = path.display().to_string();
        b.iter(|| {
            let fresh = Raster::open(&location).expect("open");
            black_box(fresh.read_window::<u16>(Window::new(1024, 768, window, window), None).expect("read"))
        });
    });
    group.bench_function("grid_128x128x4_to_f32_bilinear_2x", |b| {
        let transform = raster.geo_transform().expect("gt").scaled(2.0);
        b.iter(|| {
            let grid = Grid::of_window(&transform, Window::new(301, 517, 128, 128));
            black_box(raster.read_onto_grid::<f32>(&grid, None, Resampling::Bilinear).expect("read"))
        });
    });
    group.finish();
}

fn writes(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = scene(SIZE);
    let mut group = c.benchmark_group("write_tiled_2048x2048x4_u16");
    group.sample_size(10);
    group.throughput(Throughput::Bytes((data.len() * 2) as u64));
    for (name, codec) in [
        ("lzw", Compression::Lzw),
        ("deflate1", Compression::Deflate { level: 1 }),
        ("zstd1", Compression::Zstd { level: 1 }),
    ] {
        for threads in [1, 2] {
            group.bench_function(format!("{name}_{threads}threads"), |b| {
                b.iter(|| black_box(write_tiled(&dir.path().join(format!("{name}.tif")), &data, codec, threads)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, reads, writes);
criterion_main!(benches);
