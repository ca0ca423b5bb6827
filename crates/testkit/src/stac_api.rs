//! A real STAC API server for search tests: `rustac serve` (the venv's `rustac` package, in-memory backend) on a
//! free loopback port, loaded with Items; stopped on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running STAC API.
pub struct StacApiServer {
    child: Child,
    url: String,
}

impl StacApiServer {
    /// Serves `items` (Item JSON files; their collections are created) or returns `None` (skipping) when the venv
    /// has no `rustac` (with `EOFORGE_REQUIRE_PYTHON=1` that is a failure).
    pub fn start(items: &[&Path]) -> Option<Self> {
        let rustac = crate::workspace_root().join(".venv/bin/rustac");
        if !rustac.is_file() {
            crate::skip_or_fail("EOFORGE_REQUIRE_PYTHON", "no .venv/bin/rustac (run scripts/python-env.sh)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(rustac)
            .args(["serve", "--create-collections", "--addr", &addr])
            .args(items)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rustac serve");
        let server = Self { child, url: format!("http://{addr}") };
        // Ready when it answers: a deadline, no fixed sleep.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "rustac serve did not listen on {addr}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(server)
    }

    /// The API's root URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for StacApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
