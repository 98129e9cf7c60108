//! `wasmsock:plugin/connection`: send to and close the connections this
//! instance serves. Every bad argument is an error value, never a trap.

use crate::runtime::bindings::{wasmsock::plugin::connection::Host, ImportError, Message};
use crate::runtime::state::HostState;
use crate::server::outbox::{Outbound, PushError};

/// True for the close codes an endpoint may send (RFC 6455 section 7.4).
pub fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Longest close reason allowed: a control frame payload is at most 125
/// bytes, two of which carry the code.
pub const MAX_CLOSE_REASON: usize = 123;

fn push_error(e: PushError) -> ImportError {
    match e {
        PushError::Closed => ImportError::Closed,
        PushError::Full => ImportError::QueueFull,
    }
}

impl Host for HostState {
    fn send(&mut self, conn: u64, message: Message) -> Result<(), ImportError> {
        let outbox = self
            .conns
            .get(&conn)
            .ok_or(ImportError::UnknownConnection)?;
        let len = match &message {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
        };
        if len > self.max_message_size {
            return Err(ImportError::TooLarge(self.max_message_size as u64));
        }
        outbox.push(Outbound::from(message)).map_err(push_error)
    }

    fn close(&mut self, conn: u64, code: u16, reason: String) -> Result<(), ImportError> {
        let outbox = self
            .conns
            .get(&conn)
            .ok_or(ImportError::UnknownConnection)?;
        if !sendable_close_code(code) || reason.len() > MAX_CLOSE_REASON {
            return Err(ImportError::InvalidClose);
        }
        outbox
            .push(Outbound::Close { code, reason })
            .map_err(push_error)
    }
}
