//! wasmsock: a WebSocket server whose handlers are sandboxed WebAssembly
//! components.
//!
//! The path of one message, and the module that owns each step:
//!
//! ```text
//! client ─TCP─▶ server (listener) ─▶ server::handshake ─▶ routing ─▶ runtime::shard (plugin instance)
//!                                          │                 ▲                 │
//!                                          │          plugins (registry) ◀── plugins::watcher
//!                                          ▼                                   │
//!                         server::connection ◀── server::outbox ◀── runtime::imports (send, close)
//! ```
//!
//! - [`server`]: the accept loop, the HTTP upgrade (parsed here so routing and
//!   `on-connect` run before the server commits), the per-connection pump and
//!   its bounded outbound queue.
//! - [`routing`]: route patterns with `{param}` segments; most specific wins.
//! - [`plugins`]: the registry of loaded plugins, loading and type-checking
//!   files, and the folder watcher that hot-loads them.
//! - [`runtime`]: the wasmtime engine (epoch deadlines, memory caps), the
//!   generated bindings, the host side of each imported WIT interface,
//!   shards (one store and instance owned by one task), each version's
//!   health (failures, quarantine) and the per-shard log budget.
//! - [`server::admin`]: `/status` and `/healthz` on a separate listener.
//! - [`config`]: the server config file, limits, plugin manifests, WASI
//!   grants and their errors.
//! - [`scaffold`]: `wasmsock new`, a ready-to-build echo plugin per language.
//! - [`testing`]: the harness for plugin authors: load a component,
//!   connect, send, receive with a timeout, disconnect, read its log —
//!   through the real runtime and outbox, without a socket.

pub mod config;
pub mod plugins;
pub mod routing;
pub mod runtime;
pub mod scaffold;
pub mod server;
pub mod testing;
pub mod text;
