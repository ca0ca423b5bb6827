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

/// One 512² x 4 Int16 tile as the COG writer compresses it: little-endian bytes after horizontal differencing.
fn predicted_tile(data: &ndarray::Array3<i16>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 * 512 * 4 * 2);
    for r in 0..512 {
        let mut last = [0i16; 4];
        for c in 0..512 {
            for (b, prev) in last.iter_mut().enumerate() {
                let v = data[[b, r, c]];
                out.extend_from_slice(&v.wrapping_sub(*prev).to_le_bytes());
                *prev = v;
            }
        }
    }
    out
}

fn lzw(c: &mut Criterion) {
    let native = scene(512).mapv(|v| v as i16);
    // 10x bilinear-like upsampling of a 52² corner: the smooth data of a super-resolution product.
    let upsampled = ndarray::Array3::from_shape_fn((4, 512, 512), |(b, r, c)| {
        let (y, x) = (r as f64 / 10.0, c as f64 / 10.0);
        let (y0, x0) = (y.floor() as usize, x.floor() as usize);
        let (fy, fx) = (y - y0 as f64, x - x0 as f64);
        let at = |yy: usize, xx: usize| f64::from(native[[b, yy, xx]]);
        let v = at(y0, x0) * (1.0 - fy) * (1.0 - fx)
            + at(y0, x0 + 1) * (1.0 - fy) * fx
            + at(y0 + 1, x0) * fy * (1.0 - fx)
            + at(y0 + 1, x0 + 1) * fy * fx;
        v.round() as i16
    });
    let mut group = c.benchmark_group("lzw_tile_512x512x4_i16");
    for (name, data) in [("native", &native), ("upsampled10x", &upsampled)] {
        let bytes = predicted_tile(data);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("eoforge_{name}"), |b| b.iter(|| black_box(eoforge_raster::lzw_encode(&bytes))));
        group.bench_function(format!("weezl_{name}"), |b| {
            b.iter(|| {
                black_box(
                    weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8).encode(&bytes).expect("lzw"),
                )
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
        ..EngineOptions::default()
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

criterion_group!(benches, tiling, lzw, cog_writer, engine);
criterion_main!(benches);
