//! Windows of embedding-style rasters (AlphaEarth Foundations' layout: signed bytes with −128 as nodata, stored
//! bottom-up on one public mirror) are the north-up ground GDAL reads, with their labels in place: GDAL and NumPy
//! (Debian's python3-gdal) build the rasters from the real Landsat fixture and dump the north-up signed values, the
//! oracle every window is checked against.
#![allow(clippy::float_cmp)]

use std::path::Path;
use std::process::Command;

use eoforge_convert::{Dequantize, StoreDtype, WindowOptions, WindowsReport, convert_windows};
use eoforge_shards::read_webdataset_tar;
use eoforge_testkit::fixture;

/// Builds `north.tif`, `bottom.tif` (the same ground stored south first), `labels.tif` (north-up, UInt8, 255 =
/// nodata, class 0 real) and `labels_bottom.tif` from the Landsat fixture; writes the north-up signed values to
/// `ground.bin` (bands × rows × cols int8). Returns (rows, cols).
const BUILD: &str = r"
import sys, numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
src, out = gdal.Open(sys.argv[1]), sys.argv[2]
x0, y0, w, h = 300, 280, 200, 160
raw = src.ReadAsArray(x0, y0, w, h)                 # (3, h, w) uint8, 0 = nodata
signed = (raw.astype(np.int16) - 128).astype(np.int8)  # nodata 0 -> -128
gt = list(src.GetGeoTransform())
gt[0] += x0 * gt[1]; gt[3] += y0 * gt[5]
def write(name, bands, gtype, bottom_up, nodata, opts):
    ds = gdal.GetDriverByName('GTiff').Create(out + '/' + name, w, h, bands.shape[0], gtype, opts)
    t = list(gt)
    if bottom_up:
        t[3] = gt[3] + gt[5] * h; t[5] = -gt[5]
        bands = bands[:, ::-1, :]
    ds.SetGeoTransform(t); ds.SetProjection(src.GetProjection())
    for i in range(bands.shape[0]):
        b = ds.GetRasterBand(i + 1); b.SetNoDataValue(nodata); b.WriteArray(np.ascontiguousarray(bands[i]))
    ds = None
as_bytes = signed.view(np.uint8)
write('north.tif', as_bytes, gdal.GDT_Byte, False, -128, ['PIXELTYPE=SIGNEDBYTE'])
write('bottom.tif', as_bytes, gdal.GDT_Byte, True, -128, ['PIXELTYPE=SIGNEDBYTE'])
labels = np.where(raw[0] < 60, 0, np.where(raw[0] < 90, 1, 2)).astype(np.uint8)
labels[raw[0] == 0] = 255
write('labels.tif', labels[None], gdal.GDT_Byte, False, 255, [])
write('labels_bottom.tif', labels[None], gdal.GDT_Byte, True, 255, [])
back = gdal.Open(out + '/bottom.tif')
assert back.GetRasterBand(1).GetMetadataItem('PIXELTYPE', 'IMAGE_STRUCTURE') == 'SIGNEDBYTE'
assert back.GetGeoTransform()[5] > 0
# GDAL's north-up read of the same ground: the oracle.
north = gdal.Open(out + '/north.tif').ReadAsArray().view(np.int8)
open(out + '/ground.bin', 'wb').write(north.tobytes())
# AlphaEarth's published de-quantisation of the same values, in float64 then stored as float32.
v = north.astype(np.float64)
open(out + '/ground_aef.bin', 'wb').write((np.sign(v) * (np.abs(v) / 127.5) ** 2).astype(np.float32).tobytes())
print(h, w)
";

fn build(dir: &Path) -> Option<(usize, usize)> {
    let landsat = fixture("landsat/RGB.byte.tif")?;
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(BUILD)
        .arg(&landsat)
        .arg(dir)
        .output()
        .expect("run /usr/bin/python3 (python3-gdal)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text.split_whitespace().map(|v| v.parse::<usize>().expect("size"));
    Some((numbers.next()?, numbers.next()?))
}

/// Every sample of every tar under `root`, keyed.
fn samples(root: &Path) -> Vec<eoforge_shards::Sample> {
    let mut tars: Vec<_> = ["train", "validation"]
        .iter()
        .flat_map(|split| std::fs::read_dir(root.join(split)).into_iter().flatten())
        .map(|e| e.expect("entry").path())
        .collect();
    tars.sort();
    tars.iter()
        .flat_map(|t| read_webdataset_tar(&std::fs::read(t).expect("tar"), &t.display().to_string()).expect("read"))
        .collect()
}

#[test]
fn bottom_up_signed_byte_windows_are_the_north_up_ground_with_their_labels() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some((rows, cols)) = build(dir.path()) else { return };
    let ground = std::fs::read(dir.path().join("ground.bin")).expect("ground");
    let options = |out: &Path| WindowOptions {
        out: out.display().to_string(),
        size: 32,
        stride: 24,
        samples_per_shard: 8,
        ..WindowOptions::default()
    };
    let path = |name: &str| dir.path().join(name).display().to_string();
    // The same scene stored both ways, under the same file name (window keys carry it).
    for (sub, scene, labels) in [("n", "north.tif", "labels.tif"), ("b", "bottom.tif", "labels_bottom.tif")] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("dir");
        std::fs::copy(dir.path().join(scene), dir.path().join(sub).join("scene.tif")).expect("copy");
        std::fs::copy(dir.path().join(labels), dir.path().join(sub).join("labels.tif")).expect("copy");
    }
    let north_out = dir.path().join("north_set");
    let bottom_out = dir.path().join("bottom_set");
    let mixed_out = dir.path().join("mixed_set");
    let north = convert_windows(&path("n/scene.tif"), Some(&path("n/labels.tif")), &options(&north_out), &|| {})
        .expect("north-up windows");
    let bottom = convert_windows(&path("b/scene.tif"), Some(&path("b/labels.tif")), &options(&bottom_out), &|| {})
        .expect("bottom-up windows");
    // A bottom-up scene under north-up labels places them on the same ground too.
    let mixed = convert_windows(&path("b/scene.tif"), Some(&path("n/labels.tif")), &options(&mixed_out), &|| {})
        .expect("mixed windows");
    assert!(north.skipped_nodata > 0, "the fixture's nodata (-128) edge skips windows: {north:?}");
    assert_eq!(north.written, bottom.written);
    assert_eq!(north.skipped_nodata, bottom.skipped_nodata);
    assert_eq!(north.class_pixels, bottom.class_pixels);
    assert_eq!(mixed.class_pixels, bottom.class_pixels);
    let (from_north, from_bottom, mixed_samples) = (samples(&north_out), samples(&bottom_out), samples(&mixed_out));
    assert!(!from_north.is_empty());
    assert_eq!(from_north, from_bottom, "bottom-up windows equal north-up ones, sample for sample");
    assert_eq!(from_north, mixed_samples);
    assert_eq!(
        std::fs::read(north_out.join("stats.json")).expect("north"),
        std::fs::read(bottom_out.join("stats.json")).expect("bottom")
    );
    // Every window is GDAL's north-up read of its ground, as signed values; none holds the nodata.
    for sample in &from_north {
        let image = sample.tensors.iter().find(|t| t.name == "image").expect("image");
        assert_eq!(image.dtype, "float32");
        let (row, col) =
            (sample.meta["row"].as_u64().expect("row") as usize, sample.meta["col"].as_u64().expect("col") as usize);
        let values: Vec<f32> =
            image.data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let mut expected = Vec::with_capacity(values.len());
        for band in 0..3 {
            for r in row..row + 32 {
                for c in col..col + 32 {
                    expected.push(f32::from(i8::from_ne_bytes([ground[(band * rows + r) * cols + c]])));
                }
            }
        }
        assert_eq!(values, expected, "window {}", sample.key);
        assert!(values.iter().all(|v| *v > -128.0 && *v < 128.0), "{}: a nodata value kept", sample.key);
        assert!(values.iter().any(|v| *v < 0.0), "{}: signed values read as unsigned", sample.key);
    }
    // De-quantised as AlphaEarth publishes it: the values NumPy computes, nodata windows still skipped.
    let aef = std::fs::read(dir.path().join("ground_aef.bin")).expect("aef");
    let aef_out = dir.path().join("aef_set");
    let aef_report = convert_windows(
        &path("b/scene.tif"),
        Some(&path("b/labels.tif")),
        &WindowOptions { dequantize: Some(Dequantize::Aef), ..options(&aef_out) },
        &|| {},
    )
    .expect("de-quantised windows");
    assert_eq!(aef_report.skipped_nodata, bottom.skipped_nodata);
    for sample in samples(&aef_out) {
        let image = sample.tensors.iter().find(|t| t.name == "image").expect("image");
        let (row, col) =
            (sample.meta["row"].as_u64().expect("row") as usize, sample.meta["col"].as_u64().expect("col") as usize);
        let values: Vec<f32> =
            image.data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let mut expected = Vec::with_capacity(values.len());
        for band in 0..3 {
            for r in row..row + 32 {
                for c in col..col + 32 {
                    let at = 4 * ((band * rows + r) * cols + c);
                    expected.push(f32::from_le_bytes(aef[at..at + 4].try_into().expect("4 bytes")));
                }
            }
        }
        assert_eq!(values, expected, "window {}", sample.key);
        assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
    // Stored smaller: the signed bytes themselves (a quarter of float32) and the de-quantised values in float16 (a
    // half), each the same windows.
    let bytes = |dir: &Path| -> u64 {
        samples(dir).iter().flat_map(|s| &s.tensors).filter(|t| t.name == "image").map(|t| t.data.len() as u64).sum()
    };
    let int8_out = dir.path().join("int8_set");
    let store = |dtype| WindowOptions { store_dtype: Some(dtype), ..options(&int8_out) };
    convert_windows(&path("b/scene.tif"), Some(&path("b/labels.tif")), &store(StoreDtype::Int8), &|| {}).expect("int8");
    assert_eq!(bytes(&int8_out) * 4, bytes(&bottom_out), "int8 windows are a quarter of float32's");
    for (a, b) in samples(&int8_out).iter().zip(&samples(&bottom_out)) {
        let (ia, ib) = (&a.tensors[0], &b.tensors[0]);
        assert_eq!((ia.dtype, ia.shape.clone()), ("int8", ib.shape.clone()));
        let widened: Vec<u8> = ia.data.iter().flat_map(|v| f32::from(i8::from_ne_bytes([*v])).to_le_bytes()).collect();
        assert_eq!(widened, ib.data, "window {}", a.key);
    }
    let f16_out = dir.path().join("f16_set");
    let half = WindowOptions {
        dequantize: Some(Dequantize::Aef),
        store_dtype: Some(StoreDtype::Float16),
        ..options(&f16_out)
    };
    convert_windows(&path("b/scene.tif"), Some(&path("b/labels.tif")), &half, &|| {}).expect("float16");
    assert_eq!(bytes(&f16_out) * 2, bytes(&aef_out), "float16 windows are half of float32's");
    for (a, b) in samples(&f16_out).iter().zip(&samples(&aef_out)) {
        let (ia, ib) = (&a.tensors[0], &b.tensors[0]);
        assert_eq!(ia.dtype, "float16");
        for (h, f) in ia.data.chunks_exact(2).zip(ib.data.chunks_exact(4)) {
            let (h, f) =
                (f32::from(half::f16::from_le_bytes([h[0], h[1]])), f32::from_le_bytes([f[0], f[1], f[2], f[3]]));
            assert!((h - f).abs() <= f.abs() / 1024.0 + 1e-7, "{}: {h} against {f}", a.key);
        }
    }
    let bad = WindowOptions { dequantize: Some(Dequantize::Aef), ..store(StoreDtype::Int8) };
    let e = convert_windows(&path("b/scene.tif"), None, &bad, &|| {}).expect_err("int8 of de-quantised values");
    assert!(e.to_string().contains("--store-dtype int8"), "{e}");

    let aef_index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(aef_out.join("index.json")).expect("index")).expect("json");
    assert!(aef_index["dequantize"].as_str().is_some_and(|d| d.starts_with("aef")), "{aef_index}");

    let classes: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bottom_out.join("index.json")).expect("index")).expect("json");
    let values: Vec<u64> =
        classes["classes"].as_array().expect("classes").iter().map(|c| c["value"].as_u64().expect("v")).collect();
    assert_eq!(values, [0, 1, 2], "class 0 kept, nodata 255 left out");
}

/// A TESSERA tile as `geotessera` stores it (`grid_X_Y.npy` int8 `(rows, cols, 16)`, `grid_X_Y_scales.npy`, the
/// landmask `grid_X_Y.tiff` in UTM) and, in `export/`, GeoTIFF exports of it dequantised by NumPy (value =
/// q × scale, NaN where the scale is NaN): per-pixel scales (`export/grid_0.15_52.05.tif`) and, for the tile
/// `grid_0.25_52.05`, per-value scales.
const TESSERA: &str = r"
import sys, numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
out = sys.argv[1]
h, w, k = 70, 90, 16
srs = osr.SpatialReference(); srs.ImportFromEPSG(32631)
gt = [300000.0, 10.0, 0, 5770000.0, 0, -10.0]
def tile(stem, scales):
    rng = np.random.default_rng(len(stem))
    q = rng.integers(-127, 128, size=(h, w, k)).astype(np.int8)
    np.save(out + '/' + stem + '.npy', q)
    np.save(out + '/' + stem + '_scales.npy', scales)
    mask = gdal.GetDriverByName('GTiff').Create(out + '/' + stem + '.tiff', w, h, 1, gdal.GDT_Byte)
    mask.SetGeoTransform(gt); mask.SetProjection(srs.ExportToWkt()); mask.GetRasterBand(1).Fill(1); mask = None
    values = q.astype(np.float32) * (scales if scales.ndim == 3 else scales[..., None])
    ds = gdal.GetDriverByName('GTiff').Create(out + '/export/' + stem + '.tif', w, h, k, gdal.GDT_Float32)
    ds.SetGeoTransform(gt); ds.SetProjection(srs.ExportToWkt())
    for i in range(k):
        b = ds.GetRasterBand(i + 1); b.SetNoDataValue(float('nan')); b.SetDescription('T%03d' % i)
        b.WriteArray(values[:, :, i])
    ds = None
scales = np.random.default_rng(7).uniform(0.001, 0.05, size=(h, w)).astype(np.float32)
scales[50:, 60:] = np.nan
tile('grid_0.15_52.05', scales)
tile('grid_0.25_52.05', np.random.default_rng(8).uniform(0.001, 0.05, size=(h, w, k)).astype(np.float32))
";

#[test]
fn tessera_tiles_give_the_windows_of_their_dequantised_export() {
    if eoforge_testkit::fixtures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("export")).expect("dir");
    let out = Command::new("/usr/bin/python3").arg("-c").arg(TESSERA).arg(dir.path()).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let options = |out: &Path| WindowOptions {
        out: out.display().to_string(),
        size: 16,
        stride: 16,
        samples_per_shard: 4,
        ..WindowOptions::default()
    };
    for stem in ["grid_0.15_52.05", "grid_0.25_52.05"] {
        let (tile, export) = (dir.path().join(format!("{stem}.npy")), dir.path().join(format!("export/{stem}.tif")));
        let (a, b) = (dir.path().join(format!("{stem}-tile")), dir.path().join(format!("{stem}-export")));
        let from_tile = convert_windows(&tile.display().to_string(), None, &options(&a), &|| {}).expect("tile");
        let from_export = convert_windows(&export.display().to_string(), None, &options(&b), &|| {}).expect("export");
        assert_eq!(from_tile, WindowsReport { seconds: from_tile.seconds, ..from_export.clone() }, "{stem}");
        let (ta, tb) = (samples(&a), samples(&b));
        assert!(!ta.is_empty() && ta == tb, "{stem}: the tile's windows are its export's");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(a.join("index.json")).expect("index")).expect("json");
        assert_eq!(index["channels"][0], "T000");
        assert_eq!(index["tensors"]["image"], "float32 (16, 16, 16)");
        if stem == "grid_0.15_52.05" {
            assert!(from_tile.skipped_nodata > 0, "NaN scales mark no data: {from_tile:?}");
        }
    }
    // A tile without its landmask is refused, naming the file it looked for.
    std::fs::remove_file(dir.path().join("grid_0.15_52.05.tiff")).expect("rm");
    let tile = dir.path().join("grid_0.15_52.05.npy").display().to_string();
    let e = convert_windows(&tile, None, &options(&dir.path().join("none")), &|| {}).expect_err("no landmask");
    assert!(e.to_string().contains("grid_0.15_52.05.tiff"), "{e}");
    assert!(!dir.path().join("none/index.json").exists());
}
