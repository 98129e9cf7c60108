//! `wasmsock-componentize`: the few `wasm-tools` steps a plugin author needs,
//! built from the same crates (and versions) as the wasmsock host:
//!
//! - `component`: core module → plugin component (embed the WIT world, rename
//!   exports, add the wasi_snapshot_preview1 reactor adapter when the module
//!   imports WASI preview 1);
//! - `wat`: WebAssembly text → binary;
//! - `bindgen-c`: C bindings for a WIT world (what `wit-bindgen c` writes).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{Resolve, WorldId};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Turn a core WebAssembly module into a component.
    Component {
        /// The core module (`.wasm`).
        module: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
        /// Embed this WIT package (a folder or a file) as the module's world.
        /// Not needed when the module already carries a `component-type`
        /// section (as C objects from `bindgen-c` do).
        #[arg(long)]
        wit: Option<PathBuf>,
        /// The world to embed.
        #[arg(long, default_value = "consumer")]
        world: String,
        /// Rename a core export first, `OLD=NEW` (for languages that cannot
        /// spell `pkg:name/iface@1.0.0#func` export names). Repeatable.
        #[arg(long = "rename-export", value_name = "OLD=NEW")]
        rename_exports: Vec<String>,
        /// Let the WASI adapter allocate with `memory.grow` instead of calling
        /// the module's `cabi_realloc` (needed for Go, whose `cabi_realloc`
        /// must only serve the component model's own calls).
        #[arg(long)]
        realloc_via_memory_grow: bool,
    },
    /// Assemble WebAssembly text (a component or a core module) into binary.
    Wat {
        /// The `.wat` file.
        input: PathBuf,
        /// Where to write the binary.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Write C bindings (`WORLD.h`, `WORLD.c`, `WORLD_component_type.o`).
    BindgenC {
        /// The WIT package (a folder or a file).
        #[arg(long)]
        wit: PathBuf,
        /// The world to generate.
        #[arg(long, default_value = "consumer")]
        world: String,
        /// The folder to write into (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("wasmsock-componentize: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Component {
            module,
            output,
            wit,
            world,
            rename_exports,
            realloc_via_memory_grow,
        } => {
            let mut bytes =
                std::fs::read(&module).with_context(|| format!("reading {}", module.display()))?;
            if !wasmparser::Parser::is_core_wasm(&bytes) {
                bail!("{} is not a core WebAssembly module", module.display());
            }
            if !rename_exports.is_empty() {
                bytes = rename(&bytes, &parse_renames(&rename_exports)?)?;
            }
            if let Some(wit) = wit {
                let (resolve, world) = load_world(&wit, &world)?;
                wit_component::embed_component_metadata(
                    &mut bytes,
                    &resolve,
                    world,
                    StringEncoding::UTF8,
                )?;
            }
            let mut encoder = ComponentEncoder::default()
                .validate(true)
                .module(&bytes)
                .context(
                    "reading the module's component metadata (is a WIT world embedded? pass --wit)",
                )?
                .realloc_via_memory_grow(realloc_via_memory_grow);
            if imports_module(&bytes, WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME)? {
                encoder = encoder.adapter(
                    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
                )?;
            }
            let component = encoder
                .encode()
                .with_context(|| format!("making a component of {}", module.display()))?;
            write(&output, &component)
        }
        Command::Wat { input, output } => {
            let bytes = wat::parse_file(&input)?;
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&bytes)
                .with_context(|| format!("validating {}", input.display()))?;
            write(&output, &bytes)
        }
        Command::BindgenC {
            wit,
            world,
            out_dir,
        } => {
            let (mut resolve, world) = load_world(&wit, &world)?;
            let mut files = wit_bindgen_core::Files::default();
            wit_bindgen_c::Opts::default()
                .build()
                .generate(&mut resolve, world, &mut files)?;
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            for (name, contents) in files.iter() {
                write(&out_dir.join(name), contents)?;
            }
            Ok(())
        }
    }
}

fn load_world(wit: &Path, world: &str) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_path(wit)
        .with_context(|| format!("reading WIT from {}", wit.display()))?;
    let world = resolve.select_world(&[pkg], Some(world))?;
    Ok((resolve, world))
}

fn parse_renames(specs: &[String]) -> Result<HashMap<String, String>> {
    specs
        .iter()
        .map(|s| match s.split_once('=') {
            Some((old, new)) if !old.is_empty() && !new.is_empty() => {
                Ok((old.to_string(), new.to_string()))
            }
            _ => bail!("--rename-export wants OLD=NEW, got {s:?}"),
        })
        .collect()
}

/// Whether the core module imports anything from `module`.
fn imports_module(bytes: &[u8], module: &str) -> Result<bool> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::ImportSection(imports) = payload? {
            for import in imports.into_imports() {
                if import?.module == module {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Copy a core module section by section, renaming exports in `renames`.
fn rename(bytes: &[u8], renames: &HashMap<String, String>) -> Result<Vec<u8>> {
    let mut module = wasm_encoder::Module::new();
    let mut found = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        if let wasmparser::Payload::ExportSection(exports) = &payload {
            let mut section = wasm_encoder::ExportSection::new();
            for export in exports.clone() {
                let export = export?;
                let name = match renames.get(export.name) {
                    Some(new) => {
                        found += 1;
                        new.as_str()
                    }
                    None => export.name,
                };
                let kind = match export.kind {
                    wasmparser::ExternalKind::Func => wasm_encoder::ExportKind::Func,
                    wasmparser::ExternalKind::Table => wasm_encoder::ExportKind::Table,
                    wasmparser::ExternalKind::Memory => wasm_encoder::ExportKind::Memory,
                    wasmparser::ExternalKind::Global => wasm_encoder::ExportKind::Global,
                    wasmparser::ExternalKind::Tag => wasm_encoder::ExportKind::Tag,
                    other => bail!("unsupported export kind {other:?}"),
                };
                section.export(name, kind, export.index);
            }
            module.section(&section);
        } else if let Some((id, range)) = payload.as_section() {
            module.section(&wasm_encoder::RawSection {
                id,
                data: &bytes[range],
            });
        }
    }
    if found != renames.len() {
        let missing: Vec<_> = renames.keys().collect();
        bail!("the module lacks some exports to rename (wanted {missing:?})");
    }
    Ok(module.finish())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
