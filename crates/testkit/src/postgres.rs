//! A real PostgreSQL server (`scripts/postgres.sh`: Debian's server, a private cluster on a free loopback port,
//! password logins) for the request-queue tests; stopped and removed on drop.

use std::process::Command;

/// A running server; each test makes its own database in it.
pub struct PostgresServer {
    parent: tempfile::TempDir,
    url: String,
}

impl PostgresServer {
    /// Installs what is missing and starts a cluster whose superuser password is `password`, or returns `None`
    /// (skipping) where it cannot run; with `EOFORGE_REQUIRE_POSTGRES=1` that is a failure.
    pub fn start(password: &str) -> Option<Self> {
        Self::start_with(password, false)
    }

    /// [`Self::start`] with PostGIS installed (Debian's `postgresql-N-postgis-3`), as pgstac needs.
    pub fn start_postgis(password: &str) -> Option<Self> {
        Self::start_with(password, true)
    }

    fn start_with(password: &str, postgis: bool) -> Option<Self> {
        let parent = tempfile::Builder::new().prefix("eoforge-pg-").tempdir().expect("temp dir for PostgreSQL");
        let script = crate::workspace_root().join("scripts/postgres.sh");
        let dir = parent.path().join("cluster");
        let out = Command::new("bash")
            .arg(&script)
            .arg("up")
            .arg(&dir)
            .env("EOFORGE_PG_PASSWORD", password)
            .env("EOFORGE_PG_POSTGIS", if postgis { "1" } else { "0" })
            .output()
            .expect("run scripts/postgres.sh");
        let server = Self { url: std::fs::read_to_string(dir.join("url")).unwrap_or_default().trim().into(), parent };
        if !out.status.success() || server.url.is_empty() {
            crate::skip_or_fail(
                "EOFORGE_REQUIRE_POSTGRES",
                &format!("no PostgreSQL: scripts/postgres.sh up failed: {}", String::from_utf8_lossy(&out.stderr)),
            );
            return None;
        }
        Some(server)
    }

    /// The URL of database `name` (created now) for the superuser, password included.
    pub fn database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        format!("{}/{name}", self.url.rsplit_once('/').map_or(self.url.as_str(), |(base, _)| base))
    }

    /// The server's loopback port.
    pub fn port(&self) -> u16 {
        url::Url::parse(&self.url).ok().and_then(|u| u.port()).unwrap_or(5432)
    }

    /// The superuser's password.
    pub fn password(&self) -> String {
        url::Url::parse(&self.url).map(|u| u.password().unwrap_or_default().to_owned()).unwrap_or_default()
    }

    /// Runs `sql` in database `db` with `psql`; returns its unaligned, tuples-only output (`|` between fields).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let url = url::Url::parse(&self.url).expect("server URL");
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql])
            .args(["-p", &url.port().unwrap_or(5432).to_string()])
            .env("PGPASSWORD", url.password().unwrap_or_default())
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let script = crate::workspace_root().join("scripts/postgres.sh");
        let _ = Command::new("bash").arg(script).arg("down").arg(self.parent.path().join("cluster")).status();
    }
}
