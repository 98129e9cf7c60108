//! Shared by the integration test modules: building the plugins, starting a
//! real `wasmsock serve` on 127.0.0.1 port 0 (`start.rs`: with a config
//! file, or expecting it to refuse), WebSocket client steps (`client.rs`)
//! and raw HTTP: refused handshakes, admin pages, metrics (`http.rs`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod client;
mod http;
pub mod redis;
pub mod sdk;
mod start;

pub use client::{check_echo_cases, closed, recv, roundtrip};
pub use http::{get, raw_http};
pub use start::{exit_of, fails_to_start, serve_command};

/// A client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Raise this process's file descriptor limit to its hard limit (servers
/// started afterwards inherit it), for tests that hold many sockets.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).expect("raising the file descriptor limit")
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn build_workspace(manifest: &Path) {
    let target = root().join("target").join("wasm");
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("running cargo to build the test plugins");
    assert!(
        out.status.success(),
        "building {} failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}",
        manifest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Path of a compiled plugin (`echo`, `probe`), building them on first use.
pub fn wasm(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_workspace(&root().join("plugins").join("Cargo.toml"));
        build_workspace(&root().join("tests").join("plugins").join("Cargo.toml"));
    });
    let path = root()
        .join("target/wasm/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A component compiled from a WAT fixture in `tests/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    wat::parse_file(root().join("tests/fixtures").join(format!("{name}.wat")))
        .expect("fixture parses")
}

/// A fresh plugins folder.
pub fn plugins_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Write `bytes` to `dir/name` the way `mv`, an editor or a deploy does:
/// a temporary file, then an atomic rename over the target.
pub fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).expect("write temp");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

/// Copy a built plugin into `dir` as `as_name.wasm`.
pub fn install(dir: &Path, plugin: &str, as_name: &str) {
    std::fs::copy(wasm(plugin), dir.join(format!("{as_name}.wasm"))).expect("copy plugin");
}

/// The server binary under test: the one cargo built, or the one
/// `WASMSOCK_TEST_BIN` names (to run a test against another build, e.g. a
/// release build before and after a change: `tests/burst.rs`).
pub fn server_binary() -> PathBuf {
    std::env::var_os("WASMSOCK_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wasmsock")))
}

/// A running `wasmsock serve`, killed on drop.
pub struct TestServer {
    child: Child,
    /// The address it listens on, from its first stdout line.
    pub addr: String,
    /// The admin listener's address, from its second stdout line (the
    /// console's URL).
    pub admin: String,
    logs: Arc<Mutex<String>>,
    /// The thread copying stderr into `logs`; it ends when the process does.
    log_reader: Option<std::thread::JoinHandle<()>>,
    /// The config file given to the server (see [`per_ip_off`]).
    _config: tempfile::NamedTempFile,
}

/// Every test client connects from 127.0.0.1, like every client behind one
/// proxy: the tests that hold hundreds of connections would meet the
/// per-address limits, which are not what they test. Give the server a
/// config with them off, unless the test's own config (`--config FILE`,
/// copied next to it) sets them. Returns the file and the arguments that
/// name it instead of `extra`'s.
fn per_ip_off(extra: &[&str]) -> (tempfile::NamedTempFile, Vec<String>) {
    let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    let given = args.iter().position(|a| a == "--config");
    let (mut table, dir) = match given.and_then(|i| args.get(i + 1)) {
        Some(path) => {
            let path = PathBuf::from(path);
            let text = std::fs::read_to_string(&path).expect("read the test's config");
            let table: toml::Table = toml::from_str(&text).expect("the test's config is TOML");
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (table, dir)
        }
        None => (toml::Table::new(), std::env::temp_dir()),
    };
    let limits = table
        .entry("limits")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(limits) = limits {
        for key in ["max_connections_per_ip", "handshake_rate_per_ip"] {
            limits.entry(key).or_insert_with(|| toml::Value::Integer(0));
        }
    }
    let file = tempfile::Builder::new()
        .prefix(".wasmsock-test-")
        .suffix(".toml")
        .tempfile_in(dir)
        .expect("temp config");
    std::fs::write(file.path(), toml::to_string(&table).expect("TOML")).expect("write config");
    let path = file.path().to_str().expect("utf-8 path").to_string();
    match given {
        Some(i) => args[i + 1] = path,
        None => args.extend(["--config".to_string(), path]),
    }
    (file, args)
}

impl TestServer {
    /// Serve `dir` on 127.0.0.1:0 with extra CLI arguments; the
    /// per-address limits are off unless a `--config` among them sets them.
    pub fn start(dir: &Path, extra: &[&str]) -> TestServer {
        TestServer::start_logging(dir, extra, "info")
    }

    /// [`TestServer::start`] with the log filter `RUST_LOG` (e.g.
    /// `"info,wasmsock=debug"` to see lines logged at debug).
    pub fn start_logging(dir: &Path, extra: &[&str], filter: &str) -> TestServer {
        let (config, extra) = per_ip_off(extra);
        let mut child = Command::new(server_binary())
            .arg("serve")
            .arg("--plugins")
            .arg(dir)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--cache-dir",
            ])
            .arg(root().join("target").join("test-plugin-cache"))
            .args(&extra)
            .env("RUST_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting wasmsock");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        let log_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap_or_else(|p| p.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        // Generous: the server compiles its plugins before it listens, and
        // the Python and JavaScript ones take over a minute on a busy machine.
        let first = rx.recv_timeout(Duration::from_secs(300)).ok().flatten();
        let second = rx.recv_timeout(Duration::from_secs(5)).ok().flatten();
        let Some(addr) = first
            .as_deref()
            .and_then(|l| l.strip_prefix("listening on "))
        else {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "server did not start; first stdout line {first:?}; log:\n{}",
                logs.lock().unwrap_or_else(|p| p.into_inner())
            );
        };
        let Some(admin) = second
            .as_deref()
            .and_then(|l| l.strip_prefix("console on http://"))
            .and_then(|l| l.strip_suffix('/'))
            .map(str::to_owned)
        else {
            // Not left running after the test has failed.
            let _ = child.kill();
            let _ = child.wait();
            panic!("second stdout line {second:?} is not the console's URL");
        };
        TestServer {
            addr: addr.to_string(),
            admin,
            child,
            logs,
            log_reader: Some(log_reader),
            _config: config,
        }
    }

    /// Send SIGTERM: the server stops accepting, closes every connection
    /// with 1001 and exits. [`TestServer::wait_exit`] waits for that.
    fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {} failed", self.child.id());
    }

    /// Wait (bounded, without blocking the runtime) until the process has
    /// exited and everything it wrote to stderr is in [`TestServer::logs`];
    /// returns its exit status.
    async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                break status;
            }
            assert!(
                start.elapsed() < within,
                "the server did not exit within {within:?}; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if let Some(reader) = self.log_reader.take() {
            while !reader.is_finished() {
                assert!(
                    start.elapsed() < within,
                    "stderr still open {within:?} after the signal (a child process holds it?)"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            reader.join().expect("log reader thread");
        }
        status
    }

    /// [`TestServer::sigterm`], then [`TestServer::wait_exit`].
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        self.sigterm();
        self.wait_exit(within).await
    }

    /// `ws://ADDR/path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// The admin `/status` document.
    pub async fn status(&self) -> serde_json::Value {
        let (code, body) = self.admin_get("/status").await;
        assert_eq!(code, 200, "/status answered {code}: {body}");
        serde_json::from_str(&body).expect("/status is JSON")
    }

    /// Wait (bounded) until `/status` satisfies `pred`; returns it.
    pub async fn wait_status(
        &self,
        what: &str,
        within: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let st = self.status().await;
            if pred(&st) {
                return st;
            }
            assert!(
                start.elapsed() < within,
                "status never showed {what} within {within:?}: {st:#}\nlog:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Resident memory of the server process, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("server process status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmRSS")
            * 1024
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Number of log lines containing `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.logs().lines().filter(|l| l.contains(needle)).count()
    }

    /// Wait until some log line contains `needle`; panics after `within`.
    pub async fn wait_log(&self, needle: &str, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.logs().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "no log line containing {needle:?} within {within:?}; log:\n{}",
            self.logs()
        );
    }

    /// Connect to `path`, panicking with the server log on failure.
    pub async fn connect(&self, path: &str) -> Ws {
        match tokio_tungstenite::connect_async(self.url(path)).await {
            Ok((ws, _)) => ws,
            Err(e) => panic!("connect {path}: {e}; log:\n{}", self.logs()),
        }
    }

    /// `n` connections to `path`, opened 200 at a time, each having echoed
    /// once; held by the caller.
    pub async fn open_echoing(&self, path: &str, n: usize) -> Vec<Ws> {
        let mut held = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
            held.extend(
                futures_util::future::join_all(chunk.iter().map(|&i| async move {
                    let mut ws = self.connect(path).await;
                    assert_eq!(roundtrip(&mut ws, &format!("c{i}")).await, format!("c{i}"));
                    ws
                }))
                .await,
            );
        }
        held
    }

    /// Try a connection to `path` with these request headers besides the
    /// handshake's own.
    pub async fn connect_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::http::HeaderName;
        let mut req = self.url(path).into_client_request().expect("request");
        for (name, value) in headers {
            req.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                value.parse().expect("header value"),
            );
        }
        tokio_tungstenite::connect_async(req)
            .await
            .map(|(ws, _)| ws)
    }

    /// Try a connection and return the HTTP status and body of a refusal.
    pub async fn refused(&self, path: &str) -> (u16, String, Vec<(String, String)>) {
        let req = self.url(path).into_client_request().expect("request");
        match tokio_tungstenite::connect_async(req).await {
            Ok(_) => panic!("{path}: expected a refusal, got an upgrade"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let headers = resp
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                (resp.status().as_u16(), body, headers)
            }
            Err(e) => panic!("{path}: expected an HTTP refusal, got {e}"),
        }
    }

    /// Wait (bounded) until `path` is served, i.e. a connect succeeds.
    pub async fn wait_route(&self, path: &str, within: Duration) -> Ws {
        let start = Instant::now();
        loop {
            if let Ok((ws, _)) = tokio_tungstenite::connect_async(self.url(path)).await {
                return ws;
            }
            assert!(
                start.elapsed() < within,
                "{path} not served within {within:?}; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Wait (bounded) until `path` answers 404.
    pub async fn wait_gone(&self, path: &str, within: Duration) {
        let start = Instant::now();
        loop {
            let req = self.url(path).into_client_request().expect("request");
            if let Err(tokio_tungstenite::tungstenite::Error::Http(resp)) =
                tokio_tungstenite::connect_async(req).await
            {
                if resp.status().as_u16() == 404 {
                    return;
                }
            }
            assert!(
                start.elapsed() < within,
                "{path} still served after {within:?}; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
