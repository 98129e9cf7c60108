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
//! declared by [`export_consumer!`]. A panic traps the instance, and the host
//! then closes every connection it served and starts a fresh instance with an
//! empty map, so no state outlives a failure.
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
//! - `scope.rs`: [`Scope`], what `connect` is told, with lookups by name.
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
//! - `bindings.rs`: the `wit_bindgen::generate!` for `wit/consumer.wit`,
//!   public only for the macro.

#![deny(missing_docs)]

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings;

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
pub use scope::Scope;

// What export_consumer! expands to calls, as `$crate::__private::..`.
#[doc(hidden)]
pub use export::__private;
