//! A test harness for plugin authors: load a component, connect with a
//! scope, send, receive with a timeout, check that nothing else arrives,
//! disconnect — without opening a socket. The Rust counterpart of Django
//! Channels' `WebsocketCommunicator`.
//!
//! Nothing here is a mock: the plugin is compiled, linked and instantiated
//! by the server's own load path (`plugins::loader::load`), started as the
//! server starts a version, admitted by the server's own admission step
//! (`session`), runs in a real shard task with its CPU deadline and memory
//! cap, and what it sends lands in the same bounded outbox the server's
//! connection task drains. Only the socket is missing: the harness plays the
//! connection task.
//!
//! ```ignore
//! use std::time::Duration;
//! use wasmsock::testing::{Message, TestPlugin};
//!
//! let plugin = TestPlugin::load("target/wasm32-wasip2/release/echo.wasm").await?;
//! let mut conn = plugin.connect("/echo").await?.accepted()?;
//! conn.send_text("hi").await?;
//! assert_eq!(conn.receive(Duration::from_secs(1)).await?, Message::Text("hi".into()));
//! conn.receive_nothing(Duration::from_millis(50)).await?;
//! conn.disconnect(1000).await?;
//! assert!(plugin.log_text().contains("disconnect"));
//! ```
//!
//! Every call that hands something to the plugin (`connect`, `send`,
//! `disconnect`) returns once the plugin has handled it, so what it sent and
//! logged is already visible; `receive` waits only for output.
//!
//! [`script`] runs the same steps from a small text file, for
//! `wasmsock test FILE.wasm --script STEPS`.

mod connection;
mod error;
mod load;
mod log;
mod message;
mod plugin;
mod scope;
pub mod script;

pub use connection::{ConnectResult, Rejection, TestConnection};
pub use error::HarnessError;
pub use load::LoadOptions;
pub use log::LogLine;
pub use message::{CloseFrame, Message, Output};
pub use plugin::TestPlugin;
pub use scope::ScopeBuilder;
