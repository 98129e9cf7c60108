//! What the SDK tests (Python's `channels`, JavaScript's `js_sdk`) share:
//! serving a plugin that `scripts/plugins.sh` built into target/plugins
//! with the manifest its routing gave, and reading what consumers send and
//! print.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::{closed, plugins_dir, recv, root, TestServer, Ws};

/// How long a printed line may take to appear.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
pub const QUIET: Duration = Duration::from_millis(300);

/// A fresh plugins folder with target/plugins/NAME.wasm and its manifest,
/// which `scripts/plugins.sh --lang LANG` builds.
pub fn install_built(name: &str, lang: &str) -> tempfile::TempDir {
    let built = root().join("target/plugins");
    let wasm = built.join(format!("{name}.wasm"));
    assert!(
        wasm.is_file(),
        "{} is missing: build it with `scripts/plugins.sh --install --lang {lang}`",
        wasm.display()
    );
    let dir = plugins_dir();
    std::fs::copy(
        built.join(format!("{name}.toml")),
        dir.path().join(format!("{name}.toml")),
    )
    .expect("the manifest build.sh wrote from the plugin's routing");
    std::fs::copy(&wasm, dir.path().join(format!("{name}.wasm"))).expect("copy plugin");
    dir
}

/// Start a server on `dir`, one at a time: the first to load a large
/// interpreter component compiles it (tens of seconds on a busy machine)
/// and caches it, the others load it from the cache instead of compiling
/// it again in parallel.
pub fn start_one_at_a_time(dir: &Path, extra: &[&str]) -> TestServer {
    static START: Mutex<()> = Mutex::new(());
    let _one_at_a_time = START.lock().unwrap_or_else(|p| p.into_inner());
    TestServer::start(dir, extra)
}

/// Serve target/plugins/NAME.wasm (built for `lang`) in a fresh folder.
pub fn serve_built(name: &str, lang: &str) -> (tempfile::TempDir, TestServer) {
    let dir = install_built(name, lang);
    let server = start_one_at_a_time(dir.path(), &[]);
    (dir, server)
}

/// Wait for a line the plugin printed (stdout) containing `needle`.
pub async fn wait_print(server: &TestServer, plugin: &str, needle: &str) {
    let tag = format!("plugin=\"{plugin}\"");
    let start = std::time::Instant::now();
    while start.elapsed() < WAIT {
        if server
            .logs()
            .lines()
            .any(|l| l.contains(needle) && l.contains(&tag) && l.contains("stream=\"stdout\""))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no line printed by {plugin} containing {needle:?}; log:\n{}",
        server.logs()
    );
}

/// The next message, which must be JSON text.
pub async fn next_json(ws: &mut Ws) -> Value {
    match recv(ws).await {
        Message::Text(t) => serde_json::from_str(t.as_str()).expect("JSON"),
        other => panic!("expected a JSON text message, got {other:?}"),
    }
}

/// Nothing arrives on `ws` for [`QUIET`].
pub async fn nothing_for(ws: &mut Ws, who: &str) {
    if let Ok(got) = tokio::time::timeout(QUIET, ws.next()).await {
        panic!("{who} should have received nothing, got {got:?}");
    }
}

/// Close with `code`; returns the code the server's close frame carried.
pub async fn close_with(ws: &mut Ws, code: u16) -> u16 {
    ws.close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: "".into(),
    }))
    .await
    .expect("close");
    closed(ws).await.0
}
