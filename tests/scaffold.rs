//! `wasmsock new NAME --lang LANG`: for each language, the scaffold builds
//! with its own `build.sh` (given the toolchains `scripts/plugins.sh
//! --install` puts under target/toolchains) and `wasmsock check` takes the
//! `NAME.wasm` it writes; bad names, unknown languages and existing folders
//! are refused with exit code 1.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use crate::support;

fn wasmsock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmsock"))
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn tools() -> PathBuf {
    support::root().join("target/toolchains")
}

/// Fails, naming the command that installs it, when a toolchain is missing.
fn require(lang: &str, what: &Path) {
    assert!(
        what.exists(),
        "{} is missing: the {lang} toolchain is not installed; install it with \
         `scripts/plugins.sh --install --lang {lang}` (or every language with \
         `scripts/plugins.sh --install`)",
        what.display()
    );
}

fn require_command(lang: &str, program: &str, arg: &str) {
    let ok = Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{program} {arg}` failed: the {lang} toolchain is not installed; install it with \
         `scripts/plugins.sh --install --lang {lang}`"
    );
}

/// `wasmsock-componentize`, built with the workspace.
fn componentize() -> PathBuf {
    let path = support::root().join("target/debug").join(format!(
        "wasmsock-componentize{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p wasmsock-componentize` \
         (`scripts/plugins.sh --install` builds it too)",
        path.display()
    );
    path
}

/// `PATH` with `dirs` in front.
fn path_with(dirs: &[PathBuf]) -> OsString {
    let old = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(dirs.iter().cloned().chain(std::env::split_paths(&old))).expect("PATH")
}

/// The environment that points a scaffold's build.sh at the toolchains.
fn build_env(lang: &str) -> Vec<(&'static str, OsString)> {
    let venv_bin = tools().join("venv/bin");
    match lang {
        "rust" => {
            let targets = Command::new("rustup")
                .args(["target", "list", "--installed"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            assert!(
                targets.lines().any(|t| t.trim() == "wasm32-wasip2"),
                "the wasm32-wasip2 target is not installed: `rustup target add wasm32-wasip2` \
                 (`scripts/plugins.sh --install --lang rust`)"
            );
            // One target folder for every run, so wit-bindgen is built once.
            vec![(
                "CARGO_TARGET_DIR",
                support::root().join("target/scaffold").into(),
            )]
        }
        "python" => {
            require("python", &venv_bin.join("componentize-py"));
            vec![("PATH", path_with(&[venv_bin]))]
        }
        "js" => {
            let bin = tools().join("npm/componentize-js/node_modules/.bin");
            require("javascript", &bin.join("componentize-js"));
            require_command("javascript", "node", "--version");
            vec![("PATH", path_with(&[bin]))]
        }
        "c" => {
            require_command("c", "clang-19", "--version");
            vec![("WASMSOCK_COMPONENTIZE", componentize().into())]
        }
        "go" => {
            require("go", &venv_bin.join("go"));
            vec![
                ("PATH", path_with(&[venv_bin])),
                ("GOCACHE", tools().join("go-cache").into()),
                ("WASMSOCK_COMPONENTIZE", componentize().into()),
            ]
        }
        other => panic!("no toolchain for {other}"),
    }
}

/// `wasmsock new`, the scaffold's build.sh, then `wasmsock check`.
fn new_build_check(lang: &str) {
    let env = build_env(lang);
    let parent = tempfile::tempdir().expect("temp dir");
    let name = format!("my-{lang}_plugin");
    let out = wasmsock()
        .args(["new", &name, "--lang", lang, "--dir"])
        .arg(parent.path())
        .output()
        .expect("run wasmsock new");
    assert!(out.status.success(), "wasmsock new: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("build.sh") && stdout.contains(&format!("wasmsock check {name}.wasm")),
        "wasmsock new names the next commands: {stdout}"
    );
    let dir = parent.path().join(&name);
    for file in ["build.sh", "README.md", "wit/consumer.wit"] {
        assert!(dir.join(file).is_file(), "{lang}: no {file}");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
    assert!(
        readme.contains(&format!("wasmsock check {name}.wasm")),
        "{readme}"
    );

    let started = Instant::now();
    let mut build = Command::new("bash");
    build.arg(dir.join("build.sh")).current_dir(&dir);
    for (key, value) in env {
        build.env(key, value);
    }
    let out = build.output().expect("run build.sh");
    assert!(out.status.success(), "{lang}: build.sh: {}", text(&out));
    eprintln!(
        "{lang}: build.sh took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let wasm = dir.join(format!("{name}.wasm"));
    assert!(
        wasm.is_file(),
        "{lang}: build.sh did not write {}",
        wasm.display()
    );
    let out = wasmsock().arg("check").arg(&wasm).output().expect("check");
    assert!(
        out.status.success(),
        "{lang}: wasmsock check: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok: implements wasmsock:plugin/consumer"),
        "{}",
        text(&out)
    );
}

#[test]
fn rust_scaffold_builds_and_checks() {
    new_build_check("rust");
}

#[test]
fn python_scaffold_builds_and_checks() {
    new_build_check("python");
}

#[test]
fn js_scaffold_builds_and_checks() {
    new_build_check("js");
}

#[test]
fn c_scaffold_builds_and_checks() {
    new_build_check("c");
}

#[test]
fn go_scaffold_builds_and_checks() {
    new_build_check("go");
}

/// Runs `wasmsock new ARGS` in `cwd`; must exit 1 with `expect` on stderr.
fn refused(cwd: &Path, args: &[&str], expect: &str) {
    let out = wasmsock()
        .arg("new")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run wasmsock new");
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(expect),
        "{args:?}: expected {expect:?} in {}",
        text(&out)
    );
}

#[test]
fn refuses_bad_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["", "a b", "../up", "x/y", "dot.ted", "é"] {
        refused(dir.path(), &[name, "--lang", "rust"], "invalid plugin name");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("read").count(),
        0,
        "nothing was created"
    );
    assert!(!dir.path().join("../up").exists());
}

#[test]
fn refuses_unknown_languages() {
    let dir = tempfile::tempdir().expect("temp dir");
    refused(
        dir.path(),
        &["app", "--lang", "cobol"],
        "unknown language \"cobol\": one of rust, python, js, c, go",
    );
    assert!(!dir.path().join("app").exists());
}

#[test]
fn refuses_to_overwrite_and_defaults_to_the_current_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No --dir: the folder goes in the current directory.
    let out = wasmsock()
        .args(["new", "app", "--lang", "javascript"])
        .current_dir(dir.path())
        .output()
        .expect("run wasmsock new");
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.path().join("app/consumers.js").is_file());
    let js = std::fs::read_to_string(dir.path().join("app/consumers.js")).expect("read");

    std::fs::write(dir.path().join("app/consumers.js"), "mine").expect("write");
    refused(dir.path(), &["app", "--lang", "go"], "already exists");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app/consumers.js")).expect("read"),
        "mine",
        "the existing folder is left alone"
    );
    assert!(!dir.path().join("app/main.go").exists());
    assert!(js.contains("extends WebsocketConsumer"));

    // A file of that name counts too.
    std::fs::write(dir.path().join("taken"), "x").expect("write");
    refused(dir.path(), &["taken", "--lang", "c"], "already exists");
}
