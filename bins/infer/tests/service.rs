//! `serve`: the request queue on a real PostgreSQL server (Debian's, started by `scripts/postgres.sh`) with scenes
//! found in a real STAC API server (`rustac serve`) over the real Earth Search 29RKH Item: requests published in
//! order and recorded, reruns, failing requests retried then failed, QC rejections that publish nothing, workers
//! running at once, a killed worker's request taken over, and SIGTERM finishing the current request.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use eoforge_testkit::{HttpReceiver, PostgresServer, StacApiServer, fixture};
use serde_json::{Value, json};

/// The database password: planted, it must appear in no output, row or message.
const PASSWORD: &str = "pg-s3cr3t-7f2a";

/// A PostgreSQL server with a database for this test, and a STAC API serving the 29RKH Item (hrefs at the local
/// fixture files).
struct Setup {
    pg: PostgresServer,
    db: String,
    queue: String,
    api: StacApiServer,
    work: tempfile::TempDir,
    /// The Item's lon/lat box.
    bbox: [f64; 4],
}

impl Setup {
    fn start(db: &str) -> Option<Self> {
        Self::start_with(db, false)
    }

    /// With `postgis`, the server can also hold a pgstac catalogue.
    fn start_with(db: &str, postgis: bool) -> Option<Self> {
        let dir = fixture("s2-l2a-29RKH")?;
        let pg = if postgis { PostgresServer::start_postgis(PASSWORD)? } else { PostgresServer::start(PASSWORD)? };
        let queue = pg.database(db);
        let work = tempfile::tempdir().expect("tempdir");
        let mut item: Value =
            serde_json::from_slice(&std::fs::read(dir.join("S2A_29RKH_20200219_0_L2A.json")).expect("item"))
                .expect("json");
        for (key, file) in [("blue", "B02.tif"), ("green", "B03.tif"), ("red", "B04.tif"), ("nir", "B08.tif")] {
            item["assets"][key]["href"] = json!(dir.join(file).display().to_string());
        }
        item["links"] = json!([]);
        let bbox: Vec<f64> = serde_json::from_value(item["bbox"].clone()).expect("bbox");
        let path = work.path().join("item.json");
        std::fs::write(&path, serde_json::to_vec(&item).expect("json")).expect("write");
        let api = StacApiServer::start(&[path.as_path()])?;
        Some(Self { pg, db: db.into(), queue, api, work, bbox: [bbox[0], bbox[1], bbox[2], bbox[3]] })
    }

    /// A small area inside the scene: the `i`-th of a row of boxes across its middle.
    fn aoi(&self, index: usize) -> String {
        let [west, south, east, north] = self.bbox;
        let (dx, dy) = ((east - west) / 12.0, (north - south) / 12.0);
        let left = west + dx * (2.0 + index as f64);
        let bottom = south + dy * 5.0;
        format!("{left:.5},{bottom:.5},{:.5},{:.5}", left + dx * 0.6, bottom + dy * 0.6)
    }

    fn store(&self) -> String {
        self.work.path().join("products").display().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eoforge-infer"));
        cmd.args(args).env("EOFORGE_QUEUE", &self.queue).env_remove("EOFORGE_S3_ENDPOINT").env_remove("EOFORGE_NOTIFY");
        cmd
    }

    fn infer(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run eoforge-infer");
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!all.contains(PASSWORD), "the database password was printed: {all}");
        out
    }

    /// `serve` with the service flags every test uses, then `extra`.
    fn serve_args<'a>(&'a self, store: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let base = ["serve", "--store", store, "--stac-api", self.api.url(), "--model", "identity"];
        [&base[..], &["--window", "64", "--halo", "8"], extra].concat()
    }

    fn submit(&self, aoi: &str, extra: &[&str]) -> i64 {
        let out = self.infer(&[&["serve", "submit", "--aoi", aoi, "--date", "2020-02-19"][..], extra].concat());
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("the request id on stdout")
    }

    fn rows(&self) -> Vec<Value> {
        let out = self.infer(&["serve", "list", "--json"]);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("list --json")
    }

    fn row(&self, id: i64) -> Value {
        self.rows().into_iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no request {id}"))
    }

    fn sql(&self, sql: &str) -> String {
        self.pg.psql(&self.db, sql)
    }

    /// Waits (with a deadline, no fixed sleep) until `sql` answers `want`.
    fn wait_sql(&self, sql: &str, want: &str, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.sql(sql) != want {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the worker exited ({status}) before `{sql}` gave {want}");
            }
            assert!(Instant::now() < deadline, "`{sql}` never gave {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill");
    assert!(ok.success(), "kill -{name}");
}

#[test]
fn requests_are_searched_made_checked_published_and_recorded_and_reruns_keep_current_products() {
    let Some(s) = Setup::start("published") else { return };
    let hook = HttpReceiver::start(vec![]);
    let init = s.infer(&["serve", "--init-db"]);
    assert!(init.status.success(), "{}", text(&init));
    assert!(text(&init).contains("0 -> 1"), "{}", text(&init));
    let again = s.infer(&["serve", "--init-db"]);
    assert!(again.status.success() && text(&again).contains("already current"), "{}", text(&again));

    // A box with NDVI, at low priority; a GeoJSON area over a range of days, first by priority.
    let first = s.submit(&s.aoi(0), &["--derivatives", "ndvi"]);
    let [w, so, _, _] = s.bbox;
    let geojson = json!({ "type": "Feature", "properties": {}, "geometry": { "type": "Polygon", "coordinates":
        [[[w + 0.3, so + 0.4], [w + 0.33, so + 0.4], [w + 0.33, so + 0.43], [w + 0.3, so + 0.4]]] } });
    let out = s.infer(&[
        "serve",
        "submit",
        "--aoi",
        &geojson.to_string(),
        "--date",
        "2020-02-01/2020-02-29",
        "--priority",
        "5",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let second: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("id");
    assert_eq!(s.row(first)["status"], "pending");

    let store = s.store();
    let notify = hook.url("/hook/T0000/B0000/XXXXsecret");
    let out = s.infer(&s.serve_args(&store, &["--once", "--notify", &notify]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 claimed, 2 published, 0 rejected, 0 failed"), "{}", text(&out));
    // Priority first: the second request was claimed before the first.
    let order: Vec<usize> = [second, first]
        .iter()
        .map(|id| text(&out).find(&format!("request {id}: attempt 1")).expect("claimed"))
        .collect();
    assert!(order[0] < order[1], "{}", text(&out));

    for id in [first, second] {
        let row = s.row(id);
        assert_eq!((row["status"].as_str(), row["attempts"].as_i64()), (Some("published"), Some(1)), "{row}");
        assert!(row["error"].is_null() && row["finished_at"].is_string(), "{row}");
        assert!(row["scene"].as_str().is_some_and(|l| l.ends_with("/S2A_29RKH_20200219_0_L2A")), "{row}");
        assert_eq!(row["qc_report"]["passed"], true, "{row}");
        let dest = format!("{store}/{id}/S2A_29RKH_20200219_0_L2A.tif");
        let products: Vec<&str> =
            row["products"].as_array().expect("products").iter().filter_map(Value::as_str).collect();
        assert_eq!(products[0], dest, "{row}");
        for product in &products {
            assert!(Path::new(product).is_file(), "{product} is listed but missing");
        }
        assert_eq!(row["item"].as_str(), Some(format!("{dest}.json").as_str()));
        // The product covers the request's area, in the scene's CRS, and its Item links the API's Item; the Item is
        // valid against the STAC schemas (core, projection, raster, eo).
        let report = eoforge_testkit::validate_stac(&[Path::new(&format!("{dest}.json"))]).expect("validator");
        assert!(report.contains(": valid"), "{report}");
        let item: Value = serde_json::from_slice(&std::fs::read(format!("{dest}.json")).expect("item")).expect("json");
        assert_eq!(item["properties"]["proj:code"], "EPSG:32629");
        // A true-colour preview (the Item's red, green and blue assets) beside it.
        let thumbnail = item["assets"]["thumbnail"]["href"].as_str().expect("thumbnail");
        assert!(std::fs::read(thumbnail).expect("preview").starts_with(b"\x89PNG"), "{thumbnail}");
        assert!(
            item["links"]
                .as_array()
                .expect("links")
                .iter()
                .any(|l| l["rel"] == "derived_from" && l["href"].as_str().is_some_and(|h| h.starts_with(s.api.url())))
        );
        let bbox = &item["bbox"];
        let asked: Vec<f64> = row["bbox"].as_array().expect("bbox").iter().filter_map(Value::as_f64).collect();
        // The product is the asked box snapped outward to the scene's pixels (100 m here): within 0.002°.
        for (k, want) in asked.iter().enumerate() {
            let got = bbox[k].as_f64().expect("bbox value");
            assert!((got - want).abs() < 0.002, "product bbox {bbox} vs asked {asked:?}");
        }
    }
    let first_row = s.row(first);
    assert_eq!(first_row["products"].as_array().map(Vec::len), Some(4), "COG, NDVI, Item, QC report: {first_row}");
    assert!(first_row["products"][1].as_str().is_some_and(|p| p.ends_with("_ndvi.tif")), "{first_row}");

    // One message per request, the database password in none.
    let received = hook.received();
    assert_eq!(received.len(), 2, "{received:?}");
    for r in &received {
        let body = String::from_utf8_lossy(&r.body);
        assert!(body.contains("\"verdict\":\"published\"") && body.contains("request "), "{body}");
        assert!(!body.contains(PASSWORD), "{body}");
    }

    // Nothing left: a second run claims nothing and changes nothing.
    let before =
        s.sql("SELECT string_agg(id || status || attempts || updated_at, ',' ORDER BY id) FROM eoforge_requests");
    let out = s.infer(&s.serve_args(&store, &["--once"]));
    assert!(out.status.success() && text(&out).contains("0 claimed"), "{}", text(&out));
    assert_eq!(
        s.sql("SELECT string_agg(id || status || attempts || updated_at, ',' ORDER BY id) FROM eoforge_requests"),
        before
    );

    // A rerun: the request back in the queue keeps its current product (same options, passing report).
    let stamp = std::fs::metadata(format!("{store}/{first}/S2A_29RKH_20200219_0_L2A.tif")).and_then(|m| m.modified());
    let out = s.infer(&["serve", "retry", &first.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.row(first)["status"], "pending");
    let out = s.infer(&["serve", "retry", &first.to_string()]);
    assert_eq!(out.status.code(), Some(1), "a pending request is not retried: {}", text(&out));
    let out = s.infer(&s.serve_args(&store, &["--once"]));
    assert!(out.status.success() && text(&out).contains("current product kept"), "{}", text(&out));
    assert_eq!(s.row(first)["status"], "published");
    assert_eq!(
        std::fs::metadata(format!("{store}/{first}/S2A_29RKH_20200219_0_L2A.tif")).and_then(|m| m.modified()).ok(),
        stamp.ok()
    );
    // Made with other options (another blend), the product is made again.
    s.infer(&["serve", "retry", &first.to_string()]);
    let out = s.infer(&s.serve_args(&store, &["--once", "--blend", "center"]));
    assert!(out.status.success() && !text(&out).contains("current product kept"), "{}", text(&out));
    assert_eq!(s.row(first)["status"], "published");

    // Usage errors exit 2 and name the flag.
    let out = s.infer(&["serve", "submit", "--aoi", "500000,4100000,510000,4110000", "--date", "2020-02-19"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("WGS 84"), "{}", text(&out));
    let out = s.infer(&["serve", "--store", &store, "--stac-api", s.api.url(), "--once"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--model"), "{}", text(&out));
}

#[test]
fn failing_requests_are_retried_then_failed_and_qc_rejections_publish_nothing() {
    let Some(s) = Setup::start("failures") else { return };
    // No queue yet: the service says how to make one.
    let store = s.store();
    let out = s.infer(&s.serve_args(&store, &["--once"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("serve --init-db") && text(&out).contains("postgres:***@"), "{}", text(&out));
    assert!(s.infer(&["serve", "--init-db"]).status.success());

    // No scene that day: searched twice, then failed with the search's error.
    let none = s.infer(&["serve", "submit", "--aoi", &s.aoi(0), "--date", "2020-02-20"]);
    let none: i64 = String::from_utf8_lossy(&none.stdout).trim().parse().expect("id");
    // For the strict service only: its QC allows means in 0..1 only, so the product is rejected.
    let strict = s.submit(&s.aoi(1), &["--model", "strict"]);
    let out = s.infer(&s.serve_args(&store, &["--once", "--max-attempts", "2", "--retry-delay", "0.001"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 claimed, 0 published, 0 rejected, 2 failed"), "{}", text(&out));
    let row = s.row(none);
    assert_eq!((row["status"].as_str(), row["attempts"].as_i64()), (Some("failed"), Some(2)), "{row}");
    assert_eq!(row["stage"], "search", "{row}");
    assert!(row["error"].as_str().is_some_and(|e| e.contains("no Item") && e.contains("2020-02-20")), "{row}");
    assert_eq!(s.row(strict)["status"], "pending", "another model's request is left alone");

    let out = s.infer(&s.serve_args(&store, &["--once", "--model-name", "strict", "--mean-range", "0,1"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 rejected"), "{}", text(&out));
    let row = s.row(strict);
    assert_eq!((row["status"].as_str(), row["stage"].as_str()), (Some("rejected"), Some("qc")), "{row}");
    assert_eq!(row["qc_report"]["passed"], false, "{row}");
    assert!(row["error"].as_str().is_some_and(|e| e.contains("mean")), "{row}");
    assert!(row["products"].as_array().is_none_or(Vec::is_empty), "{row}");
    // Nothing published for it: no COG, no Item.
    let folder = PathBuf::from(&store).join(strict.to_string());
    let published: Vec<String> = std::fs::read_dir(&folder)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let product = Path::new("S2A_29RKH_20200219_0_L2A.tif");
    assert!(
        published.iter().all(|f| Path::new(f) != product && *f != format!("{}.json", product.display())),
        "{published:?}"
    );

    // The failed request rerun after the cause is gone (here: a service that finds it) — it is published.
    let out = s.infer(&["serve", "retry", &none.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    s.sql(&format!("UPDATE eoforge_requests SET date_from = '2020-02-19', date_to = '2020-02-19' WHERE id = {none}"));
    let out = s.infer(&s.serve_args(&store, &["--once"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.row(none)["status"], "published", "{}", text(&out));
}

#[test]
fn workers_running_at_once_never_share_a_request_and_publish_to_s3() {
    let Some(s) = Setup::start("concurrent") else { return };
    let Some(server) = eoforge_testkit::S3Server::start() else { return };
    server.create_bucket("maps");
    let endpoint = server.endpoint();
    assert!(s.infer(&["serve", "--init-db"]).status.success());
    let ids: Vec<i64> = (0..6).map(|i| s.submit(&s.aoi(i), &[])).collect();
    let store = "s3://maps/requests";
    let workers: Vec<Child> = (0..3)
        .map(|n| {
            let name = format!("w{n}");
            s.command(&s.serve_args(store, &["--once", "--worker", &name]))
                .env("AWS_ACCESS_KEY_ID", server.access_key())
                .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
                .env("EOFORGE_S3_ENDPOINT", &endpoint)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a worker")
        })
        .collect();
    let mut claimed = 0;
    for worker in workers {
        let out = worker.wait_with_output().expect("worker");
        assert!(out.status.success(), "{}", text(&out));
        assert!(!text(&out).contains(server.secret_key()), "{}", text(&out));
        claimed += text(&out).matches(": attempt 1,").count();
    }
    assert_eq!(claimed, ids.len(), "every request claimed exactly once over all workers");
    let mut options = eoforge_storage::StoreOptions::default();
    options.s3.endpoint = Some(endpoint.clone());
    options.s3.access_key_id = Some(server.access_key().into());
    options.s3.secret_access_key = Some(eoforge_storage::Secret::new(server.secret_key()));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for id in ids {
        let row = s.row(id);
        assert_eq!((row["status"].as_str(), row["attempts"].as_i64()), (Some("published"), Some(1)), "{row}");
        let products: Vec<&str> =
            row["products"].as_array().expect("products").iter().filter_map(Value::as_str).collect();
        assert_eq!(products.first().copied(), Some(format!("{store}/{id}/S2A_29RKH_20200219_0_L2A.tif").as_str()));
        for product in products {
            let (bucket, key) = eoforge_storage::Store::open_object(product, &options).expect("store");
            assert!(rt.block_on(bucket.exists(&key)).expect("exists"), "{product} is listed but not on S3");
        }
    }
}

#[test]
fn a_killed_workers_request_is_taken_over_and_sigterm_finishes_the_current_request() {
    let Some(s) = Setup::start("killed") else { return };
    assert!(s.infer(&["serve", "--init-db"]).status.success());
    let store = s.store();
    let id = s.submit(&s.aoi(0), &[]);
    let mut worker = s
        .command(&s.serve_args(&store, &["--worker", "doomed", "--poll", "0.2"]))
        .stderr(Stdio::null())
        .spawn()
        .expect("worker");
    s.wait_sql(&format!("SELECT status || worker FROM eoforge_requests WHERE id = {id}"), "runningdoomed", &mut worker);
    signal(&worker, "STOP");
    signal(&worker, "KILL");
    let _ = worker.wait();
    // Its lease holds: another worker leaves it alone until the lease ends.
    let out = s.infer(&s.serve_args(&store, &["--once", "--worker", "heir"]));
    assert!(out.status.success() && text(&out).contains("0 claimed"), "{}", text(&out));
    assert_eq!(s.row(id)["status"], "running");
    // The lease ends (as it would 5 minutes after the last renewal): the next worker takes it over.
    s.sql(&format!("UPDATE eoforge_requests SET lease_until = now() - interval '1 second' WHERE id = {id}"));
    let out = s.infer(&s.serve_args(&store, &["--once", "--worker", "heir"]));
    assert!(out.status.success(), "{}", text(&out));
    let row = s.row(id);
    assert_eq!(
        (row["status"].as_str(), row["attempts"].as_i64(), row["worker"].as_str()),
        (Some("published"), Some(2), Some("heir")),
        "{row}"
    );

    // SIGTERM while a request runs: it is finished and recorded, the rest stay pending, exit 0.
    let more: Vec<i64> = (1..4).map(|i| s.submit(&s.aoi(i), &[])).collect();
    let mut worker = s
        .command(&s.serve_args(&store, &["--worker", "graceful", "--poll", "0.2"]))
        .stderr(Stdio::piped())
        .spawn()
        .expect("worker");
    s.wait_sql("SELECT count(*) FROM eoforge_requests WHERE status = 'running'", "1", &mut worker);
    signal(&worker, "STOP");
    signal(&worker, "TERM");
    signal(&worker, "CONT");
    let out = worker.wait_with_output().expect("worker");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("stopped on request"), "{}", text(&out));
    let statuses: Vec<String> =
        more.iter().map(|id| s.row(*id)["status"].as_str().unwrap_or_default().to_owned()).collect();
    assert!(statuses.iter().all(|st| st == "published" || st == "pending"), "{statuses:?}");
    assert!(statuses.iter().any(|st| st == "published") && statuses.iter().any(|st| st == "pending"), "{statuses:?}");
    for (id, st) in more.iter().zip(&statuses) {
        if st == "published" {
            assert!(Path::new(&format!("{store}/{id}/S2A_29RKH_20200219_0_L2A.tif")).is_file());
        }
    }
}

#[test]
fn published_requests_items_reach_a_stac_api_with_transactions() {
    let Some(s) = Setup::start_with("catalogued", true) else { return };
    let Some(catalogue) = eoforge_testkit::PgStacApi::start(&s.pg) else { return };
    assert!(s.infer(&["serve", "--init-db"]).status.success());
    let id = s.submit(&s.aoi(0), &["--derivatives", "ndvi"]);
    let store = s.store();
    let collection = format!("{}/collections/sr-products", catalogue.url());
    let out = s.infer(&s.serve_args(&store, &["--once", "--stac-publish", &collection]));
    assert!(out.status.success() && text(&out).contains("1 published"), "{}", text(&out));
    let item_path = "/collections/sr-products/items/S2A_29RKH_20200219_0_L2A";
    let (status, body) = catalogue.get(item_path);
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).expect("item json");
    let written: Value = serde_json::from_slice(
        &std::fs::read(format!("{store}/{id}/S2A_29RKH_20200219_0_L2A.tif.json")).expect("item file"),
    )
    .expect("json");
    assert_eq!(served["collection"], "sr-products");
    assert_eq!(served["assets"]["data"]["href"], written["assets"]["data"]["href"]);
    assert_eq!(served["properties"]["proj:code"], "EPSG:32629");
    assert!(served["assets"].as_object().is_some_and(|a| a.keys().any(|k| k.contains("ndvi"))), "{served}");
    // The collection was made from the Item.
    let (status, body) = catalogue.get("/collections/sr-products");
    assert_eq!(status, 200, "{body}");

    // A rerun keeps the current product and sends its Item again (the API already holds it: replaced).
    assert!(s.infer(&["serve", "retry", &id.to_string()]).status.success());
    let out = s.infer(&s.serve_args(&store, &["--once", "--stac-publish", &collection]));
    assert!(out.status.success() && text(&out).contains("current product kept"), "{}", text(&out));
    assert_eq!(catalogue.get(item_path).0, 200);

    // An API that refuses: the attempt fails at publishing (the product itself stays), the error names the URL.
    assert!(s.infer(&["serve", "retry", &id.to_string()]).status.success());
    let wrong = format!("{}/collections/", catalogue.url());
    let out = s.infer(&s.serve_args(&store, &["--once", "--stac-publish", &wrong, "--max-attempts", "1"]));
    assert!(out.status.success(), "{}", text(&out));
    let row = s.row(id);
    assert_eq!(row["status"], "failed", "{row}");
    assert!(row["error"].as_str().is_some_and(|e| e.contains("not a collection URL")), "{row}");
}

#[test]
fn a_full_tile_run_from_a_stac_search_publishes_a_valid_item_to_the_catalogue_and_notifies() {
    let Some(s) = Setup::start_with("fulltile", true) else { return };
    let Some(catalogue) = eoforge_testkit::PgStacApi::start(&s.pg) else { return };
    let hook = HttpReceiver::start(vec![]);
    let dest = s.work.path().join("tiles/T29RKH_20200219.tif").display().to_string();
    let collection = format!("{}/collections/sr-tiles", catalogue.url());
    let notify = hook.url("/hook/secret-path");
    let out = s.infer(&[
        "predict",
        "--stac-api",
        s.api.url(),
        "--collection",
        "sentinel-2-l2a",
        "--mgrs",
        "29RKH",
        "--date",
        "20200219",
        "--assets",
        "blue,green,red,nir",
        &dest,
        "--model",
        "upsample",
        "--scale",
        "2",
        "--quality-band",
        "--derivatives",
        "ndvi",
        "--stac-publish",
        &collection,
        "--notify",
        &notify,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // The whole tile at 2x with its quality band, QC passed.
    let product = eoforge_raster::Raster::open(&dest).expect("product");
    assert_eq!((product.width(), product.height(), product.band_count()), (2196, 2196, 5));
    let qc: Value = serde_json::from_slice(&std::fs::read(format!("{dest}.qc.json")).expect("qc")).expect("json");
    assert_eq!(qc["passed"], true, "{qc}");
    // Its Item: schema-valid, beside it and in the catalogue.
    let item_path = PathBuf::from(format!("{dest}.json"));
    let report = eoforge_testkit::validate_stac(&[&item_path]).expect("validator");
    assert!(report.contains(": valid"), "{report}");
    let (status, body) = catalogue.get("/collections/sr-tiles/items/T29RKH_20200219");
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(served["assets"]["data"]["href"].as_str(), Some(dest.as_str()));
    // One notification: published, with the product.
    let received = hook.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let body = String::from_utf8_lossy(&received[0].body);
    assert!(body.contains("\"verdict\":\"published\"") && body.contains(&dest), "{body}");
    assert!(!text(&out).contains("secret-path"), "{}", text(&out));
}
