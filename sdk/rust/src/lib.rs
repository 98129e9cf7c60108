//! Write a wasmsock plugin as a type with one value per connection.
//!
//! The raw WIT world (`wit/consumer.wit`) hands a plugin three free functions
//! and a connection id, and leaves it to keep its own map from ids to state.
//! This crate does that bookkeeping, in the spirit of Django Channels'
//! consumer classes: implement [`Consumer`] on a struct, and
//! [`export_consumer!`] makes a component of it. `connect` builds the value
//! for a new connection (or rejects it), `receive` gets each message with
//! `&mut self`, `disconnect` consumes it.
//!
//! ```ignore
//! use wasmsock_sdk::{log, CloseInfo, Connection, Consumer, Message, Reject, Scope};
//!
//! struct Echo;
//!
//! impl Consumer for Echo {
//!     fn connect(conn: &Connection, scope: &Scope) -> Result<Self, Reject> {
//!         log::info(format!("connect {conn} path={}", scope.path));
//!         Ok(Echo)
//!     }
//!     fn receive(&mut self, conn: &Connection, msg: Message) {
//!         let _ = conn.send(&msg);
//!     }
//! }
//!
//! wasmsock_sdk::export_consumer!(Echo);
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-wasip2`; the `.wasm` it makes is
//! a plugin.
//!
//! One instance may serve many connections (shared shards), but calls into it
//! never overlap, so the state map needs no lock: it is a `thread_local!`
//! declared by [`export_consumer!`]. A panic traps the instance, and with it
//! the map.
//!
//! # Surviving a reload or a failure
//!
//! A value that lives only in the instance cannot follow its connection to
//! another one, so by default a reload leaves open connections on the old
//! version until they close, and a failed instance's connections are
//! closed. Opt in with the `adopt` feature and
//! `export_consumer!(MyConsumer, adopt)`, for a type that is also
//! `serde::Serialize + serde::de::DeserializeOwned`: the SDK then keeps each
//! connection's value in its [`attachment`] (a byte string the host holds
//! outside the instance) after every call that changed it, and the instance
//! that takes the connection over (the new version on a reload, a fresh one
//! after a trap) rebuilds the value from it and calls
//! [`Consumer::adopted`]. The client notices nothing but the new code.
//! `plugins/counter` is the example; the crate's README says what it costs.
//!
//! # Source layout
//!
//! One file per concern, read in this order. Each is a private module whose
//! items are re-exported here at the crate root, except `log`, `config`,
//! `groups`, `channel` and `attachment`, which a plugin names as modules
//! (`log::info`, `config::get`, `groups::broadcast`, `attachment::set`).
//!
//! - `consumer.rs`: the [`Consumer`] trait a plugin implements, with
//!   [`Accept`] and [`Reject`] (its answer to a new connection) and
//!   [`CloseInfo`] (how one ended).
//! - `export.rs`: [`export_consumer!`], the WIT `handler` export and
//!   per-connection state map it declares in the plugin's crate, and the
//!   functions it calls here.
//! - `scope.rs`: [`Scope`], what `connect` is told, with lookups by name,
//!   and who the connection is ([`Scope::user`], [`Scope::claims`],
//!   [`Scope::identity_value`], asked of the host's `identity` on first use).
//! - `message.rs`: [`Message`], text or binary, with readers for either.
//! - `connection.rs`: [`Connection`], `send` and `close` on one connection,
//!   [`ConnectionId`] and [`SendError`].
//! - `log.rs`: [`log`], lines in the server's log, and the [`info!`] family
//!   of macros that format only what the host keeps.
//! - `config.rs`: [`config`], the manifest's `[config]` table.
//! - `groups.rs`: [`groups`], broadcast to groups of connections, and
//!   `Connection::join`, `leave` and `address`.
//! - `channel.rs`: [`channel`], events to a group's or one connection's
//!   [`Consumer::event`], and messages to a connection by address.
//! - `json.rs` (feature `json`): `Message::json`, `Connection::send_json`
//!   and `JsonError`.
//! - `attachment.rs`: [`attachment`], the byte string the host keeps per
//!   connection across reloads and failed instances.
//! - `adopt.rs` (feature `adopt`): what `export_consumer!(T, adopt)` adds,
//!   values kept in attachments after each call and `on-adopt`.
//! - `bindings.rs`: the `wit_bindgen::generate!` for `wit/consumer.wit`,
//!   public only for the macro, and a second one for `adopt-handler` alone,
//!   so that only a plugin exported with `adopt` exports it.

#![deny(missing_docs)]

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings;

#[cfg(feature = "adopt")]
mod adopt;
pub mod attachment;
pub mod channel;
pub mod config;
mod connection;
mod consumer;
mod export;
pub mod groups;
#[cfg(feature = "json")]
mod json;
pub mod log;
mod message;
mod scope;

pub use channel::ChannelError;
pub use connection::{Connection, ConnectionId, SendError};
pub use consumer::{Accept, CloseInfo, Consumer, Reject};
pub use groups::GroupError;
#[cfg(feature = "json")]
pub use json::JsonError;
pub use message::Message;
pub use scope::{RawScope, Scope};

// What export_consumer! expands to calls, as `$crate::__private::..`.
#[doc(hidden)]
pub use export::__private;
