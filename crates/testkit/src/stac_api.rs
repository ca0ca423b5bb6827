//! Real STAC API servers on free loopback ports, stopped on drop: for search tests `rustac serve` (the venv's
//! `rustac` package, in-memory backend) loaded with Items; for publishing, stac-fastapi-pgstac with the Transactions
//! extension over pgstac (migrated by `pypgstac`) in a [`PostgresServer`] with PostGIS.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::PostgresServer;

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

/// A STAC API that takes Items (`POST /collections/{id}/items`, `PUT …/items/{item}`): stac-fastapi-pgstac.
pub struct PgStacApi {
    child: Child,
    url: String,
    log: tempfile::TempDir,
}

impl PgStacApi {
    /// Migrates a new database `pgstac` of `pg` (started with [`PostgresServer::start_postgis`]) to pgstac and serves
    /// it, or returns `None` (skipping) when the venv lacks the packages (`EOFORGE_REQUIRE_PYTHON=1`: a failure).
    pub fn start(pg: &PostgresServer) -> Option<Self> {
        let venv = crate::workspace_root().join(".venv/bin");
        if !venv.join("uvicorn").is_file() || !venv.join("pypgstac").is_file() {
            crate::skip_or_fail(
                "EOFORGE_REQUIRE_PYTHON",
                "no stac-fastapi-pgstac in .venv (run scripts/python-env.sh)",
            );
            return None;
        }
        pg.database("pgstac");
        let env = [
            ("PGUSER", "postgres".to_owned()),
            ("PGPASSWORD", pg.password()),
            ("PGHOST", "127.0.0.1".to_owned()),
            ("PGPORT", pg.port().to_string()),
            ("PGDATABASE", "pgstac".to_owned()),
        ];
        let dsn = format!("postgresql://postgres@127.0.0.1:{}/pgstac", pg.port());
        let migrate = Command::new(venv.join("pypgstac"))
            .args(["migrate", "--dsn", &dsn])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run pypgstac");
        assert!(migrate.status.success(), "pypgstac migrate: {}", String::from_utf8_lossy(&migrate.stderr));
        let log = tempfile::tempdir().expect("log dir");
        let log_file = std::fs::File::create(log.path().join("api.log")).expect("log file");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(venv.join("uvicorn"))
            .args([
                "stac_fastapi.pgstac.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("ENABLE_TRANSACTIONS_EXTENSIONS", "true")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start stac-fastapi-pgstac");
        let mut server = Self { child, url: format!("http://127.0.0.1:{port}"), log };
        // Ready when `GET /` answers 200: a deadline, no fixed sleep.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        while server.get("/").0 != 200 {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(server.log.path().join("api.log")).unwrap_or_default();
                panic!("stac-fastapi-pgstac exited ({status}): {log}");
            }
            assert!(std::time::Instant::now() < deadline, "stac-fastapi-pgstac did not answer on {}", server.url);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Some(server)
    }

    /// The API's root URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET path` (from the root): the status and the body (status 0 when nothing answers).
    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let address = self.url.trim_start_matches("http://");
        let Ok(mut stream) = std::net::TcpStream::connect(address) else { return (0, String::new()) };
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new());
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }
}

impl Drop for PgStacApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
