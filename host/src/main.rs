//! The `wasmsock` command.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use wasmsock::config::{LogFormat, Overrides, ServerConfig};
use wasmsock::plugins::{watcher, Registry};
use wasmsock::runtime::{PoolPlan, WasmEngine};
use wasmsock::server::tls::{self, Tls};
use wasmsock::server::{Listeners, Server, Stats};

/// The server's allocator: jemalloc, whose background thread returns memory
/// freed after a burst to the system within about a second
/// (`dirty_decay_ms` in `.cargo/config.toml`). glibc's malloc kept it in its
/// per-thread arenas: 300 clients echoing up to 256 KiB left the server at
/// about 170 MiB against 22 MiB before the burst, for as long as it ran.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A WebSocket server whose handlers are sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the plugins in a folder: `NAME.wasm` answers on `/NAME` unless
    /// its manifest `NAME.toml` says otherwise. The first line on stdout names
    /// the address listened on.
    Serve {
        /// The plugins folder [default: plugins, or the config file's value].
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free one [default: 127.0.0.1:8080].
        /// With TLS and no --tls-listen, the TLS listener takes it.
        #[arg(long)]
        listen: Option<String>,
        /// Serve `wss://` with this certificate chain (PEM, the server's
        /// certificate first) [default: the config file's `tls.cert`].
        /// Reloaded when the file changes.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM) [default: the config file's
        /// `tls.key`].
        #[arg(long)]
        tls_key: Option<PathBuf>,
        /// Address of the TLS listener, beside the plain one on --listen;
        /// without it, TLS takes --listen and no plain listener runs
        /// [default: the config file's `tls.listen`].
        #[arg(long)]
        tls_listen: Option<String>,
        /// Serve the console (`/`), `/status`, `/events`, `/metrics`,
        /// `/readyz` and `/healthz` on this address; the second line on
        /// stdout is the console's URL. Beyond loopback it needs a token
        /// (`admin_token` in the config file, or WASMSOCK_ADMIN_TOKEN).
        #[arg(long)]
        admin: Option<String>,
        /// Server configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Folder for compiled plugins [default: PLUGINS/.wasmsock-cache].
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Compile every plugin afresh; keep nothing on disk.
        #[arg(long)]
        no_cache: bool,
        /// The channel layer that carries groups across hosts:
        /// `redis://HOST:PORT` (many servers on one Redis share groups) or
        /// `memory` (this server alone) [default: memory, or the config
        /// file's `layer`].
        #[arg(long)]
        layer: Option<String>,
        /// Log lines as `text` (for people) or `json` (one object per line,
        /// for log pipelines) [default: text, or the config file's
        /// `log_format`].
        #[arg(long)]
        log_format: Option<String>,
    },
    /// Check that a file is a plugin wasmsock can load: a component of the
    /// `wasmsock:plugin/consumer` world (or of the `middleware` world) that
    /// instantiates. Prints what it
    /// imports, its size and compile time; exits 1 with the reason if not.
    Check {
        /// The `.wasm` file.
        file: PathBuf,
    },
    /// Create a ready-to-build echo plugin in a new folder DIR/NAME: its
    /// source, `wit/consumer.wit`, a `build.sh` that writes `NAME.wasm`, and
    /// a README saying how to build, check and serve it.
    New {
        /// The plugin's name (letters, digits, '-' and '_'): the folder,
        /// `NAME.wasm` and its route `/NAME`.
        name: String,
        /// The language: rust, python, js, c or go.
        #[arg(long)]
        lang: String,
        /// The folder to create it in [default: the current folder].
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Create a middleware (the `middleware` world: a handshake step
        /// consumers name in `middleware = [...]`) instead of a consumer;
        /// Rust only.
        #[arg(long)]
        middleware: bool,
    },
    /// Run a plugin through a script of steps (connect, send, expect,
    /// expect-nothing, expect-close, close, ...) with the test harness: no
    /// server, no socket. Prints each step that passed; exits 1 at the first
    /// that fails, naming its line. The step language is documented in
    /// `wasmsock::testing::script`.
    Test {
        /// The `.wasm` file.
        file: PathBuf,
        /// The script.
        #[arg(long)]
        script: PathBuf,
    },
}

/// Log to stderr at `RUST_LOG`'s levels (default info), in `format`.
fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        init_logs(LogFormat::Text);
    }
    match cli.command {
        Command::Serve {
            plugins,
            listen,
            admin,
            config,
            cache_dir,
            no_cache,
            layer,
            log_format,
            tls_cert,
            tls_key,
            tls_listen,
        } => {
            let overrides = Overrides {
                listen,
                admin,
                plugins_dir: plugins,
                cache_dir,
                no_cache,
                layer,
                log_format,
                tls_cert,
                tls_key,
                tls_listen,
                admin_token_env: std::env::var(wasmsock::config::ADMIN_TOKEN_ENV).ok(),
            };
            let config = ServerConfig::load(config.as_deref(), &overrides)?;
            init_logs(config.log_format);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?
                .block_on(serve(config))
        }
        Command::Test { file, script } => test(&file, &script),
        Command::New {
            name,
            lang,
            dir,
            middleware,
        } => new(&name, &lang, &dir, middleware),
        Command::Check { file } => {
            let report = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?
                .block_on(wasmsock::plugins::check::check(&file));
            match report {
                Ok(r) => {
                    println!(
                        "{}: ok: implements wasmsock:plugin/{}",
                        file.display(),
                        r.world
                    );
                    if r.world == "middleware" {
                        println!(
                            "  a middleware: it serves no route; a consumer runs it by naming it in \
                             its manifest's `middleware = [...]`"
                        );
                    }
                    println!("  size: {} bytes", r.size);
                    println!("  compile time: {} ms", r.compile_time.as_millis());
                    println!("  imports:");
                    for name in r.imports {
                        println!("    {name}");
                    }
                    Ok(())
                }
                Err(e) => {
                    println!(
                        "{}: refused: {}",
                        file.display(),
                        wasmsock::text::one_line(&e.to_string())
                    );
                    std::process::exit(1);
                }
            }
        }
    }
}

fn new(name: &str, lang: &str, parent: &std::path::Path, middleware: bool) -> anyhow::Result<()> {
    use wasmsock::scaffold;
    let result = scaffold::Lang::parse(lang).and_then(|lang| {
        if middleware {
            if lang != scaffold::Lang::Rust {
                eprintln!("wasmsock new: --middleware is available with --lang rust only");
                std::process::exit(1);
            }
            return scaffold::create_middleware(parent, name)
                .map(|(dir, files)| (lang, dir, files));
        }
        scaffold::create(parent, name, lang).map(|(dir, files)| (lang, dir, files))
    });
    let (lang, dir, files) = match result {
        Ok(done) => done,
        Err(e) => {
            eprintln!("wasmsock new: {e}");
            std::process::exit(1);
        }
    };
    let shown = if parent == std::path::Path::new(".") {
        std::path::PathBuf::from(name)
    } else {
        dir.clone()
    };
    let what = if middleware {
        "middleware"
    } else {
        "echo plugin"
    };
    println!("created {} ({lang} {what}):", shown.display());
    let sdk = files.iter().filter(|f| f.starts_with("sdk/")).count();
    for file in files.iter().filter(|f| !f.starts_with("sdk/")) {
        println!("  {}", shown.join(file).display());
    }
    if sdk > 0 {
        println!(
            "  {} ({sdk} files: wasmsock's {} SDK, which the build uses)",
            shown.join("sdk/").display(),
            lang.title()
        );
    }
    println!("next:");
    println!("  cd {} && ./build.sh", shown.display());
    println!("  wasmsock check {name}.wasm");
    if middleware {
        println!(
            "  cp {name}.wasm {name}.toml PLUGINS/   # then name it in a consumer's manifest:"
        );
        println!("  middleware = [\"{name}\"]");
    } else {
        println!("  {}", lang.install_hint(name));
    }
    println!(
        "(see {} for what the build needs)",
        shown.join("README.md").display()
    );
    Ok(())
}

fn test(file: &std::path::Path, script: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(script)
        .with_context(|| format!("reading the script {}", script.display()))?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(wasmsock::testing::script::run(file, &text, |line, step| {
            println!("ok   {}:{line}: {step}", script.display());
        }));
    match result {
        Ok(steps) => {
            println!("{}: passed ({steps} steps)", file.display());
            Ok(())
        }
        Err(e) => {
            println!("FAIL {}: {e}", script.display());
            std::process::exit(1);
        }
    }
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    raise_fd_limit(config.limits.max_connections);
    let dir = &config.plugins_dir;
    if !dir.is_dir() {
        anyhow::bail!(
            "plugins folder {} does not exist (give one with --plugins DIR)",
            dir.display()
        );
    }
    // The pair is checked before anything compiles or listens: a bad one
    // stops the start with the file named.
    let tls = match &config.tls {
        Some(settings) => Some(Arc::new(Tls::load(settings.clone())?)),
        None => None,
    };
    let pool = config.pool.enabled.then(|| {
        PoolPlan::new(
            &config.pool,
            config.limits.max_connections,
            config.plugin_defaults.memory_limit_mb as usize,
        )
    });
    let engine = WasmEngine::with_pool(config.cache_dir.as_deref(), pool)?;
    let registry = Arc::new(Registry::new(
        dir.clone(),
        engine,
        config.plugin_defaults.clone(),
        config.limits.clone(),
        &config.layer,
    )?);
    // The admin listener answers from the start, so `/readyz` says 503
    // while the folder's plugins compile; its address is announced with
    // the public one, after the scan.
    let stats = Arc::new(Stats::default());
    let admin = match config.admin {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} for the admin pages"))?;
            let addr = listener.local_addr()?;
            tokio::spawn(wasmsock::server::admin::run(
                listener,
                registry.clone(),
                stats.clone(),
                config.admin_token.clone(),
            ));
            Some(addr)
        }
        None => None,
    };
    registry.load_all().await?;
    let _watch = watcher::watch(registry.clone())?;
    let _tls_watch = tls.clone().map(tls::watch).transpose()?;
    let listeners = Listeners {
        plain: config.plain_listener().then_some(config.listen),
        tls: config.tls_listener().zip(tls),
    };
    let server = Server::bind(listeners, registry.clone(), config.limits.clone(), stats).await?;
    let (plain, secure) = (server.local_addr(), server.tls_addr());
    let shutdown = shutdown_signal()?;
    {
        // The first line names where clients connect (the TLS listener when
        // it runs alone); the TLS listener, if any, gets a line of its own
        // after the console's.
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Some(addr) = plain.or(secure) {
            writeln!(out, "listening on {addr}")?;
        }
        if let Some(admin) = admin {
            writeln!(out, "console on http://{admin}/")?;
        }
        if let Some(addr) = secure {
            writeln!(out, "tls on {addr}")?;
        }
        out.flush()?;
    }
    let urls: Vec<String> = [
        plain.map(|a| format!("ws://{a}")),
        secure.map(|a| format!("wss://{a}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    tracing::info!(
        "serving {} plugin(s) from {} on {}: {}",
        registry.names().len(),
        dir.display(),
        urls.join(" and "),
        registry.names().join(", ")
    );
    server.run(shutdown, config.shutdown_drain).await;
    Ok(())
}

/// Every connection takes a file descriptor, and many systems start a
/// process with a soft limit of 1,024: raise it to the hard limit, and say
/// so when even that is below `max_connections`.
fn raise_fd_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::debug!("file descriptor limit: {limit}");
            if limit < max_connections as u64 + 64 {
                tracing::warn!(
                    "the file descriptor limit ({limit}) is below limits.max_connections ({max_connections}): connections past it fail to be accepted; raise it (ulimit -n) or lower max_connections"
                );
            }
        }
        Err(e) => tracing::warn!("cannot raise the file descriptor limit: {e}"),
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, so call it before announcing the listening address: a signal that
/// arrives right after the announcement then shuts down cleanly.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let ctrl_c = tokio::signal::ctrl_c();
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    })
}
