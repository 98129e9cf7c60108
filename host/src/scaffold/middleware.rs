//! `wasmsock new NAME --lang rust --middleware`: a ready-to-build Rust
//! middleware (the `middleware` world of the WIT) on plain `wit-bindgen`,
//! with its manifest. The Cargo project and `build.sh` are the Rust
//! consumer scaffold's; the code, manifest and README are its own
//! templates under `host/templates/`.

use super::embedded::WIT;
use super::Lang;

/// The middleware's code.
const LIB: &str = include_str!("../../templates/rust-middleware/src/lib.rs");
/// Its manifest, written as `NAME.toml`.
const MANIFEST: &str = include_str!("../../templates/rust-middleware/middleware.toml");
/// Its README.
const README: &str = include_str!("../../templates/README-middleware.md");

/// The files of a Rust middleware scaffold for `name`.
pub fn files(name: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = super::files(name, Lang::Rust)
        .into_iter()
        .filter(|(path, _)| matches!(*path, "Cargo.toml" | "build.sh" | ".gitignore"))
        .map(|(path, text)| {
            let text = text.replace("a wasmsock plugin (echo)", "a wasmsock middleware");
            (path.to_string(), text)
        })
        .collect();
    let fill = |text: &str| {
        text.replace("{{needs}}", Lang::Rust.needs())
            .replace("{{name}}", name)
    };
    out.push(("src/lib.rs".into(), fill(LIB)));
    out.push((format!("{name}.toml"), fill(MANIFEST)));
    out.push(("README.md".into(), fill(README)));
    out.push(("wit/consumer.wit".into(), WIT.to_string()));
    out
}
