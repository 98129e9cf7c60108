//! `wasmsock new NAME --lang LANG`: a ready-to-build echo plugin in a new
//! folder. Its files and the WIT are compiled into the binary, so the
//! command works from any folder. For C and Go the files are the
//! repository's example plugin `plugins/echo-LANG/` itself (built by
//! `scripts/plugins.sh`, tested by `tests/languages.rs`), with the folder's
//! name `echo-LANG` replaced by the plugin's. Python's is a Django Channels
//! consumer, `plugins/channels-echo/`, with wasmsock's Channels SDK
//! (`sdk/python`, not published) written into the plugin's `sdk/` so that
//! it builds outside a clone; JavaScript's is a consumer on the JavaScript
//! SDK, `plugins/echo-js-sdk/`, with `sdk/js` in its `sdk/` likewise. Rust, whose example uses the unpublished SDK,
//! and the README have templates under `host/templates/`, where `{{name}}`
//! becomes the plugin's name.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

mod embedded;
mod lang;
mod middleware;

use embedded::{JS_SDK, PYTHON_SDK, README, WIT};
pub use lang::{Lang, LANGS};

/// Why `wasmsock new` refused or failed.
#[derive(Debug, Error)]
pub enum ScaffoldError {
    /// The name is not a plugin name.
    #[error(
        "invalid plugin name {0:?}: use letters, digits, '-' and '_' only \
         (the name becomes NAME.wasm and the route /NAME)"
    )]
    BadName(String),
    /// `--lang` names no known language.
    #[error("unknown language {0:?}: one of rust, python, js, c, go")]
    UnknownLang(String),
    /// The folder is there already.
    #[error("{0} already exists; not overwriting it (choose another name or --dir)")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// What was being written.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The files of a scaffold for `name` in `lang`: relative path and contents,
/// `{{name}}` (or the example's name) substituted. `build.sh` is the one to
/// make executable.
pub fn files(name: &str, lang: Lang) -> Vec<(&'static str, String)> {
    // Cargo refuses package names that start with a digit.
    let krate = if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("plugin-{name}")
    } else {
        name.to_string()
    };
    let fill = |text: &str| {
        text.replace("{{about}}", lang.about())
            .replace("{{serve}}", lang.serve())
            .replace("{{language}}", lang.title())
            .replace("{{crate}}", &krate)
            .replace("{{lang}}", lang.id())
            .replace("{{source}}", lang.source())
            .replace("{{needs}}", lang.needs())
            .replace("{{name}}", name)
    };
    let mut out: Vec<(&'static str, String)> = lang
        .templates()
        .iter()
        .map(|(path, text)| {
            let text = match lang.example() {
                Some(example) => text.replace(example, name),
                None => fill(text),
            };
            (*path, text)
        })
        .collect();
    out.push(("README.md", fill(README)));
    out.push(("wit/consumer.wit", WIT.to_string()));
    let sdk = match lang {
        Lang::Python => PYTHON_SDK,
        Lang::Js => JS_SDK,
        _ => &[],
    };
    out.extend(sdk.iter().map(|(path, text)| (*path, text.to_string())));
    out
}

/// Create `parent/name/` with the scaffold; returns the folder and the files
/// written (relative paths). Refuses a bad name and an existing folder;
/// removes what it wrote if writing fails part-way.
pub fn create(
    parent: &Path,
    name: &str,
    lang: Lang,
) -> Result<(PathBuf, Vec<String>), ScaffoldError> {
    let files = files(name, lang)
        .into_iter()
        .map(|(path, text)| (path.to_string(), text))
        .collect();
    create_files(parent, name, files)
}

/// [`create`] for a Rust middleware (`--middleware`): its code, manifest
/// `NAME.toml`, build and README.
pub fn create_middleware(
    parent: &Path,
    name: &str,
) -> Result<(PathBuf, Vec<String>), ScaffoldError> {
    create_files(parent, name, middleware::files(name))
}

fn create_files(
    parent: &Path,
    name: &str,
    files: Vec<(String, String)>,
) -> Result<(PathBuf, Vec<String>), ScaffoldError> {
    if !crate::plugins::valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    let dir = parent.join(name);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    if dir.symlink_metadata().is_ok() {
        return Err(ScaffoldError::Exists(dir));
    }
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    if let Err(e) = std::fs::create_dir(&dir) {
        return Err(if e.kind() == io::ErrorKind::AlreadyExists {
            ScaffoldError::Exists(dir)
        } else {
            ScaffoldError::Io {
                path: dir,
                source: e,
            }
        });
    }
    let written = files.iter().map(|(path, _)| path.clone()).collect();
    for (rel, text) in &files {
        if let Err(e) = write(&dir.join(rel), text) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    }
    Ok((dir, written))
}

fn write(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    let err = |source| ScaffoldError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)?;
    #[cfg(unix)]
    if path.extension().is_some_and(|e| e == "sh") {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        for lang in LANGS {
            for (path, text) in files("my-app_2", lang) {
                assert!(!text.contains("{{"), "{lang}: {path} keeps a placeholder");
                if path == "build.sh" {
                    assert!(text.contains("my-app_2.wasm"), "{lang}: {path}");
                }
            }
        }
    }

    /// `plugins/NAME/` in the repository.
    fn example_dir(example: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins")
            .join(example)
    }

    /// The example folders are the scaffolds: every file of one (but the
    /// `wit` link and build leftovers) is in the scaffold, and its `wit`
    /// is the repository's.
    #[test]
    fn examples_are_the_scaffolds() {
        for lang in LANGS {
            let Some(example) = lang.example() else {
                continue;
            };
            let dir = example_dir(example);
            let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|entry| entry.expect("read_dir").file_name())
                .map(|name| name.to_string_lossy().into_owned())
                .filter(|name| {
                    name != "wit"
                        && name != "__pycache__"
                        && name != "node_modules"
                        && !name.ends_with(".wasm")
                        && *name != format!("{example}.toml")
                })
                .collect();
            on_disk.sort();
            let mut scaffold: Vec<String> = lang
                .templates()
                .iter()
                .map(|(path, _)| path.to_string())
                .collect();
            scaffold.sort();
            assert_eq!(
                on_disk, scaffold,
                "{lang}: the files of plugins/{example}/ are the `wasmsock new --lang {lang}` \
                 scaffold: list them in Lang::templates (host/src/scaffold/lang.rs)"
            );
            let wit = std::fs::read_to_string(dir.join("wit/consumer.wit")).unwrap_or_default();
            assert!(
                wit == WIT,
                "{lang}: plugins/{example}/wit must be a link to ../../wit \
                 (ln -s ../../wit plugins/{example}/wit)"
            );
        }
    }

    /// The example's name in its files becomes the plugin's name: it must
    /// only occur as a whole name there, and nothing of the repository's
    /// layout may reach a scaffold that has to build outside a clone.
    #[test]
    fn example_names_are_whole_and_scaffolds_stand_alone() {
        let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        for lang in LANGS {
            let Some(example) = lang.example() else {
                continue;
            };
            for (path, text) in lang.templates() {
                for (at, _) in text.match_indices(example) {
                    let before = text[..at].chars().next_back();
                    let after = text[at + example.len()..].chars().next();
                    assert!(
                        !before.is_some_and(name_char) && !after.is_some_and(name_char),
                        "plugins/{example}/{path}: {example:?} at byte {at} is part of a \
                         longer name, which `wasmsock new` would rewrite too"
                    );
                }
            }
            for (path, text) in files("my-app_2", lang) {
                for repo_path in ["../", "plugins/"] {
                    assert!(
                        !text.contains(repo_path),
                        "{lang}: {path} refers to the repository ({repo_path:?}), \
                         but a scaffold must build outside a clone"
                    );
                }
            }
        }
    }

    /// The Python scaffold's `sdk/` is all of `sdk/python` but its unit
    /// tests, as they are in the repository: a file added to the SDK must
    /// be listed in `PYTHON_SDK` too.
    #[test]
    fn the_python_scaffold_carries_the_whole_sdk() {
        fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                let entry = entry.expect("read_dir");
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = format!("{rel}{name}");
                if entry.path().is_dir() {
                    if name != "__pycache__" && path != "tests" {
                        walk(&entry.path(), &format!("{path}/"), out);
                    }
                } else if !name.ends_with(".pyc") {
                    out.push(format!("sdk/{path}"));
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python");
        let mut on_disk = Vec::new();
        walk(&root, "", &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = PYTHON_SDK.iter().map(|(p, _)| p.to_string()).collect();
        listed.sort();
        assert_eq!(
            on_disk, listed,
            "list every file of sdk/python (but tests/) in PYTHON_SDK (host/src/scaffold/embedded.rs)"
        );
    }

    /// The JavaScript scaffold's `sdk/` is all of `sdk/js` but its unit
    /// tests: a file added to the SDK must be listed in `JS_SDK` too.
    #[test]
    fn the_js_scaffold_carries_the_whole_sdk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/js");
        let mut on_disk: Vec<String> = std::fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
            .map(|entry| entry.expect("read_dir"))
            .filter(|entry| !entry.path().is_dir())
            .map(|entry| format!("sdk/{}", entry.file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = JS_SDK.iter().map(|(p, _)| p.to_string()).collect();
        listed.sort();
        assert_eq!(
            on_disk, listed,
            "list every file of sdk/js (but tests/) in JS_SDK (host/src/scaffold/embedded.rs)"
        );
        let dirs: Vec<String> = std::fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
            .map(|entry| entry.expect("read_dir"))
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            dirs.iter().all(|d| d == "tests"),
            "sdk/js has folders the scaffold does not carry: {dirs:?}"
        );
    }

    #[test]
    fn the_middleware_scaffold_is_filled_and_implements_the_middleware_world() {
        let files = middleware::files("gate_2");
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "Cargo.toml",
            "build.sh",
            "src/lib.rs",
            "gate_2.toml",
            "README.md",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        for (path, text) in &files {
            assert!(!text.contains("{{"), "{path} keeps a placeholder");
        }
        let lib = &files
            .iter()
            .find(|(p, _)| p == "src/lib.rs")
            .expect("lib")
            .1;
        assert!(lib.contains("world: \"middleware\""), "{lib}");
    }

    #[test]
    fn rust_package_names_never_start_with_a_digit() {
        let cargo = |name| {
            files(name, Lang::Rust)
                .into_iter()
                .find(|(path, _)| *path == "Cargo.toml")
                .map(|(_, text)| text)
                .unwrap_or_default()
        };
        assert!(cargo("1st").contains("name = \"plugin-1st\""));
        assert!(cargo("app-2").contains("name = \"app-2\""));
    }

    #[test]
    fn languages_parse_with_aliases() {
        for lang in LANGS {
            assert_eq!(Lang::parse(lang.id()).ok(), Some(lang));
        }
        assert_eq!(Lang::parse("JavaScript").ok(), Some(Lang::Js));
        assert!(matches!(
            Lang::parse("cobol"),
            Err(ScaffoldError::UnknownLang(_))
        ));
    }
}
