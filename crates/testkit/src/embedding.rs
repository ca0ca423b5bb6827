//! Embedding tiles as the crop-segmentation workflow reads them, built by GDAL and NumPy (Debian's python3-gdal)
//! over the real CDL fixture: 8 signed-byte bands (AlphaEarth Foundations' layout, −128 nodata in a corner) whose
//! values are a code per CDL class plus noise, so a network can learn the crops from them.

use std::path::{Path, PathBuf};

/// Tiles written by [`embedding_tiles`], with CDL (their labels) and the oracle of tile 1's labels.
#[derive(Clone, Debug)]
pub struct EmbeddingTiles {
    /// `tile{k}.tif`: 0 in EPSG:32614 stored bottom-up, 1 in EPSG:32614, 2 in EPSG:32615 over tile 1's ground,
    /// 3 half beyond CDL's eastern edge, then the extra tiles inside CDL (even ones bottom-up).
    pub tiles: Vec<PathBuf>,
    /// The CDL fixture (30 m, EPSG:5070, sparse crop ids, no nodata).
    pub cdl: PathBuf,
    /// GDAL's nearest-neighbour warp of CDL onto tile 1's grid, uint8 rows × cols.
    pub tile1_cdl: PathBuf,
}

const BUILD: &str = r"
import sys, numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
cdl, out = sys.argv[1], sys.argv[2]
w, h, extra, px = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), 10.0
def tile(name, epsg, x0, y0, bottom_up, seed):
    # Embedding-like values that know the crop: a code per CDL class (outside CDL: class 0's) plus noise.
    srs = osr.SpatialReference(); srs.ImportFromEPSG(epsg)
    crop = gdal.Warp('', cdl, format='MEM', dstSRS=srs.ExportToWkt(), resampleAlg='near',
                     outputBounds=(x0, y0 - h * px, x0 + w * px, y0), width=w, height=h).ReadAsArray()
    codes = np.random.default_rng(1234).integers(-90, 91, size=(256, 8))
    noise = np.random.default_rng(seed).integers(-25, 26, size=(8, h, w))
    data = (codes[crop].transpose(2, 0, 1) + noise).astype(np.int8)
    data[:, :20, :20] = -128
    ds = gdal.GetDriverByName('GTiff').Create(out + '/' + name, w, h, 8, gdal.GDT_Byte, ['PIXELTYPE=SIGNEDBYTE'])
    ds.SetProjection(srs.ExportToWkt())
    if bottom_up:
        ds.SetGeoTransform([x0, px, 0, y0 - h * px, 0, px]); data = data[:, ::-1, :]
    else:
        ds.SetGeoTransform([x0, px, 0, y0, 0, -px])
    for i in range(8):
        b = ds.GetRasterBand(i + 1); b.SetNoDataValue(-128); b.SetDescription('A%02d' % i)
        b.WriteArray(np.ascontiguousarray(data[i]).view(np.uint8))
    ds = None
# UTM 14N over the CDL fixture (about 97.1 W, 39.3 N), and the same ground in UTM 15N.
def utm(epsg, lon, lat):
    a = osr.SpatialReference(); a.ImportFromEPSG(4326); a.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    b = osr.SpatialReference(); b.ImportFromEPSG(epsg)
    x, y, _ = osr.CoordinateTransformation(a, b).TransformPoint(lon, lat)
    return round(x / 10) * 10, round(y / 10) * 10
tile('tile0.tif', 32614, *utm(32614, -97.15, 39.35), True, 0)
tile('tile1.tif', 32614, *utm(32614, -97.05, 39.25), False, 1)
tile('tile2.tif', 32615, *utm(32615, -97.045, 39.252), False, 2)
tile('tile3.tif', 32614, *utm(32614, -96.895, 39.30), False, 3)  # half east of CDL's edge
for k in range(extra):  # more tiles inside CDL, for work that takes a while
    tile('tile%d.tif' % (4 + k), 32614, *utm(32614, -97.2 + 0.02 * (k % 12), 39.2 + 0.015 * (k // 12)), k % 2 == 0, 4 + k)
ref = gdal.Open(out + '/tile1.tif')
gt = ref.GetGeoTransform()
warped = gdal.Warp('', cdl, format='MEM', dstSRS=ref.GetProjection(), resampleAlg='near',
                   outputBounds=(gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3]), width=w, height=h)
open(out + '/tile1_cdl.bin', 'wb').write(warped.ReadAsArray().astype(np.uint8).tobytes())
";

/// Writes `4 + extra` tiles of `width` × `height` 10 m pixels into `dir`; `None` (after a skip message) without
/// the fixtures.
pub fn embedding_tiles(dir: &Path, width: usize, height: usize, extra: usize) -> Option<EmbeddingTiles> {
    let cdl = crate::fixture("labels/cdl_2021_30m_kansas_1000.tif")?;
    let out = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(BUILD)
        .arg(&cdl)
        .arg(dir)
        .args([width.to_string(), height.to_string(), extra.to_string()])
        .output()
        .expect("run /usr/bin/python3 (python3-gdal)");
    assert!(out.status.success(), "building embedding tiles: {}", String::from_utf8_lossy(&out.stderr));
    Some(EmbeddingTiles {
        tiles: (0..4 + extra).map(|k| dir.join(format!("tile{k}.tif"))).collect(),
        cdl,
        tile1_cdl: dir.join("tile1_cdl.bin"),
    })
}
