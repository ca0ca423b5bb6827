//! Tile grids over real AOIs: the eo-learn test patch's box and the Slovenian border (both GeoJSON in EPSG:32633
//! with the legacy `crs` member), an AOI across two UTM zones, the Norway and Svalbard exceptions, the cache, and
//! AOIs that are refused.

// Tile edges are whole multiples of the tile size in metres: they compare exactly.
#![allow(clippy::float_cmp)]

use eoforge_area::{Aoi, GridSpec, UtmZone, build_grid, load_or_build_grid};
use eoforge_raster::Crs;
use eoforge_testkit::fixture;
use geo::{Area, BooleanOps, MultiPolygon, Rect, coord};

fn lonlat_box(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Aoi {
    let text = format!(
        r#"{{"type": "Feature", "properties": {{}}, "geometry": {{"type": "Polygon", "coordinates":
            [[[{lon0}, {lat0}], [{lon1}, {lat0}], [{lon1}, {lat1}], [{lon0}, {lat1}], [{lon0}, {lat0}]]]}}}}"#
    );
    Aoi::from_geojson(&text, "box.geojson").expect("aoi")
}

#[test]
fn the_eolearn_patch_box_gets_the_four_kilometre_tiles_it_overlaps() {
    let Some(path) = fixture("aoi/eolearn_testpatch_bbox.geojson") else { return };
    let aoi = Aoi::read(&path).expect("aoi");
    assert_eq!(aoi.crs, "EPSG:32633");
    // 465181–466181 E, 5079245–5080255 N in zone 33: 1 km tiles (100 px of 10 m) 465–466 × 5079–5080.
    let grid = build_grid(&aoi, &GridSpec { tile_px: 100, resolution: 10.0, buffer_px: 8 }).expect("grid");
    let names: Vec<&str> = grid.tiles.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["33N_465_5079", "33N_465_5080", "33N_466_5079", "33N_466_5080"]);
    let t = grid.tile("33N_466_5080").expect("tile");
    assert_eq!(t.core, [466_000.0, 5_080_000.0, 467_000.0, 5_081_000.0]);
    assert_eq!(t.buffered, [465_920.0, 5_079_920.0, 467_080.0, 5_081_080.0]);
    assert_eq!(t.epsg(), 32_633);
}

#[test]
fn the_slovenian_border_is_covered_once_by_tiles_of_zone_33() {
    let Some(path) = fixture("aoi/svn_border.geojson") else { return };
    let aoi = Aoi::read(&path).expect("aoi");
    let spec = GridSpec { tile_px: 1000, resolution: 10.0, buffer_px: 0 };
    let grid = build_grid(&aoi, &spec).expect("grid");
    assert_eq!(grid.zones(), [UtmZone { number: 33, north: true }]);
    // The AOI in zone 33 lies inside the union of the tiles' cores; every tile overlaps it.
    let utm = Crs::from_epsg(32_633).expect("crs");
    let projected: Vec<_> = aoi
        .polygons
        .0
        .iter()
        .map(|p| {
            let mut pts: Vec<(f64, f64)> = p.exterior().coords().map(|c| (c.x, c.y)).collect();
            eoforge_raster::transform_points(&mut pts, &Crs::wgs84().expect("4326"), &utm).expect("transform");
            geo::Polygon::new(pts.into_iter().map(|(x, y)| coord! { x: x, y: y }).collect(), vec![])
        })
        .collect();
    let aoi_utm = MultiPolygon(projected);
    let cores = MultiPolygon(
        grid.tiles
            .iter()
            .map(|t| {
                Rect::new(coord! { x: t.core[0], y: t.core[1] }, coord! { x: t.core[2], y: t.core[3] }).to_polygon()
            })
            .collect(),
    );
    let outside = aoi_utm.difference(&cores).unsigned_area();
    assert!(outside < 1.0, "{outside} m² of the AOI outside every tile");
    let area_km2 = aoi_utm.unsigned_area() / 1e6;
    assert!((19_000.0..21_500.0).contains(&area_km2), "Slovenia's area: {area_km2} km²");
    for t in &grid.tiles {
        let core = Rect::new(coord! { x: t.core[0], y: t.core[1] }, coord! { x: t.core[2], y: t.core[3] }).to_polygon();
        assert!(aoi_utm.intersection(&MultiPolygon(vec![core])).unsigned_area() > 0.0, "{} misses the AOI", t.name);
    }
    assert!(grid.tiles.len() as f64 >= area_km2 / 100.0 && grid.tiles.len() < 400, "{} tiles", grid.tiles.len());

    // Cached by its parameters: the same grid back, and another spec builds anew.
    let dir = tempfile::tempdir().expect("tempdir");
    let (built, cached) = load_or_build_grid(dir.path(), &aoi, &spec).expect("build");
    assert!(!cached && built == grid);
    let (again, cached) = load_or_build_grid(dir.path(), &aoi, &spec).expect("cache");
    assert!(cached && again == grid);
    let other = GridSpec { buffer_px: 16, ..spec };
    let (_, cached) = load_or_build_grid(dir.path(), &aoi, &other).expect("other");
    assert!(!cached);
}

#[test]
fn an_aoi_across_two_zones_gets_tiles_in_both_split_at_the_zone_border() {
    let aoi = lonlat_box(11.5, 46.0, 12.5, 46.3);
    let grid = build_grid(&aoi, &GridSpec { tile_px: 500, resolution: 10.0, buffer_px: 0 }).expect("grid");
    let labels: Vec<String> = grid.zones().iter().map(|z| z.label()).collect();
    assert_eq!(labels, ["32N", "33N"]);
    let wgs = Crs::wgs84().expect("4326");
    for t in &grid.tiles {
        let mut corners = vec![(t.core[0], t.core[1]), (t.core[2], t.core[3])];
        eoforge_raster::transform_points(&mut corners, &Crs::from_epsg(t.epsg()).expect("crs"), &wgs).expect("back");
        // Zone 32's tiles start west of 12° E, zone 33's end east of it.
        match t.zone.number {
            32 => assert!(corners[0].0 < 12.0, "{} starts at {:?}", t.name, corners[0]),
            33 => assert!(corners[1].0 > 12.0, "{} ends at {:?}", t.name, corners[1]),
            _ => panic!("{}", t.name),
        }
    }
    let mut names: Vec<&str> = grid.tiles.iter().map(|t| t.name.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), grid.tiles.len(), "unique names");
}

#[test]
fn norway_and_svalbard_take_their_exception_zones() {
    let bergen =
        build_grid(&lonlat_box(5.0, 60.0, 5.5, 60.2), &GridSpec { tile_px: 1000, resolution: 10.0, buffer_px: 0 })
            .expect("grid");
    assert_eq!(bergen.zones(), [UtmZone { number: 32, north: true }]);
    let svalbard =
        build_grid(&lonlat_box(10.0, 78.0, 11.0, 78.2), &GridSpec { tile_px: 1000, resolution: 10.0, buffer_px: 0 })
            .expect("grid");
    assert_eq!(svalbard.zones(), [UtmZone { number: 33, north: true }]);
}

#[test]
fn aois_that_cannot_work_are_refused_naming_the_file() {
    for (text, expected) in [
        (r#"{"type": "Point", "coordinates": [14.5, 46.0]}"#, "a Point, not a Polygon"),
        (
            r#"{"type": "Polygon", "coordinates": [[[465181, 5079244], [466180, 5079244], [466180, 5080254], [465181, 5079244]]]}"#,
            "not a longitude/latitude",
        ),
        (r#"{"type": "FeatureCollection", "features": []}"#, "no polygon"),
        ("{not json", "not JSON"),
        (
            r#"{"type": "Polygon", "crs": {"type": "name", "properties": {"name": "local"}}, "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}"#,
            "not an EPSG code",
        ),
    ] {
        let err = Aoi::from_geojson(text, "aoi.geojson").expect_err(expected);
        assert!(err.to_string().contains("AOI `aoi.geojson`") && err.to_string().contains(expected), "{err}");
    }
    let aoi = lonlat_box(14.0, 46.0, 14.1, 46.1);
    let err = build_grid(&aoi, &GridSpec { tile_px: 0, resolution: 10.0, buffer_px: 0 }).expect_err("zero tile");
    assert!(err.to_string().contains("tile_px 0"), "{err}");
    let err = build_grid(&aoi, &GridSpec { tile_px: 100, resolution: 10.0, buffer_px: 100 }).expect_err("buffer");
    assert!(err.to_string().contains("buffer_px 100"), "{err}");
}
