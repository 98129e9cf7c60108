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
