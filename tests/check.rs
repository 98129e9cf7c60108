//! `wasmsock check FILE.wasm`: the loader's verdict for plugin authors.

use std::path::Path;
use std::process::Command;

use crate::support::{fixture, plugins_dir, wasm};

fn check(path: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmsock"))
        .arg("check")
        .arg(path)
        .output()
        .expect("run check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn accepts_a_plugin_and_lists_its_imports() {
    let (ok, out) = check(&wasm("echo"));
    assert!(ok, "{out}");
    assert!(
        out.contains("ok: implements wasmsock:plugin/consumer"),
        "{out}"
    );
    assert!(
        out.contains("size: ") && out.contains("compile time: "),
        "{out}"
    );
    assert!(
        out.contains("wasmsock:plugin/connection@0.1.0") && out.contains("wasi:cli/stdout@"),
        "{out}"
    );
}

#[test]
fn explains_each_refusal() {
    let dir = plugins_dir();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "core",
            fixture("core-module"),
            vec![
                "not a component",
                "wasm32-wasip2",
                "wasm-tools component new",
            ],
        ),
        (
            "other",
            fixture("wrong-world"),
            vec![
                "does not implement the wasmsock:plugin/consumer world",
                "`wasmsock:plugin/handler@0.1.0`",
            ],
        ),
        (
            "trap",
            fixture("traps-on-start"),
            vec!["fails while instantiating", "unreachable"],
        ),
        (
            "garbage",
            b"not wasm".to_vec(),
            vec!["not a WebAssembly file"],
        ),
        ("empty", Vec::new(), vec!["the file is empty"]),
    ];
    for (name, bytes, words) in cases {
        let path = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).expect("write");
        let (ok, out) = check(&path);
        assert!(!ok, "{name}: must fail: {out}");
        assert!(
            out.contains(&format!("{name}.wasm: refused: ")),
            "{name}: names the file: {out}"
        );
        for w in words {
            assert!(out.contains(w), "{name}: lacks {w:?}: {out}");
        }
    }
    let (ok, out) = check(&dir.path().join("missing.wasm"));
    assert!(!ok && out.contains("cannot read the file"), "{out}");
}
