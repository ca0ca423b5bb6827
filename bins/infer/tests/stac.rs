//! `predict --stac-item`: a real Earth Search Sentinel-2 Item's assets as the scene, read in place from local files
//! and from a real S3 server; the product and its STAC Item keep the Item's bands, grid and time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eoforge_testkit::{S3Server, fixture};
use serde_json::{Value, json};

fn infer(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eoforge-infer"));
    cmd.args(args).env_remove("EOFORGE_S3_ENDPOINT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run eoforge-infer")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_at(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).expect("json")
}

/// The fixture Item with each used asset's href replaced by `href(file name)`.
fn item_with_hrefs(href: impl Fn(&str) -> String) -> Option<(Value, PathBuf)> {
    let dir = fixture("s2-l2a-29RKH")?;
    let mut item = json_at(&dir.join("S2A_29RKH_20200219_0_L2A.json"));
    for (key, file) in
        [("blue", "B02.tif"), ("green", "B03.tif"), ("red", "B04.tif"), ("nir", "B08.tif"), ("swir16", "B11.tif")]
    {
        item["assets"][key]["href"] = json!(href(file));
    }
    Some((item, dir))
}

#[test]
fn an_items_assets_are_the_scene_and_the_product_keeps_its_bands_grid_and_time() {
    let Some(dir) = fixture("s2-l2a-29RKH") else { return };
    let Some((item, _)) = item_with_hrefs(|file| dir.join(file).display().to_string()) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let item_path = work.path().join("item.json");
    std::fs::write(&item_path, serde_json::to_vec(&item).expect("json")).expect("item");
    let item_s = item_path.display().to_string();
    let dest = work.path().join("out/T29RKH.tif");
    let dest_s = dest.display().to_string();
    // Common names and a key; swir16 (20 m) joins the 10 m bands on their grid.
    let collection = work.path().join("catalog").display().to_string();
    let args = [
        "predict",
        "--stac-item",
        &item_s,
        "--assets",
        "blue,green,red,nir,swir16",
        &dest_s,
        "--model",
        "identity",
        "--stac-collection",
        &collection,
    ];
    let out = infer(&args, &[]);
    assert!(out.status.success(), "{}", text(&out));

    let raster = eoforge_raster::Raster::open(&dest_s).expect("product");
    let b04 = eoforge_raster::Raster::open(&dir.join("B04.tif").display().to_string()).expect("B04");
    assert_eq!((raster.width(), raster.height(), raster.band_count()), (1098, 1098, 5));
    assert_eq!(raster.geo_transform(), b04.geo_transform());
    assert_eq!(raster.crs().and_then(|c| c.epsg), Some(32629));
    let names: Vec<String> = (1..=5).map(|b| raster.band_description(b).expect("name")).collect();
    assert_eq!(names, ["blue", "green", "red", "nir", "swir16"]);
    let meta = raster.metadata().expect("metadata");
    assert_eq!(meta.bands.iter().map(|b| b.scale).collect::<Vec<_>>(), vec![Some(0.0001); 5], "the Item's scale");
    assert_eq!(raster.nodata(1).expect("nodata"), Some(0.0));
    // Red is B04's pixels.
    let window = eoforge_raster::Window { col: 300, row: 300, width: 64, height: 64 };
    let red: ndarray::Array3<u16> = raster.read_window(window, Some(&[3])).expect("read");
    let original: ndarray::Array3<u16> = b04.read_window(window, None).expect("read");
    assert_eq!(red, original);

    // The product's STAC Item: derived from the Item, at its time, with its bands' names.
    let product_item = json_at(&work.path().join("out/T29RKH.tif.json"));
    assert_eq!(product_item["properties"]["datetime"], item["properties"]["datetime"]);
    assert_eq!(product_item["links"][0]["href"], item_s.as_str());
    let eo: Vec<&str> = product_item["assets"]["data"]["eo:bands"]
        .as_array()
        .expect("eo:bands")
        .iter()
        .filter_map(|b| b["common_name"].as_str())
        .collect();
    assert_eq!(eo, ["blue", "green", "red", "nir", "swir16"]);
    assert_eq!(product_item["assets"]["data"]["raster:bands"][2]["scale"], json!(0.0001));

    // A second product joins the static collection; a rerun of the first (already published) changes nothing.
    let second = work.path().join("out/T29RKH_rn.tif").display().to_string();
    let args2 = ["predict", "--stac-item", &item_s, "--assets", "red,nir", &second, "--model", "identity"];
    let out = infer(&[&args2[..], &["--stac-collection", &collection]].concat(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = infer(&args, &[]);
    assert!(out.status.success(), "{}", text(&out));
    if let Some(python) = eoforge_testkit::python_with(&["pystac"]) {
        let script = r#"
import json, sys
import pystac
root = pystac.Catalog.from_file(sys.argv[1] + "/catalog.json")
collection = next(iter(root.get_children()))
items = sorted(collection.get_items(), key=lambda i: i.id)
print(json.dumps({
    "type": collection.STAC_OBJECT_TYPE.value, "ids": [i.id for i in items],
    "bbox": collection.extent.spatial.bboxes[0],
    "interval": [t.isoformat() if t else None for t in collection.extent.temporal.intervals[0]],
    "item_bboxes": [i.bbox for i in items], "collections": [i.collection_id for i in items],
}))
"#;
        let out = Command::new(python).args(["-c", script, &collection]).output().expect("python");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let read: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(read["type"], "Collection");
        assert_eq!(read["ids"], json!(["T29RKH", "T29RKH_rn"]), "{read}");
        assert_eq!(read["collections"], json!(["catalog", "catalog"]));
        assert_eq!(read["bbox"], read["item_bboxes"][0], "{read}");
        assert!(read["interval"][0].as_str().is_some_and(|t| t.starts_with("2020-02-19T11:34:25")), "{read}");
    }
    // The catalog, the collection and its Items are valid against the STAC schemas.
    let root = PathBuf::from(&collection);
    let files = [root.join("catalog.json"), root.join("collection.json"), root.join("items/T29RKH.json")];
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    if let Some(report) = eoforge_testkit::validate_stac(&paths) {
        assert_eq!(report.matches(": valid").count(), 3, "{report}");
    }

    // `cog` takes the Item as its source too.
    let cog = work.path().join("cog/rn.tif").display().to_string();
    let out = infer(&["cog", "--stac-item", &item_s, "--assets", "red,nir", &cog], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let raster = eoforge_raster::Raster::open(&cog).expect("cog");
    assert_eq!((raster.band_count(), raster.band_description(1).expect("name")), (2, "red".to_owned()));
    let cog_item = json_at(Path::new(&format!("{cog}.json")));
    assert_eq!(cog_item["properties"]["datetime"], item["properties"]["datetime"]);
    assert_eq!(cog_item["links"][0]["href"], item_s.as_str());

    // An asset the Item lacks is named with those it has; no product, no working files.
    let bad = work.path().join("bad.tif").display().to_string();
    let out = infer(&["predict", "--stac-item", &item_s, "--assets", "red,swir99", &bad, "--model", "identity"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("swir99") && text(&out).contains("rededge1"), "{}", text(&out));
    assert!(!Path::new(&bad).exists());
    // Flags: --assets is needed, and SOURCE with an Item is refused.
    let out = infer(&["predict", "--stac-item", &item_s, &bad, "--model", "identity"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = infer(&["predict", "--stac-item", &item_s, "--assets", "red", &item_s, &bad, "--model", "identity"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("DEST alone"), "{}", text(&out));
    // A Collection is not a scene.
    let collection = work.path().join("collection.json");
    std::fs::write(&collection, br#"{"type": "Collection", "id": "sentinel-2-l2a"}"#).expect("write");
    let c = collection.display().to_string();
    let out = infer(&["predict", "--stac-item", &c, "--assets", "red", &bad, "--model", "identity"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Collection") && text(&out).contains("collection.json"), "{}", text(&out));
}

#[test]
fn an_item_on_s3_with_relative_hrefs_is_read_in_place() {
    let Some((item, dir)) = item_with_hrefs(|file| format!("./{file}")) else { return };
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("scenes");
    let endpoint = server.endpoint();
    let env = [
        ("AWS_ACCESS_KEY_ID", server.access_key()),
        ("AWS_SECRET_ACCESS_KEY", server.secret_key()),
        ("EOFORGE_S3_ENDPOINT", endpoint.as_str()),
    ];
    let mut options = eoforge_storage::StoreOptions::default();
    options.s3.endpoint = Some(endpoint.clone());
    options.s3.access_key_id = Some(server.access_key().into());
    options.s3.secret_access_key = Some(eoforge_storage::Secret::new(server.secret_key()));
    let store = eoforge_storage::Store::open_with("s3://scenes/29RKH", &options).expect("store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for file in ["B04.tif", "B08.tif"] {
        rt.block_on(store.put_file(file, &dir.join(file))).expect("upload");
    }
    let bytes = serde_json::to_vec(&item).expect("json");
    rt.block_on(store.put("item.json", bytes.into())).expect("upload item");

    let work = tempfile::tempdir().expect("tempdir");
    let dest = work.path().join("ndvi-in.tif").display().to_string();
    let args =
        ["predict", "--stac-item", "s3://scenes/29RKH/item.json", "--assets", "red,nir", &dest, "--model", "identity"];
    let out = infer(&args, &env);
    assert!(out.status.success(), "{}", text(&out));
    let local = eoforge_raster::Raster::open(&dir.join("B08.tif").display().to_string()).expect("B08");
    let product = eoforge_raster::Raster::open(&dest).expect("product");
    let window = eoforge_raster::Window { col: 0, row: 0, width: 1098, height: 1098 };
    let nir: ndarray::Array3<u16> = product.read_window(window, Some(&[2])).expect("read");
    assert_eq!(nir, local.read_window::<u16>(window, None).expect("read"));
    let product_item = json_at(Path::new(&format!("{dest}.json")));
    assert_eq!(product_item["links"][0]["href"], "s3://scenes/29RKH/item.json");
    // The secret never reaches the product's records.
    for file in [format!("{dest}.json"), format!("{dest}.qc.json"), format!("{dest}.profile.json")] {
        let body = std::fs::read_to_string(&file).expect("record");
        assert!(!body.contains(server.secret_key()), "{file} holds the secret");
    }
}

#[test]
fn a_stac_api_search_finds_the_days_item_for_a_tile_by_a_stated_rule() {
    let Some(dir) = fixture("s2-l2a-29RKH") else { return };
    let Some((item, _)) = item_with_hrefs(|file| dir.join(file).display().to_string()) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    // The real Item (4 % cloud), a cloudier product of the same day and tile, and the next tile's.
    let mut cloudy = item.clone();
    cloudy["id"] = json!("S2B_29RKH_20200219_1_L2A");
    cloudy["properties"]["eo:cloud_cover"] = json!(30.0);
    let mut neighbour = item.clone();
    neighbour["id"] = json!("S2A_29RKJ_20200219_0_L2A");
    neighbour["properties"]["grid:code"] = json!("MGRS-29RKJ");
    neighbour["properties"]["eo:cloud_cover"] = json!(0.5);
    let mut files = Vec::new();
    for (name, value) in [("a.json", &item), ("b.json", &cloudy), ("c.json", &neighbour)] {
        let path = work.path().join(name);
        // Served as an API serves its own: the links to Earth Search (self, parent, …) go.
        let mut value = value.clone();
        value["links"] = json!([]);
        std::fs::write(&path, serde_json::to_vec(&value).expect("json")).expect("write");
        files.push(path);
    }
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let Some(api) = eoforge_testkit::StacApiServer::start(&paths) else { return };
    let search = |dest: &str, extra: &[&str]| {
        let base = ["predict", "--stac-api", api.url(), "--collection", "sentinel-2-l2a", "--mgrs", "29rkh"];
        let args =
            [&base[..], &["--date", "20200219", "--assets", "red,nir", dest, "--model", "identity"], extra].concat();
        infer(&args, &[])
    };
    let linked =
        |dest: &str| json_at(Path::new(&format!("{dest}.json")))["links"][0]["href"].as_str().map(str::to_owned);

    let first = work.path().join("first.tif").display().to_string();
    let out = search(&first, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let link = linked(&first);
    assert!(
        link.as_ref().is_some_and(|l| l.starts_with(api.url()) && l.ends_with("/S2A_29RKH_20200219_0_L2A")),
        "{link:?}"
    );
    let product = eoforge_raster::Raster::open(&first).expect("product");
    assert_eq!((product.band_count(), product.band_description(2).expect("name")), (2, "nir".to_owned()));

    let second = work.path().join("second.tif").display().to_string();
    let out = search(&second, &["--s2-index", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(linked(&second).is_some_and(|l| l.ends_with("/S2B_29RKH_20200219_1_L2A")), "{:?}", linked(&second));

    let none = work.path().join("none.tif").display().to_string();
    let out = search(&none, &["--s2-index", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("0: S2A_29RKH_20200219_0_L2A") && text(&out).contains("1: S2B_29RKH"),
        "{}",
        text(&out)
    );
    let out = search(&none, &["--max-cloud", "10", "--s2-index", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let base = ["predict", "--stac-api", api.url(), "--collection", "sentinel-2-l2a", "--mgrs", "29RKH"];
    let out =
        infer(&[&base[..], &["--date", "2020-02-20", "--assets", "red", &none, "--model", "identity"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no Item") && text(&out).contains("MGRS-29RKH"), "{}", text(&out));
    assert!(!Path::new(&none).exists());
    // --date is needed.
    let out = infer(&[&base[..], &["--assets", "red", &none, "--model", "identity"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
