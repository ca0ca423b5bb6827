//! Polygons burnt onto a pixel grid (GDAL's rasterizer): vector labels onto a tile, an AOI onto a map. Shapes
//! come as WKT in their own CRS and are transformed onto the grid's CRS first.

use gdal::spatial_ref::CoordTransform;
use gdal::vector::{Geometry, LayerAccess};
use ndarray::Array2;

use crate::crs::Crs;
use crate::error::{Error, Result};
use crate::geo::Grid;
use crate::raster::gdal_message;

/// A polygon (or multipolygon) as WKT, and the value it burns.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// The geometry, OGC WKT.
    pub wkt: String,
    /// The value of the pixels it covers.
    pub value: f64,
}

/// Burns `shapes` (in `shapes_crs`) onto `grid` in `crs`: a pixel whose centre lies inside a shape takes its value
/// (later shapes over earlier ones), every other pixel `fill`. `what` names the shapes' source in errors.
pub fn rasterize(
    shapes: &[Shape],
    shapes_crs: &Crs,
    grid: &Grid,
    crs: &Crs,
    fill: f64,
    what: &str,
) -> Result<Array2<f64>> {
    let err = |reason: String| Error::Grid { path: what.to_owned(), reason };
    if grid.width == 0 || grid.height == 0 {
        return Err(err("the target grid is empty".into()));
    }
    let transform = CoordTransform::new(&shapes_crs.srs()?, &crs.srs()?).map_err(|e| {
        err(format!("no transform from {} to {}: {}", shapes_crs.label(), crs.label(), gdal_message(&e)))
    })?;
    let mut geometries = Vec::with_capacity(shapes.len());
    for (i, shape) in shapes.iter().enumerate() {
        let geometry =
            Geometry::from_wkt(&shape.wkt).map_err(|e| err(format!("shape {i}: not WKT: {}", gdal_message(&e))))?;
        let moved = geometry
            .transform(&transform)
            .map_err(|e| err(format!("shape {i}: cannot transform to {}: {}", crs.label(), gdal_message(&e))))?;
        geometries.push(moved);
    }
    let driver = gdal::DriverManager::get_driver_by_name("MEM").map_err(|e| err(gdal_message(&e)))?;
    let mut target = driver
        .create_with_band_type::<f64, _>("", grid.width, grid.height, 1)
        .map_err(|e| err(format!("an in-memory target: {}", gdal_message(&e))))?;
    target.set_geo_transform(&grid.transform.0).map_err(|e| err(gdal_message(&e)))?;
    target.set_spatial_ref(&crs.spatial_ref()?).map_err(|e| err(gdal_message(&e)))?;
    target.rasterband(1).and_then(|mut b| b.fill(fill, None)).map_err(|e| err(gdal_message(&e)))?;
    if !geometries.is_empty() {
        let values: Vec<f64> = shapes.iter().map(|s| s.value).collect();
        gdal::raster::rasterize(&mut target, &[1], &geometries, &values, None)
            .map_err(|e| err(format!("rasterize: {}", gdal_message(&e))))?;
    }
    let band = target.rasterband(1).map_err(|e| err(gdal_message(&e)))?;
    let buffer = band
        .read_as::<f64>((0, 0), (grid.width, grid.height), (grid.width, grid.height), None)
        .map_err(|e| err(format!("read back: {}", gdal_message(&e))))?;
    Array2::from_shape_vec((grid.height, grid.width), buffer.data().to_vec()).map_err(|e| err(e.to_string()))
}

/// The polygons of a vector layer with their values, its CRS and, when the attribute holds names, the class
/// names behind the values.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeLayer {
    /// The polygons and their values.
    pub shapes: Vec<Shape>,
    /// The layer's CRS.
    pub crs: Crs,
    /// For a text attribute of names (`water`, `crop`, …): the distinct names sorted, name `i` burnt as value
    /// `i + 1` (0 stays "no label"); empty for a numeric attribute (or text that only holds numbers).
    pub class_names: Vec<String>,
}

/// Reads the polygons of a vector file (GeoJSON, GeoPackage, Shapefile: any format GDAL reads) with the
/// `attribute` of each as its value, and the layer's CRS. A numeric attribute (or text holding only numbers) is
/// the value itself; text names (as digitised in QGIS) map to 1, 2, … in sorted order ([`ShapeLayer`]). `layer`
/// picks a layer by name (default: the first). A missing attribute (the fields are listed), a feature without a
/// value, a non-polygon geometry or a layer without a CRS is an error naming the file.
pub fn read_shapes(path: &str, layer: Option<&str>, attribute: &str) -> Result<ShapeLayer> {
    let err = |reason: String| Error::Open { path: path.to_owned(), reason };
    if !std::path::Path::new(path).exists() && !path.starts_with("/vsi") {
        return Err(Error::NotFound { path: path.to_owned() });
    }
    let dataset = gdal::Dataset::open_ex(
        path,
        gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_VECTOR, ..Default::default() },
    )
    .map_err(|e| err(format!("not a vector file GDAL reads: {}", gdal_message(&e))))?;
    let mut layer = match layer {
        Some(name) => dataset.layer_by_name(name).map_err(|_| {
            let names: Vec<String> = dataset.layers().map(|l| l.name()).collect();
            err(format!("no layer `{name}` (layers: {})", names.join(", ")))
        })?,
        None => dataset.layer(0).map_err(|e| err(format!("no layer: {}", gdal_message(&e))))?,
    };
    let crs = match layer.spatial_ref() {
        Some(srs) => Crs::from_srs(&srs)?,
        None => return Err(err(format!("layer `{}` has no CRS", layer.name()))),
    };
    let fields: Vec<(String, u32)> = layer.defn().fields().map(|f| (f.name(), f.field_type())).collect();
    let Some(index) = fields.iter().position(|f| f.0 == attribute) else {
        let names: Vec<&str> = fields.iter().map(|f| f.0.as_str()).collect();
        return Err(err(format!("no attribute `{attribute}` (attributes: {})", names.join(", "))));
    };
    let text = fields[index].1 == gdal::vector::OGRFieldType::OFTString;
    let mut raw: Vec<(String, String)> = Vec::new();
    for (n, feature) in layer.features().enumerate() {
        let id = feature.fid().map_or_else(|| n.to_string(), |f| f.to_string());
        let value = if text {
            feature
                .field_as_string(index)
                .map_err(|e| err(format!("feature {id}: `{attribute}`: {}", gdal_message(&e))))?
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        } else {
            feature
                .field_as_double(index)
                .map_err(|e| err(format!("feature {id}: `{attribute}` is not a number: {}", gdal_message(&e))))?
                .map(|v| v.to_string())
        }
        .ok_or_else(|| err(format!("feature {id} has no `{attribute}` value")))?;
        let Some(geometry) = feature.geometry() else {
            return Err(err(format!("feature {id} has no geometry")));
        };
        let name = geometry.geometry_name();
        if !name.eq_ignore_ascii_case("POLYGON") && !name.eq_ignore_ascii_case("MULTIPOLYGON") {
            return Err(err(format!("feature {id} is a {name}, not a polygon")));
        }
        let wkt = geometry.wkt().map_err(|e| err(format!("feature {id}: {}", gdal_message(&e))))?;
        raw.push((wkt, value));
    }
    let numeric = raw.iter().all(|(_, v)| v.parse::<f64>().is_ok());
    let class_names: Vec<String> = if numeric {
        Vec::new()
    } else {
        let names: std::collections::BTreeSet<&String> = raw.iter().map(|(_, v)| v).collect();
        names.into_iter().cloned().collect()
    };
    let shapes = raw
        .into_iter()
        .map(|(wkt, v)| {
            let value = match v.parse::<f64>() {
                Ok(x) if numeric => x,
                _ => class_names.binary_search(&v).map_or(0.0, |i| (i + 1) as f64),
            };
            Shape { wkt, value }
        })
        .collect();
    Ok(ShapeLayer { shapes, crs, class_names })
}
