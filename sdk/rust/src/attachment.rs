//! A byte string the host keeps for each connection, outside the plugin's
//! instance.
//!
//! Everything a plugin keeps in its own memory dies with its instance: a
//! reload replaces the instance with the new version's, and a trap, an
//! exhausted CPU budget or memory cap throws it away. What a connection's
//! attachment holds survives both, and is handed to whichever instance takes
//! the connection over (`adopt-handler`, see
//! [`export_consumer!(T, adopt)`](crate::export_consumer!)). So a plugin
//! that keeps each connection's state here can be replaced, or recover from
//! a failure, without its clients noticing.
//!
//! A consumer exported with `adopt` has its value stored here by the SDK
//! after every call that changed it; these functions are for plugins that
//! keep something else, or manage it themselves.
//!
//! ```ignore
//! use wasmsock_sdk::{attachment, Connection};
//!
//! fn remember(conn: &Connection, cursor: u64) {
//!     let _ = attachment::set(conn, &cursor.to_le_bytes());
//! }
//! ```
//!
//! Each attachment is capped by the manifest's `attachment_max_bytes`
//! (64 KiB by default) and counts towards the server's memory figures: keep
//! it to what a new instance needs to carry on.

use crate::bindings::wasmsock::plugin::attachment as wit_attachment;
use crate::Connection;

/// Why the host refused an attachment call: `TooLarge(max)` when the data
/// is over the connection's cap (the previous attachment then stays), or a
/// connection this instance does not serve, or one that is gone. The same
/// type as [`SendError`](crate::SendError): plain values, never traps.
pub use crate::bindings::wasmsock::plugin::types::Error;

/// Keep `data` for `conn`, replacing what was kept, so that the instance
/// that serves `conn` after a reload or a failure can pick up where this
/// one left off.
pub fn set(conn: &Connection, data: &[u8]) -> Result<(), Error> {
    wit_attachment::set(conn.id(), data)
}

/// What is kept for `conn`: empty until [`set`]. An adopted connection's
/// attachment is also handed to `on-adopt`, so this is for reading it back
/// later, not for taking a connection over.
pub fn get(conn: &Connection) -> Result<Vec<u8>, Error> {
    wit_attachment::get(conn.id())
}
