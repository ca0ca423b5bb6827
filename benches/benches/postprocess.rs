//! Inference hot paths on realistic sizes: window extraction + normalisation (tiling), the streaming COG writer
//! (compression + overviews + layout), and the whole engine with an identity model (read → stitch → COG).
//!
//! Run: `cargo bench -p eoforge-benches --bench postprocess`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eoforge_benches::{scene, write_tiled};
use eoforge_engine::{Blend, EngineOptions, FnModel};
use eoforge_raster::{CogWriter, CogWriterOptions, Compression, DataType, GeoTransform, Raster, RasterSpec, Window};
use ndarray::s;

fn tiling(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = scene(2048);
    let path = write_tiled(&dir.path().join("scene.tif"), &data, Compression::None, 2);
    let raster = Raster::open(&path.display().to_string()).expect("open");
    let mut group = c.benchmark_group("tiling");
    group.throughput(Throughput::Elements(1));
    group.bench_function("window_128x128x4_extract_normalize", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let (col, row) = ((i * 97) % 1920, (i * 61) % 1920);
            i += 1;
            let mut w = raster.read_window::<f32>(Window::new(col, row, 128, 128), None).expect("read");
            w.mapv_inplace(|v| (v - 1500.0) / 500.0);
            black_box(w)
        });
    });
    group.finish();
}

fn cog_writer(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = scene(2048).mapv(|v| v as i16);
    let spec = RasterSpec {
        width: 2048,
        height: 2048,
        bands: 4,
        geo_transform: Some(GeoTransform::north_up(199_980.0, 2_800_020.0, 10.0, 10.0)),
        ..RasterSpec::default()
    };
    let mut group = c.benchmark_group("postprocess_cog_2048x2048x4_i16");
    group.sample_size(10);
    group.throughput(Throughput::Bytes((data.len() * 2) as u64));
    for (name, compression) in [
        ("lzw", Compression::Lzw),
        ("zstd1", Compression::Zstd { level: 1 }),
        ("deflate1", Compression::Deflate { level: 1 }),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let options = CogWriterOptions { compression, ..CogWriterOptions::default() };
                let mut w =
                    CogWriter::<i16>::create(&dir.path().join(format!("{name}.tif")), &spec, &options).expect("create");
                for by in 0..4 {
                    for bx in 0..4 {
                        w.write_block(bx, by, data.slice(s![.., by * 512..(by + 1) * 512, bx * 512..(bx + 1) * 512]))
                            .expect("write");
                    }
                }
                black_box(w.finish().expect("finish"))
            });
        });
    }
    group.finish();
}

fn engine(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = scene(1024);
    let input = write_tiled(&dir.path().join("in.tif"), &data, Compression::None, 2);
    let options = EngineOptions {
        window: 128,
        halo: 0,
        batch: 0,
        bands: None,
        normalize: None,
        blend: Blend::Hann,
        out_dtype: DataType::UInt16,
        out_nodata: None,
        crop: None,
        cog: CogWriterOptions { compression: Compression::Zstd { level: 1 }, ..CogWriterOptions::default() },
        store: eoforge_storage::StoreOptions::default(),
    };
    let mut group = c.benchmark_group("engine_identity_1x_1024x1024x4");
    group.sample_size(10);
    group.throughput(Throughput::Elements(64)); // 128² windows without overlap
    group.bench_function("windows", |b| {
        b.iter(|| {
            let mut model = FnModel::new(4, 1, Ok);
            black_box(
                eoforge_engine::run(&input.display().to_string(), &dir.path().join("out.tif"), &mut model, &options)
                    .expect("run"),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, tiling, cog_writer, engine);
criterion_main!(benches);
