//! `predict --notify`: one message per product to webhooks on a local HTTP receiver — published, rejected by QC,
//! failed — retried, never fatal, and the webhook's secret path never printed.

use std::process::{Command, Output};

use eoforge_testkit::{HttpReceiver, fixture};
use serde_json::Value;

/// Runs `eoforge-infer`; its stderr must never hold a webhook's secret path.
fn infer(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_eoforge-infer")).args(args).output().expect("run eoforge-infer");
    assert!(!text(&out).contains("SECRET"), "a webhook's secret was printed: {}", text(&out));
    out
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn body(receiver: &HttpReceiver, n: usize) -> Value {
    serde_json::from_slice(&receiver.received()[n].body).expect("a JSON body")
}

#[test]
fn each_product_is_notified_with_its_verdict_and_delivery_failures_are_not_fatal() {
    let Some(b04) = fixture("s2-l2a-29RKH/B04.tif") else { return };
    let b04 = b04.display().to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let dest = work.path().join("B04.tif").display().to_string();

    // Published: the JSON webhook refuses once and is tried again; the Slack-compatible one gets a text.
    let receiver = HttpReceiver::start(vec![500]);
    let json_hook = format!("json+{}", receiver.url("/hook/SECRET-JSON"));
    let slack_hook = format!("slack+{}", receiver.url("/services/T0/B0/SECRET-SLACK"));
    let out = infer(&["predict", &b04, &dest, "--model", "identity", "--notify", &json_hook, "--notify", &slack_hook]);
    assert!(out.status.success(), "{}", text(&out));
    let received = receiver.received();
    assert_eq!(received.len(), 3, "{received:?}");
    assert_eq!((received[0].path.as_str(), received[1].path.as_str()), ("/hook/SECRET-JSON", "/hook/SECRET-JSON"));
    let notice = body(&receiver, 1);
    assert_eq!((notice["verdict"].as_str(), notice["subject"].as_str()), (Some("published"), Some(dest.as_str())));
    let products: Vec<&str> =
        notice["products"].as_array().expect("products").iter().filter_map(Value::as_str).collect();
    for file in &products {
        assert!(std::path::Path::new(file).is_file(), "{file} is published");
    }
    assert!(products.contains(&format!("{dest}.json").as_str()), "{products:?}");
    assert!(notice["throughput"]["windows_per_s"].as_f64().is_some_and(|v| v > 0.0), "{notice}");
    let slack = body(&receiver, 2);
    assert!(slack["text"].as_str().is_some_and(|t| t.contains("published") && t.contains(&dest)), "{slack}");
    assert_eq!(slack.as_object().map(serde_json::Map::len), Some(1), "Slack gets only its text: {slack}");

    // Rejected by QC: the failed checks are in the message; nothing is published.
    let rejected = work.path().join("rejected.tif").display().to_string();
    let receiver = HttpReceiver::start(Vec::new());
    let hook = receiver.url("/hook/SECRET-JSON");
    let out = infer(&["predict", &b04, &rejected, "--model", "identity", "--bands", "4", "--notify", &hook]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let notice = body(&receiver, 0);
    assert_eq!(notice["verdict"], "rejected", "{notice}");
    let checks = notice["failed_checks"].as_array().expect("checks");
    assert!(checks.iter().any(|c| c.as_str().is_some_and(|c| c.contains("band"))), "{notice}");
    assert!(!std::path::Path::new(&rejected).exists());

    // Failed: the stage and the error.
    let receiver = HttpReceiver::start(Vec::new());
    let hook = receiver.url("/hook/SECRET-JSON");
    let missing = work.path().join("no-such-scene.tif").display().to_string();
    let failed = work.path().join("failed.tif").display().to_string();
    let out = infer(&["predict", &missing, &failed, "--model", "identity", "--notify", &hook]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let notice = body(&receiver, 0);
    assert_eq!((notice["verdict"].as_str(), notice["stage"].as_str()), (Some("failed"), Some("read")), "{notice}");
    assert!(notice["error"].as_str().is_some_and(|e| e.contains("no-such-scene.tif")), "{notice}");

    // From the environment (off the command line).
    let receiver = HttpReceiver::start(Vec::new());
    let env_dest = work.path().join("env.tif").display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_eoforge-infer"))
        .args(["predict", &b04, &env_dest, "--model", "identity"])
        .env("EOFORGE_NOTIFY", receiver.url("/hook/SECRET-ENV"))
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(body(&receiver, 0)["verdict"], "published");

    // A webhook that never answers (a closed port): the product is still published, the failure is told with the
    // host only.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let hook = format!("http://127.0.0.1:{port}/hook/SECRET-JSON");
    let other = work.path().join("other.tif").display().to_string();
    let out = infer(&["predict", &b04, &other, "--model", "identity", "--notify", &hook]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("127.0.0.1:{port}/…")) && text(&out).contains("not delivered"),
        "{}",
        text(&out)
    );
    assert!(std::path::Path::new(&other).is_file());
}
