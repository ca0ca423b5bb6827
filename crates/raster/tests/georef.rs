//! Products keep their source's georeferencing and metadata: real rasters warped by GDAL into CRSs without an
//! EPSG code, ESRI codes and projected codes in the 4000s, with licence tags, scale/offset and colours, go through
//! the streaming COG writer and must read back the same in GDAL.
#![allow(clippy::float_cmp)]

use std::path::Path;

use eoforge_raster::{CogWriterOptions, Crs, Raster, translate_to_cog};
use eoforge_storage::StoreOptions;
use eoforge_testkit::{fixture, gdal_cog_validator, gdal_tool};

/// The Landsat RGB fixture warped into `srs` (a GDAL `-t_srs` value), with licence items, AREA_OR_POINT=Point
/// and scale/offset on band 1.
fn warped(dir: &Path, name: &str, srs: &str) -> Option<String> {
    let source = fixture("landsat/RGB.byte.tif")?;
    let out = dir.join(format!("{name}.tif"));
    let out_s = out.display().to_string();
    gdal_tool("gdalwarp", &["-q", "-t_srs", srs, &source.display().to_string(), &out_s]);
    gdal_tool(
        "gdal_edit.py",
        &[
            "-mo",
            "copyright=USGS Landsat",
            "-mo",
            "license=public domain",
            "-mo",
            "legend=0 none|1 water",
            "-mo",
            "AREA_OR_POINT=Point",
            "-scale",
            "0.5",
            "-offset",
            "-3",
            &out_s,
        ],
    );
    Some(out_s)
}

#[test]
fn any_crs_gdal_writes_round_trips_with_the_metadata() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases = [
        ("laea", "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m +no_defs"),
        ("mollweide", "ESRI:54009"),
        ("plate_carree", "EPSG:4087"),
        ("wgs84", "EPSG:4326"),
        ("albers", "EPSG:5070"),
    ];
    for (name, srs) in cases {
        let Some(source) = warped(dir.path(), name, srs) else { return };
        let src = Raster::open(&source).expect("open source");
        let src_info = src.info().expect("info");
        let src_crs = src.crs().expect("the warped source has a CRS");
        let dest = dir.path().join(format!("{name}_cog.tif"));
        translate_to_cog(&source, &StoreOptions::default(), &dest, &CogWriterOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (valid, output) = gdal_cog_validator(&dest);
        assert!(valid, "{name}: {output}");

        let out = Raster::open(&dest.display().to_string()).expect("open product");
        let crs = out.crs().unwrap_or_else(|| panic!("{name}: the product has no CRS"));
        assert!(crs.is_same(&src_crs), "{name}: CRS changed\n{}\n---\n{}", src_crs.wkt, crs.wkt);
        assert_eq!(crs.epsg, src_crs.epsg, "{name}");
        let (gt, src_gt) = (out.geo_transform().expect("gt").0, src.geo_transform().expect("gt").0);
        for (a, b) in gt.iter().zip(src_gt) {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{name}: geotransform {gt:?} vs {src_gt:?}");
        }
        let meta = out.metadata().expect("metadata");
        let src_meta = src.metadata().expect("metadata");
        assert_eq!(meta.area_or_point.as_deref(), Some("Point"), "{name}");
        for key in ["copyright", "license", "legend"] {
            let value = |m: &eoforge_raster::RasterMetadata| m.items.iter().find(|(k, _)| k == key).cloned();
            assert!(value(&meta).is_some(), "{name}: {key} dropped");
            assert_eq!(value(&meta), value(&src_meta), "{name}: {key}");
        }
        assert_eq!(meta.bands, src_meta.bands, "{name}: scale, offset, colours");
        assert_eq!(meta.colors(), vec![Some("Red"), Some("Green"), Some("Blue")], "{name}");
        assert_eq!(meta.bands[0].scale, Some(0.5));
        assert_eq!(meta.bands[0].offset, Some(-3.0));
        let info = out.info().expect("info");
        assert_eq!(info.bands[0].nodata, src_info.bands[0].nodata, "{name}: nodata");
        // Pixels are untouched.
        let window = eoforge_raster::Window::full(src.width(), src.height());
        assert_eq!(
            out.read_window::<u8>(window, None).expect("read"),
            src.read_window::<u8>(window, None).expect("read"),
            "{name}: pixels"
        );
    }
}

#[test]
fn a_crs_that_cannot_be_written_is_refused_not_dropped() {
    // An engineering (local) CRS has no GeoTIFF encoding that reads back the same.
    let wkt = r#"LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]"#;
    let Ok(crs) = Crs::from_wkt(wkt) else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let spec = eoforge_raster::RasterSpec {
        width: 64,
        height: 64,
        bands: 1,
        geo_transform: Some(eoforge_raster::GeoTransform([0.0, 1.0, 0.0, 64.0, 0.0, -1.0])),
        crs: Some(crs),
        ..eoforge_raster::RasterSpec::default()
    };
    let dest = dir.path().join("local.tif");
    match eoforge_raster::CogWriter::<u8>::create(&dest, &spec, &CogWriterOptions::default()) {
        Err(e) => assert!(e.to_string().contains("local.tif") && e.to_string().contains("CRS"), "{e}"),
        Ok(mut writer) => {
            // GDAL can write it: then it must read back the same.
            writer.write_block(0, 0, ndarray::Array3::<u8>::ones((1, 64, 64)).view()).expect("write");
            writer.finish().expect("finish");
            let back = Raster::open(&dest.display().to_string()).expect("open").crs().expect("crs");
            assert!(back.is_same(spec.crs.as_ref().expect("crs")), "{}", back.wkt);
        }
    }
    assert!(!dir.path().join("local.tif.partial").exists());
}

#[test]
fn float64_int32_and_uint32_rasters_convert_bit_for_bit() {
    let Some(source) = fixture("landsat/RGB.byte.tif") else { return };
    let dir = tempfile::tempdir().expect("tmp");
    for (dtype, scale) in
        [("Float64", "0 255 -1.5 2.75"), ("Int32", "0 255 -2000000000 2000000000"), ("UInt32", "0 255 0 4000000000")]
    {
        let input = dir.path().join(format!("{dtype}.tif"));
        let input_s = input.display().to_string();
        let mut args = vec!["-q", "-ot", dtype, "-a_nodata", "-9999"];
        if dtype == "UInt32" {
            args[4] = "4294967295";
        }
        args.push("-scale");
        args.extend(scale.split(' '));
        args.extend([source.to_str().expect("utf-8"), input_s.as_str()]);
        gdal_tool("gdal_translate", &args);
        let dest = dir.path().join(format!("{dtype}_cog.tif"));
        translate_to_cog(&input_s, &StoreOptions::default(), &dest, &CogWriterOptions::default())
            .unwrap_or_else(|e| panic!("{dtype}: {e}"));
        let (valid, output) = gdal_cog_validator(&dest);
        assert!(valid, "{dtype}: {output}");
        let (a, b) = (Raster::open(&input_s).expect("open"), Raster::open(&dest.display().to_string()).expect("open"));
        assert_eq!(b.info().expect("info").bands[0].dtype, dtype);
        assert_eq!(b.nodata(1).expect("nodata"), a.nodata(1).expect("nodata"));
        let window = eoforge_raster::Window::full(a.width(), a.height());
        let (x, y) =
            (a.read_window::<f64>(window, None).expect("read"), b.read_window::<f64>(window, None).expect("read"));
        assert!(x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()), "{dtype}: pixels differ");
        // Overviews exist and hold values of the type (GDAL decodes every level).
        assert!(b.info().expect("info").bands[0].overviews >= 1, "{dtype}");
    }
}
