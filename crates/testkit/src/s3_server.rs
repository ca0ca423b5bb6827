//! A real S3-compatible server (SeaweedFS) for integration tests.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Access key the test server accepts.
pub(crate) const ACCESS_KEY: &str = "eoforge-test-key";
/// Secret key the test server accepts.
pub(crate) const SECRET_KEY: &str = "eoforge-test-secret-d41d8cd98f00";

/// A SeaweedFS server (master, volume, filer and S3 gateway) on free loopback ports; killed on drop.
pub struct S3Server {
    weed: PathBuf,
    dir: tempfile::TempDir,
    ports: [u16; 4],
    child: Option<Child>,
    watchdog: Option<Child>,
    buckets: std::sync::Mutex<Vec<String>>,
}

impl S3Server {
    /// Starts a server, or returns `None` (skipping) when no `weed` binary is available.
    pub fn start() -> Option<Self> {
        let weed = std::env::var_os("EOFORGE_WEED")
            .map_or_else(|| crate::workspace_root().join(".venv/bin/weed"), PathBuf::from);
        if !weed.is_file() {
            crate::skip_or_fail(
                "EOFORGE_REQUIRE_S3",
                &format!("S3 test server binary not found at {} (run scripts/python-env.sh)", weed.display()),
            );
            return None;
        }
        let dir = tempfile::Builder::new().prefix("eoforge-s3-").tempdir().expect("temp dir for the S3 server");
        let mut server =
            Self { weed, dir, ports: free_ports(), child: None, watchdog: None, buckets: std::sync::Mutex::default() };
        server.launch();
        Some(server)
    }

    /// The S3 endpoint, e.g. `http://127.0.0.1:23456`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[3])
    }

    /// The access key id the server accepts.
    pub fn access_key(&self) -> &'static str {
        ACCESS_KEY
    }

    /// The secret key the server accepts.
    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// Creates a bucket (through SeaweedFS's admin shell) and returns once the S3 gateway serves it.
    pub fn create_bucket(&self, name: &str) {
        let master = format!("-master=127.0.0.1:{}", self.ports[0]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut shell = Command::new(&self.weed)
                .args(["shell", &master])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run weed shell");
            {
                use std::io::Write;
                let stdin = shell.stdin.as_mut().expect("weed shell stdin");
                writeln!(stdin, "s3.bucket.create -name {name}").expect("write to weed shell");
            }
            let out = shell.wait_with_output().expect("weed shell output");
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            if text.contains("created bucket") || text.contains("already exist") {
                self.wait_bucket_visible(name);
                self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(name.to_owned());
                return;
            }
            // Invalid names are final; anything else (master not elected yet) is retried for a while.
            assert!(!text.contains("bucket name"), "could not create bucket {name}: {text}");
            assert!(Instant::now() < deadline, "could not create bucket {name}: {text}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Kills the server at once (SIGKILL), as a crash or a network loss would.
    pub fn kill(&mut self) {
        // The watchdog goes first, so it never signals a process id that the server no longer holds.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn launch(&mut self) {
        let [master, volume, filer, s3] = self.ports;
        let log = std::fs::File::create(self.dir.path().join("weed.log")).expect("server log file");
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("server data dir");
        let child = Command::new(&self.weed)
            .args([
                "server".to_owned(),
                "-ip=127.0.0.1".to_owned(),
                "-ip.bind=127.0.0.1".to_owned(),
                format!("-dir={}", data.display()),
                format!("-master.port={master}"),
                format!("-volume.port={volume}"),
                format!("-filer.port={filer}"),
                "-s3".to_owned(),
                format!("-s3.port={s3}"),
                "-s3.port.iceberg=0".to_owned(),
                "-s3.port.lance=0".to_owned(),
                "-master.telemetry=false".to_owned(),
                "-master.volumeSizeLimitMB=64".to_owned(),
                "-volume.max=32".to_owned(),
            ])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start weed server");
        // A server kept in a `static` (shared by a test binary's tests) is never dropped: a watchdog process kills
        // it, and removes its data, once the test process has exited.
        let watchdog = Command::new("/bin/sh")
            .args([
                "-c",
                "while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do sleep 1; done; \
                 kill -9 \"$2\" 2>/dev/null; rm -rf \"$3\"",
                "eoforge-s3-watchdog",
                &std::process::id().to_string(),
                &child.id().to_string(),
                &self.dir.path().display().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        self.child = Some(child);
        self.watchdog = watchdog;
        self.wait_ready();
        let buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for bucket in &buckets {
            self.wait_bucket_visible(bucket);
        }
    }

    /// Waits until the S3 gateway accepts writes to `bucket`. The shell creates buckets in the filer and the
    /// gateway learns of them asynchronously, so on a loaded machine a request right after creation can still
    /// get `NoSuchBucket`; a probe object is written (retrying) and deleted.
    fn wait_bucket_visible(&self, bucket: &str) {
        use object_store::ObjectStoreExt;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .expect("S3 client for the test server");
        let probe = object_store::path::Path::from(".eoforge-testkit-probe");
        let deadline = Instant::now() + Duration::from_secs(60);
        // Its own thread and runtime: callers may be async tests, inside a runtime already.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime for the bucket probe");
                runtime.block_on(async {
                    loop {
                        match store.put(&probe, object_store::PutPayload::from_static(b"probe")).await {
                            Ok(_) => break,
                            Err(e) => assert!(Instant::now() < deadline, "bucket {bucket} never became writable: {e}"),
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    store.delete(&probe).await.expect("delete the bucket probe");
                });
            });
        });
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.ports[3])).is_err() {
            assert!(
                Instant::now() < deadline,
                "S3 server did not start; see {}",
                self.dir.path().join("weed.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Four free ports whose gRPC companions (port + 10000, SeaweedFS's convention) are free too.
fn free_ports() -> [u16; 4] {
    let mut ports = Vec::with_capacity(4);
    let mut held = Vec::new();
    while ports.len() < 4 {
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = listener.local_addr() else {
            continue;
        };
        let port = addr.port();
        if port > 55_000 || ports.contains(&port) {
            held.push(listener);
            continue;
        }
        if let Ok(grpc) = TcpListener::bind(("127.0.0.1", port + 10_000)) {
            drop(grpc);
            ports.push(port);
        }
        held.push(listener);
    }
    drop(held);
    [ports[0], ports[1], ports[2], ports[3]]
}
