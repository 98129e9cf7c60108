//! What the Rust SDK (`sdk/rust`) puts in a component, checked on the
//! example plugins as `scripts/build-plugins.sh` builds them: one workspace,
//! so the SDK is compiled once with every feature any of them asks for.

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use crate::support::wasm;

const ADOPT_HANDLER: &str = "wasmsock:plugin/adopt-handler@0.1.0";

/// The host adopts the connections of any plugin that exports
/// `adopt-handler` (its default `on_reload` then becomes `adopt`), and a
/// consumer whose values live only in its instance would close every
/// client for want of state. So only `export_consumer!(T, adopt)` may add
/// the export, even though `plugins/counter` turns the `adopt` feature on
/// for the whole workspace.
#[test]
fn only_plugins_exported_with_adopt_export_adopt_handler() {
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).expect("engine");
    for (name, adopts) in [
        ("echo", false),
        ("chat", false),
        ("fanout", false),
        ("json_echo", false),
        ("counter", true),
    ] {
        let component = Component::from_file(&engine, wasm(name)).expect("compile");
        let exports: Vec<String> = component
            .component_type()
            .exports(&engine)
            .map(|(export, _)| export.to_string())
            .collect();
        assert!(
            exports.iter().any(|e| e == "wasmsock:plugin/handler@0.1.0"),
            "{name}: {exports:?}"
        );
        assert_eq!(
            exports.iter().any(|e| e == ADOPT_HANDLER),
            adopts,
            "{name} exports: {exports:?}"
        );
    }
}

/// The counter example as the README tells it: a few messages, then
/// `version` changes in `counter.toml`, and the same socket answers with the
/// new version while its count goes on (the SDK stored each value in the
/// connection's attachment, and the new version's `on-adopt` restored it).
#[tokio::test]
async fn the_counter_keeps_counting_on_an_open_socket_across_a_reload() {
    use crate::support::{install, plugins_dir, root, roundtrip, TestServer};
    use std::time::{Duration, Instant};

    let dir = plugins_dir();
    let manifest = std::fs::read_to_string(root().join("plugins/counter/counter.toml"))
        .expect("plugins/counter/counter.toml");
    std::fs::write(dir.path().join("counter.toml"), &manifest).expect("manifest");
    install(dir.path(), "counter", "counter");
    let server = TestServer::start(dir.path(), &[]);
    let mut ws = server.connect("/counter").await;
    for n in 1..=3 {
        assert_eq!(
            roundtrip(&mut ws, "hi").await,
            format!(r#"{{"count":{n},"version":"1"}}"#)
        );
    }
    let edited = manifest.replace("version = \"1\"", "version = \"2\"");
    assert_ne!(edited, manifest, "counter.toml sets version = \"1\"");
    let tmp = dir.path().join(".counter.toml.tmp");
    std::fs::write(&tmp, edited).expect("write");
    std::fs::rename(&tmp, dir.path().join("counter.toml")).expect("rename");
    server
        .wait_log("plugin `counter` (version 2)", Duration::from_secs(10))
        .await;
    let start = Instant::now();
    let mut n = 4;
    loop {
        let answer = roundtrip(&mut ws, "hi").await;
        if answer == format!(r#"{{"count":{n},"version":"2"}}"#) {
            break;
        }
        assert_eq!(answer, format!(r#"{{"count":{n},"version":"1"}}"#));
        assert!(start.elapsed() < Duration::from_secs(10), "never moved");
        n += 1;
    }
    assert_eq!(
        roundtrip(&mut ws, "hi").await,
        format!(r#"{{"count":{},"version":"2"}}"#, n + 1)
    );
}
