//! Windows of embedding-style rasters (AlphaEarth Foundations' layout: signed bytes with −128 as nodata, stored
//! bottom-up on one public mirror) are the north-up ground GDAL reads, with their labels in place: GDAL and NumPy
//! (Debian's python3-gdal) build the rasters from the real Landsat fixture and dump the north-up signed values, the
//! oracle every window is checked against.
#![allow(clippy::float_cmp)]

use std::path::Path;
use std::process::Command;

use eoforge_convert::{WindowOptions, convert_windows};
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
    let (n, b, m) = (samples(&north_out), samples(&bottom_out), samples(&mixed_out));
    assert!(!n.is_empty());
    assert_eq!(n, b, "bottom-up windows equal north-up ones, sample for sample");
    assert_eq!(n, m);
    assert_eq!(
        std::fs::read(north_out.join("stats.json")).expect("north"),
        std::fs::read(bottom_out.join("stats.json")).expect("bottom")
    );
    // Every window is GDAL's north-up read of its ground, as signed values; none holds the nodata.
    for sample in &n {
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
    let classes: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bottom_out.join("index.json")).expect("index")).expect("json");
    let values: Vec<u64> =
        classes["classes"].as_array().expect("classes").iter().map(|c| c["value"].as_u64().expect("v")).collect();
    assert_eq!(values, [0, 1, 2], "class 0 kept, nodata 255 left out");
}
