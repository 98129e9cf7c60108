//! The echo plugin written in every supported language (plugins/echo-LANG;
//! plugins/echo for Rust), built by `scripts/plugins.sh` into
//! target/plugins/echo-LANG.wasm, behaves like the Rust one through the real
//! server: the same echo cases, a thousand pipelined messages, and close codes
//! that travel both ways and reach the plugin's disconnect log line. The
//! large guests (Python, JavaScript) also run one instance per connection.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::{self, check_echo_cases, closed, plugins_dir, TestServer};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// Large guests (Python, JavaScript) take a while to compile on a busy
/// machine the first time; later runs load them from the compile cache.
const LOAD: Duration = Duration::from_secs(300);
const WAIT: Duration = Duration::from_secs(10);

/// The built component for `lang`; fails, naming the command that builds
/// it, when it is missing.
fn built(lang: &str) -> PathBuf {
    let path = support::root()
        .join("target/plugins")
        .join(format!("echo-{lang}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `scripts/plugins.sh --install --lang {lang}` \
         (or every language with `scripts/plugins.sh --install`)",
        path.display()
    );
    path
}

/// A server with `lang`'s echo plugin, `echo-LANG`, under `manifest` (the
/// folder must outlive the server). The default 100 ms budget per call is
/// enough for a 1 MiB echo in every language but JavaScript (150-250 ms for
/// 1 MiB of non-ASCII text, see docs/languages.md), so every language gets
/// room here. No echo plugin logs per message, so the default log rate
/// keeps the disconnect lines the checks read.
fn serve_echo(lang: &str, manifest: &str) -> (tempfile::TempDir, TestServer) {
    let name = format!("echo-{lang}");
    let dir = plugins_dir();
    std::fs::copy(built(lang), dir.path().join(format!("{name}.wasm"))).expect("copy plugin");
    let manifest = format!("call_timeout_ms = 2000\n{manifest}");
    std::fs::write(dir.path().join(format!("{name}.toml")), manifest).expect("manifest");
    let server = TestServer::start(dir.path(), &[]);
    (dir, server)
}

async fn check_language(lang: &str) {
    let name = format!("echo-{lang}");
    let route = format!("/{name}");
    let (_dir, server) = serve_echo(lang, "");

    // Connection 1: every echo case, then the client closes with 4001.
    let mut ws = server.wait_route(&route, LOAD).await;
    check_echo_cases(&server, &mut ws, &name).await;
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4001),
        reason: "bye".into(),
    }))
    .await
    .expect("close");
    assert_eq!(
        closed(&mut ws).await.0,
        4001,
        "{name}: the server answers the close with the client's code"
    );
    wait_plugin_line(&server, &name, "disconnect 1: code 4001").await;

    // Connection 2: many small messages, then a normal close.
    let mut ws = server.connect(&route).await;
    check_pipelined(&mut ws, &name).await;
    close_normally(&server, ws, &name, 2).await;
}

/// Close connection `id` of plugin `name` with 1000; the server answers
/// with the same code and the plugin logs it.
async fn close_normally(server: &TestServer, mut ws: support::Ws, name: &str, id: u64) {
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
    .await
    .expect("close");
    assert_eq!(closed(&mut ws).await.0, 1000, "{name}: normal close");
    wait_plugin_line(server, name, &format!("disconnect {id}: code 1000")).await;
}

/// Two connections of `lang`'s echo in per-connection mode: an instance
/// each (pooled, called synchronously), each echoing, each gone with its
/// connection.
async fn check_per_connection(lang: &str) {
    let name = format!("echo-{lang}");
    let route = format!("/{name}");
    let (_dir, server) = serve_echo(lang, "instance = \"per-connection\"\n");
    let mut a = server.wait_route(&route, LOAD).await;
    let mut b = server.connect(&route).await;
    check_pipelined(&mut a, &name).await;
    check_pipelined(&mut b, &name).await;
    let st = server
        .wait_status("two live instances", WAIT, |s| {
            s["plugins"][&name]["live_shards"] == 2
        })
        .await;
    assert_eq!(st["plugins"][&name]["instance"], "per-connection", "{st:#}");
    close_normally(&server, a, &name, 1).await;
    close_normally(&server, b, &name, 2).await;
    server
        .wait_status("no live instance", WAIT, |s| {
            s["plugins"][&name]["live_shards"] == 0
        })
        .await;
}

/// A thousand small messages, pipelined, come back in order: allocators
/// that leak or reuse memory too early show up here.
async fn check_pipelined(ws: &mut support::Ws, name: &str) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    for i in 0..1000 {
        ws.feed(Message::text(format!("m{i}"))).await.expect("feed");
    }
    ws.flush().await.expect("flush");
    for i in 0..1000 {
        let got = support::recv(ws).await;
        assert_eq!(
            got,
            Message::text(format!("m{i}")),
            "{name}: pipelined echo {i}"
        );
    }
}

/// Wait for a log line from plugin `name` containing `needle`.
async fn wait_plugin_line(server: &TestServer, name: &str, needle: &str) {
    let tag = format!("plugin=\"{name}\"");
    let start = std::time::Instant::now();
    while start.elapsed() < WAIT {
        if server
            .logs()
            .lines()
            .any(|l| l.contains(needle) && l.contains(&tag))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{name}: no log line with {tag} containing {needle:?}; log:\n{}",
        server.logs()
    );
}

macro_rules! languages {
    ($($lang:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $lang() {
            check_language(stringify!($lang)).await;
        }
    )*};
}

languages!(rust, python, javascript, c, go, zig, assemblyscript, wat);

#[tokio::test]
async fn python_per_connection() {
    check_per_connection("python").await;
}

#[tokio::test]
async fn javascript_per_connection() {
    check_per_connection("javascript").await;
}
