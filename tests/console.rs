//! The console in a real browser: a real server with the echo plugin, and
//! Debian's Chromium, headless, driven by `tests/console/drive.mjs` through
//! playwright-core. The script opens the console, finds the echo plugin,
//! connects a panel to `/echo`, sends text and binary and sees them echoed,
//! watches the live connection count rise and fall, drops a new plugin and
//! a broken file into the folder and sees them appear without a reload, and
//! takes a screenshot: into `target/console.png`, or over the one the
//! README shows (`docs/console.png`) with `WASMSOCK_UPDATE_SCREENSHOT=1`, so
//! a test run leaves the repository as it found it.
//!
//! Skipped, saying why, only where Node.js or Chromium is missing (CI
//! installs both: `.ci/run`). playwright-core lives in
//! `target/toolchains/npm/playwright-core` (`tests/console/install.sh`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{install, plugins_dir, root, wasm, TestServer};

/// Where Chromium is: `CHROMIUM`, or Debian's package.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.is_file().then_some(path)
}

/// The Node.js version, if `node` runs.
fn node() -> Option<String> {
    let out = Command::new("node").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test]
async fn the_console_in_chromium() {
    let Some(node_version) = node() else {
        println!("SKIPPED console::the_console_in_chromium: node is not installed (Debian: apt-get install nodejs)");
        return;
    };
    let Some(chromium) = chromium() else {
        println!("SKIPPED console::the_console_in_chromium: /usr/bin/chromium is missing (Debian: apt-get install chromium; or set CHROMIUM)");
        return;
    };
    let playwright = root().join("target/toolchains/npm/playwright-core/node_modules");
    assert!(
        playwright.join("playwright-core/package.json").is_file(),
        "playwright-core is not installed in {}: run tests/console/install.sh",
        playwright.display()
    );

    let dir = plugins_dir();
    install(dir.path(), "echo", "echo");
    let server = TestServer::start(dir.path(), &[]);
    let screenshot = if std::env::var_os("WASMSOCK_UPDATE_SCREENSHOT").is_some() {
        root().join("docs/console.png")
    } else {
        root().join("target/console.png")
    };
    let _ = std::fs::remove_file(&screenshot);
    if let Some(folder) = screenshot.parent() {
        std::fs::create_dir_all(folder).expect("screenshot folder");
    }
    let start = Instant::now();
    let script = root().join("tests/console/drive.mjs");
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .env("ADMIN", format!("http://{}", server.admin))
        .env("PLUGINS", dir.path())
        .env("ECHO_WASM", wasm("echo"))
        .env("SCREENSHOT", &screenshot)
        .env("PLAYWRIGHT", &playwright)
        .env("CHROMIUM", &chromium)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting node");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let read = |mut pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        tokio::spawn(async move {
            let mut text = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut text).await;
            text
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let status = match tokio::time::timeout(Duration::from_secs(180), child.wait()).await {
        Ok(status) => status.expect("waiting for node"),
        Err(_) => {
            let _ = child.kill().await;
            panic!(
                "the browser script did not finish within 180 s; output so far:\n{}",
                out.await.unwrap_or_default()
            );
        }
    };
    let (out, err) = (out.await.unwrap_or_default(), err.await.unwrap_or_default());
    println!(
        "console test: node {node_version}, {} s in the browser\n{out}",
        start.elapsed().as_secs()
    );
    assert!(
        status.success(),
        "the console failed in Chromium ({status}):\n{out}\n{err}\nserver log:\n{}",
        server.logs()
    );
    assert!(out.contains("console: every step passed"), "{out}");
    assert!(
        screenshot.is_file(),
        "no screenshot at {}",
        screenshot.display()
    );
}
