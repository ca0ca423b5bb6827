//! The streaming COG writer on the real 29RKH stack: GDAL's validator, bit-exact reads through GDAL, overview
//! values, any tile order, and nothing published when tiles are missing.

use std::path::Path;

use eoforge_raster::{
    BigTiff, CogWriter, CogWriterOptions, Compression, Crs, GeoTransform, Pixel, Raster, RasterSpec, Resampling,
    Window, check_cog,
};
use eoforge_testkit::fixture;
use ndarray::{Array3, Axis, s};

fn stack() -> Option<(Array3<u16>, GeoTransform, Crs)> {
    let mut planes = Vec::new();
    let mut geo = None;
    for band in ["B02", "B03", "B04", "B08"] {
        let raster = Raster::open(&fixture(&format!("s2-l2a-29RKH/{band}.tif"))?.display().to_string()).expect("open");
        geo = Some((raster.geo_transform().expect("gt"), raster.crs().expect("crs")));
        planes.push(raster.read_window::<u16>(Window::full(1098, 1098), None).expect("read"));
    }
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    let (gt, crs) = geo.expect("georeferencing");
    Some((ndarray::concatenate(Axis(0), &views).expect("stack"), gt, crs))
}

/// The stack with nodata 0 planted so that overview quads hold 0 to 4 valid pixels (scattered, and on rows
/// 200-201 the c-th quad loses its first c % 5 pixels), and its spec (nodata 0, band names).
fn stack_with_nodata() -> Option<(Array3<u16>, RasterSpec)> {
    let (mut data, gt, crs) = stack()?;
    for ((b, y, x), v) in data.indexed_iter_mut() {
        let in_quad = (y % 2) * 2 + x % 2;
        if (y * 31 + x * 17 + b) % 11 == 0 || (200..202).contains(&y) && in_quad < (x / 2) % 5 {
            *v = 0;
        }
    }
    let spec = RasterSpec {
        width: 1098,
        height: 1098,
        bands: 4,
        geo_transform: Some(gt),
        crs: Some(crs),
        nodata: Some(0.0),
        band_descriptions: vec!["B02".into(), "B03".into(), "B04".into(), "B08".into()],
        ..RasterSpec::default()
    };
    Some((data, spec))
}

fn write<T: Pixel>(
    path: &Path,
    data: &Array3<T>,
    spec: &RasterSpec,
    options: &CogWriterOptions,
    order: &[(usize, usize)],
) -> eoforge_raster::Result<std::path::PathBuf> {
    let mut writer = CogWriter::<T>::create(path, spec, options)?;
    let bs = options.block_size;
    for &(bx, by) in order {
        let (c0, r0) = (bx * bs, by * bs);
        let (c1, r1) = ((c0 + bs).min(spec.width), (r0 + bs).min(spec.height));
        writer.write_block(bx, by, data.slice(s![.., r0..r1, c0..c1]))?;
    }
    writer.finish()
}

fn row_major(nx: usize, ny: usize) -> Vec<(usize, usize)> {
    (0..ny).flat_map(|y| (0..nx).map(move |x| (x, y))).collect()
}

#[test]
fn streamed_cogs_validate_and_read_back_bit_exact() {
    let Some((data, spec)) = stack_with_nodata() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, compression) in
        [Compression::Lzw, Compression::Deflate { level: 6 }, Compression::Zstd { level: 3 }, Compression::None]
            .into_iter()
            .enumerate()
    {
        let options = CogWriterOptions { block_size: 256, compression, batch: 7, ..CogWriterOptions::default() };
        let path = dir.path().join(format!("stream-{i}.tif"));
        write(&path, &data, &spec, &options, &row_major(5, 5)).expect("write");
        let (ok, text) = eoforge_testkit::gdal_cog_validator(&path);
        assert!(ok && !text.contains("warnings were found"), "{compression:?}: {text}");
        let report = check_cog(&path).expect("check");
        assert!(report.is_valid() && report.overview_count == 3, "{report:?}");
        let back = Raster::open(&path.display().to_string()).expect("open");
        assert_eq!(back.read_window::<u16>(Window::full(1098, 1098), None).expect("read"), data, "{compression:?}");
        let info = back.info().expect("info");
        assert_eq!((info.geo_transform, info.crs.and_then(|c| c.epsg)), (spec.geo_transform, Some(32_629)));
        assert_eq!((info.bands[0].nodata, info.bands[3].description.as_str()), (Some(0.0), "B08"));
    }

    // Level 1 holds the nodata-aware 2x2 means of the full resolution, every pixel of it.
    let path = dir.path().join("stream-0.tif");
    let ds = gdal::Dataset::open(&path).expect("open");
    let band = ds.rasterband(3).expect("band");
    let ovr = band.overview(0).expect("overview");
    assert_eq!(ovr.size(), (549, 549));
    let got =
        ovr.read_as::<u16>((0, 0), (549, 549), (549, 549), None).expect("read overview").to_array().expect("array");
    let mut counts = [0usize; 5];
    for ((r, c), v) in got.indexed_iter() {
        let px: Vec<f64> = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .filter_map(|(dr, dc)| data.get([2, 2 * r + dr, 2 * c + dc]).map(|v| f64::from(*v)))
            .filter(|v| *v != 0.0)
            .collect();
        counts[px.len()] += 1;
        let want = if px.is_empty() { 0 } else { (px.iter().sum::<f64>() / px.len() as f64).round() as u16 };
        assert_eq!(*v, want, "overview pixel {r},{c}");
    }
    assert!(counts.iter().all(|n| *n > 0), "quads with 0..4 valid pixels: {counts:?}");
}

#[test]
fn any_tile_order_gives_the_same_image_and_other_dtypes_round_trip() {
    let Some((data, gt, crs)) = stack() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = RasterSpec {
        width: 1098,
        height: 1098,
        bands: 4,
        geo_transform: Some(gt),
        crs: Some(crs),
        nodata: None,
        band_descriptions: vec![],
        ..RasterSpec::default()
    };
    let mut order = row_major(3, 3);
    order.reverse();
    order.swap(2, 6);
    let options = CogWriterOptions {
        compression: Compression::Zstd { level: 1 },
        bigtiff: BigTiff::Yes,
        ..CogWriterOptions::default()
    };
    let p = dir.path().join("scrambled.tif");
    write(&p, &data, &spec, &options, &order).expect("write");
    assert!(eoforge_testkit::gdal_cog_validator(&p).0);
    assert_eq!(
        Raster::open(&p.display().to_string())
            .expect("open")
            .read_window::<u16>(Window::full(1098, 1098), None)
            .expect("read"),
        data
    );

    let f32s = data.mapv(|v| f32::from(v) / 10_000.0);
    let p = dir.path().join("float.tif");
    write(
        &p,
        &f32s,
        &spec,
        &CogWriterOptions { compression: Compression::Deflate { level: 1 }, ..CogWriterOptions::default() },
        &row_major(3, 3),
    )
    .expect("write");
    let back = Raster::open(&p.display().to_string())
        .expect("open")
        .read_window::<f32>(Window::full(1098, 1098), None)
        .expect("read");
    assert!(back.iter().zip(f32s.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(eoforge_testkit::gdal_cog_validator(&p).0);
    // The floating-point predictor (read back by libtiff above) makes real reflectances smaller.
    let plain = dir.path().join("float-plain.tif");
    let options = CogWriterOptions {
        compression: Compression::Deflate { level: 1 },
        predictor: false,
        ..CogWriterOptions::default()
    };
    write(&plain, &f32s, &spec, &options, &row_major(3, 3)).expect("write");
    let size = |p: &Path| std::fs::metadata(p).expect("size").len();
    assert!(size(&p) < size(&plain), "{} vs {} bytes", size(&p), size(&plain));

    let i16s = data.mapv(|v| (i32::from(v) - 3000).clamp(-32_768, 32_767) as i16);
    let p = dir.path().join("int16.tif");
    write(&p, &i16s, &spec, &CogWriterOptions::default(), &row_major(3, 3)).expect("write");
    assert_eq!(
        Raster::open(&p.display().to_string())
            .expect("open")
            .read_window::<i16>(Window::full(1098, 1098), None)
            .expect("read"),
        i16s
    );

    let classes = data.slice(s![0..1, .., ..]).mapv(|v| (v % 7) as u8);
    let one = RasterSpec { bands: 1, ..spec.clone() };
    let p = dir.path().join("classes.tif");
    write(
        &p,
        &classes,
        &one,
        &CogWriterOptions { overview_resampling: Resampling::Nearest, ..CogWriterOptions::default() },
        &row_major(3, 3),
    )
    .expect("write");
    let ds = gdal::Dataset::open(&p).expect("open");
    let ovr = ds.rasterband(1).expect("band").overview(0).expect("overview");
    let got = ovr.read_as::<u8>((0, 0), (549, 549), (549, 549), None).expect("read").to_array().expect("array");
    assert_eq!(got[[10, 20]], classes[[0, 20, 40]], "nearest keeps class values");
}

#[test]
fn missing_or_bad_tiles_publish_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = RasterSpec { width: 1000, height: 600, bands: 2, ..RasterSpec::default() };
    let data = Array3::<u16>::from_elem((2, 600, 1000), 7);
    let path = dir.path().join("out.tif");
    let err = write(&path, &data, &spec, &CogWriterOptions::default(), &[(0, 0), (1, 0), (0, 1)])
        .expect_err("tile 1,1 missing");
    assert!(err.to_string().contains("never written") && err.to_string().contains("out.tif"), "{err}");
    let mut writer = CogWriter::<u16>::create(&path, &spec, &CogWriterOptions::default()).expect("create");
    assert!(writer.write_block(2, 0, data.slice(s![.., 0..512, 0..512])).is_err(), "outside the grid");
    assert!(writer.write_block(1, 1, data.slice(s![.., 0..512, 0..512])).is_err(), "edge tile has the wrong shape");
    writer.write_block(0, 0, data.slice(s![.., 0..512, 0..512])).expect("ok");
    assert!(writer.write_block(0, 0, data.slice(s![.., 0..512, 0..512])).is_err(), "written twice");
    drop(writer);
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert!(left.is_empty(), "nothing may remain: {left:?}");
}

#[test]
fn translate_reads_tiles_interleaved_in_stripes_and_reproduces_the_source() {
    let Some((data, spec)) = stack_with_nodata() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("source.tif");
    let mut w = eoforge_raster::TiledWriter::<u16>::create(&src, &spec, &eoforge_raster::TiffOptions::default())
        .expect("create");
    w.write_window(Window::full(1098, 1098), data.view()).expect("write");
    w.finish(None).expect("finish");
    // 64 px tiles: 18 across, so three column stripes (8 + 8 + 2) and a partial last tile row and column.
    let dest = dir.path().join("translated.tif");
    let options = CogWriterOptions { block_size: 64, compression: Compression::Lzw, ..CogWriterOptions::default() };
    let report = eoforge_raster::translate_to_cog(
        &src.display().to_string(),
        &eoforge_storage::StoreOptions::default(),
        &dest,
        &options,
    )
    .expect("translate");
    assert!(report.cog.is_valid(), "{report:?}");
    // The source's nodata share, counted while streaming, equals a plain count of the planted zeros.
    for (b, fraction) in report.source_nodata_fraction.iter().enumerate() {
        let zeros = data.index_axis(ndarray::Axis(0), b).iter().filter(|v| **v == 0).count();
        assert_eq!(fraction.to_bits(), (zeros as f64 / (1098.0 * 1098.0)).to_bits(), "band {}", b + 1);
        assert!(*fraction > 0.0);
    }
    let back = Raster::open(&dest.display().to_string()).expect("open");
    assert_eq!(back.read_window::<u16>(Window::full(1098, 1098), None).expect("read"), data);
    let info = back.info().expect("info");
    assert_eq!(info.bands[3].description, "B08");
    assert_eq!(info.bands[0].nodata, Some(0.0));
    assert_eq!(info.bands[0].overviews, 5);
    let (ok, text) = eoforge_testkit::gdal_cog_validator(&dest);
    assert!(ok && !text.contains("warnings were found"), "{text}");

    // The interleaved read itself: every band of a window, pixel by pixel, rows `line_len` apart.
    let raster = Raster::open(&src.display().to_string()).expect("open");
    let mut buf = vec![7u16; 10 * 40];
    raster.read_window_interleaved(Window::new(1090, 1095, 8, 3), 40, &mut buf).expect("read");
    for (r, c, b) in [(0, 0, 0), (2, 7, 3), (1, 4, 2)] {
        assert_eq!(buf[r * 40 + c * 4 + b], data[[b, 1095 + r, 1090 + c]]);
    }
    assert_eq!(buf[32], 7, "padding past the window is left alone");
    assert!(raster.read_window_interleaved(Window::new(0, 0, 8, 3), 31, &mut buf).is_err(), "rows too short");
    assert!(raster.read_window_interleaved(Window::new(1095, 0, 8, 3), 40, &mut buf).is_err(), "outside");
}

#[test]
fn colour_maps_need_one_uint8_band() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = RasterSpec { width: 64, height: 64, bands: 2, ..RasterSpec::default() };
    let mut two_bands =
        CogWriter::<u8>::create(&dir.path().join("a.tif"), &spec, &CogWriterOptions::default()).expect("create");
    let err = two_bands.set_color_map(&[[1, 2, 3]]).expect_err("two bands cannot have a palette");
    assert!(err.to_string().contains("2 band(s)"), "{err}");
    let spec = RasterSpec { bands: 1, ..spec };
    let mut wide =
        CogWriter::<u16>::create(&dir.path().join("b.tif"), &spec, &CogWriterOptions::default()).expect("create");
    assert!(wide.set_color_map(&[[1, 2, 3]]).is_err(), "UInt16 cannot have a palette here");
    let mut ok =
        CogWriter::<u8>::create(&dir.path().join("c.tif"), &spec, &CogWriterOptions::default()).expect("create");
    assert!(ok.set_color_map(&vec![[9, 9, 9]; 257]).is_err(), "257 entries cannot index a byte");
    ok.set_color_map(&[[255, 0, 0], [0, 128, 0]]).expect("a palette");
    ok.write_block(0, 0, ndarray::Array3::<u8>::from_elem((1, 64, 64), 1).view()).expect("write");
    let path = ok.finish().expect("finish");
    let back = Raster::open(&path.display().to_string()).expect("open");
    let table = back.color_table(1).expect("read").expect("a colour table");
    assert_eq!((table[0], table[1], table[2]), ([255, 0, 0], [0, 128, 0], [0, 0, 0]));
}
