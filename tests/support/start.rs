//! Starting `wasmsock serve` other than as a [`TestServer`]: with a config
//! file written for the test, or as a process expected to refuse to start.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{server_binary, TestServer};

impl TestServer {
    /// Serve `dir` with `config` as its server config file
    /// (`dir/server.toml`).
    pub fn with_config(dir: &Path, config: &str) -> TestServer {
        let cfg = dir.join("server.toml");
        std::fs::write(&cfg, config).expect("config");
        TestServer::start(dir, &["--config", cfg.to_str().expect("utf-8")])
    }
}

/// `wasmsock serve` of `dir` with `args`, not started: no compile cache, no
/// admin token from this process's environment, stdout and stderr piped,
/// and `--listen 127.0.0.1:0` unless `args` name a listen address or a
/// config file (which may set one).
pub fn serve_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(server_binary());
    cmd.arg("serve")
        .arg("--plugins")
        .arg(dir)
        .arg("--no-cache")
        .args(args);
    if !args.contains(&"--listen") && !args.contains(&"--config") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.env_remove("WASMSOCK_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Wait (bounded) for a server that must refuse to start to exit; returns
/// its status, stdout and stderr.
pub fn exit_of(mut child: Child) -> (ExitStatus, String, String) {
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("wasmsock kept running instead of refusing to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run `wasmsock serve` expecting it to exit with an error before it
/// listens; returns stderr.
pub fn fails_to_start(dir: &Path, extra: &[&str]) -> String {
    let mut cmd = serve_command(dir, extra);
    let child = cmd
        .env("RUST_BACKTRACE", "0")
        .spawn()
        .expect("run wasmsock");
    let (status, stdout, stderr) = exit_of(child);
    assert!(!status.success(), "expected failure; stdout {stdout}");
    assert!(stdout.is_empty(), "nothing was listened on: {stdout}");
    stderr
}
