//! Rasters on a real S3-compatible server, read through GDAL's /vsis3/ with the store's settings.

use std::time::Duration;

use eoforge_raster::{Raster, Window};
use eoforge_storage::{Secret, Store, StoreOptions};
use eoforge_testkit::{S3Server, fixture};

fn options(server: &S3Server) -> StoreOptions {
    let mut o = StoreOptions::default();
    o.s3.endpoint = Some(server.endpoint());
    o.s3.access_key_id = Some(server.access_key().into());
    o.s3.secret_access_key = Some(Secret::new(server.secret_key()));
    o.retry.max_retries = 2;
    o.retry.retry_timeout = Duration::from_secs(5);
    o
}

#[test]
fn reads_a_cog_from_s3_like_the_local_file() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("scenes");
    let opts = options(&server);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = Store::open_with("s3://scenes/29RKH", &opts).expect("store");
    runtime.block_on(store.put_file("B04.tif", &b04)).expect("upload");

    let local = Raster::open(&b04.display().to_string()).expect("local");
    let remote = Raster::open_with("s3://scenes/29RKH/B04.tif", &opts).expect("remote");
    let (mut li, mut ri) = (local.info().expect("info"), remote.info().expect("info"));
    assert_eq!(ri.location, "s3://scenes/29RKH/B04.tif");
    li.location.clear();
    ri.location.clear();
    assert_eq!(li, ri);
    let w = Window::new(700, 800, 128, 128);
    assert_eq!(
        local.read_window::<u16>(w, None).expect("local read"),
        remote.read_window::<u16>(w, None).expect("remote read")
    );

    let err = Raster::open_with("s3://scenes/29RKH/missing.tif", &opts).expect_err("missing object");
    assert!(err.to_string().contains("s3://scenes/29RKH/missing.tif"), "{err}");
    let mut wrong = opts.clone();
    wrong.s3.secret_access_key = Some(Secret::new("planted-raster-secret"));
    let err = Raster::open_with("s3://scenes/29RKH/B04.tif", &wrong).expect_err("wrong credentials");
    let text = format!("{err} {err:?}");
    assert!(text.contains("s3://scenes/29RKH/B04.tif") && !text.contains("planted-raster-secret"), "{text}");
    // The bucket's correct settings still work after the failed attempt with other credentials.
    assert!(Raster::open_with("s3://scenes/29RKH/B04.tif", &opts).is_ok());
}
