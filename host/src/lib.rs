//! wasmsock: a WebSocket server whose handlers are sandboxed WebAssembly
//! components.
//!
//! The path of one message, and the module that owns each step:
//!
//! ```text
//! client ─TCP─▶ server (listener, handshake) ─▶ session (route, per-IP, origin, quarantine, JWT, limit, on-connect)
//!                        │                            │                    │
//!                        │                 plugins (registry, load) ◀── plugins::watcher
//!                        ▼                            ▼                    ▼
//!            server::connection ─ messages ─▶ runtime::shard (store + instance)
//!                        ▲                            │
//!                        └── runtime::outbox ◀── runtime::imports (send, close)
//!                                   ▲
//!                     runtime::connections (id → outbox, plugin, version, shard)
//!                                   │ group and address traffic (runtime::delivery)
//!                                   ▼
//!                     layer (this host's groups; memory or Redis to the others)
//! ```
//!
//! Floors, top to bottom; a module imports only from floors below its own:
//! `main` → [`testing`] → [`server`] → [`session`] → [`plugins`] →
//! [`runtime`] → `layer` → [`config`], [`metrics`], [`events`],
//! [`routing`], [`close`], [`text`].
//!
//! - [`server`]: the accept loop (plain and TLS listeners; the TLS
//!   configuration, its handshake and its reload when the certificate
//!   changes), the HTTP upgrade (parsed here so admission
//!   runs before the server commits), the per-connection task that pumps
//!   frames between the socket, the shard and the outbox; the admin listener
//!   (status, metrics, the event log and its stream, the console page; its
//!   token).
//! - [`session`]: admission, transport-free and shared with the test
//!   harness: route, per-address limits, origin, quarantine, the token
//!   (`[auth]`) and the middleware chain, connection limit, registration,
//!   `on-connect`, subprotocol, response headers; and the end of a session.
//! - [`plugins`]: the registry of loaded plugins (consumers, and the
//!   middleware their chains name), the one load path
//!   (compile, link, first instance) used by the registry, `check` and the
//!   harness, putting a load's result in force (routes, the version it
//!   replaces), and the folder watcher that hot-loads them.
//! - [`runtime`]: the wasmtime engine and its linker (epoch deadlines,
//!   memory caps), the generated bindings, the host side of each imported
//!   WIT interface, what each version's instances are built from (a
//!   consumer's and a middleware's share one base), shards (one store and
//!   instance behind a lock, served by one task, or by a connection's own
//!   task when the shard is idle) and middleware runners, each
//!   connection's outbound queue, the registry of every connection, the
//!   delivery of group and address traffic, each version's health and the
//!   per-shard log budget.
//! - `layer`: the channel layer: this host's groups (membership and the
//!   member lists a broadcast fans out over, generic over what a member
//!   is), and the `Layer` that reaches other hosts: memory (none) or Redis
//!   (publish, subscribe, membership notes, sequence numbers and gaps).
//! - [`config`]: the server config file, limits, the admin token, plugin
//!   manifests, WASI grants and their errors; [`routing`]: route patterns with `{param}`
//!   segments, most specific first; [`close`]: close codes; [`metrics`]:
//!   the process's Prometheus families, which every floor records into;
//!   [`events`]: the process's log of what happened to plugins (loads,
//!   refusals, failures, quarantines), kept and streamed for the admin
//!   listener.
//! - [`scaffold`]: `wasmsock new`, a ready-to-build echo plugin per language
//!   (or a Rust middleware).
//! - [`testing`]: the harness for plugin authors: load a component,
//!   connect, send, receive with a timeout, disconnect, read its log —
//!   through the real load path, admission, runtime and outbox, without a
//!   socket.

pub mod close;
pub mod config;
pub mod events;
pub(crate) mod layer;
pub mod metrics;
pub mod plugins;
pub mod routing;
pub mod runtime;
pub mod scaffold;
pub mod server;
pub(crate) mod session;
pub mod testing;
pub mod text;

/// The host's insides that the micro-benchmarks (`host/benches`) and the
/// property tests drive directly. Not an API: it changes with the code.
#[doc(hidden)]
pub mod internals {
    pub use crate::plugins::loader::compile;
    pub use crate::runtime::bindings::{Message, PluginExports};
    pub use crate::runtime::budget::CallBudget;
    pub use crate::runtime::connections::Connections;
    pub use crate::runtime::log_budget::LogBudget;
    pub use crate::runtime::log_tags::LogTags;
    pub use crate::runtime::outbox::{Batch, Outbound, Outbox};
    pub use crate::runtime::shard::{spawn, ConnectOutcome, Request, ShardSpec};
    pub use crate::runtime::state::{ConnMap, HostState, Served};
    pub use crate::runtime::timers::Timers;
    pub use crate::runtime::version::VersionBase;
    pub use crate::server::handshake::{parse_head, HeadError};
    pub use crate::session::scope::{build as build_scope, cookies, subprotocols};
    pub use crate::session::RequestHead;
}
