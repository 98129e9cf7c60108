//! `wasmsock:plugin/connection`: send to and close the connections this
//! instance serves. Every bad argument is an error value, never a trap.

use crate::close;
use crate::runtime::bindings::{wasmsock::plugin::connection::Host, ImportError, Message};
use crate::runtime::outbox::{Outbound, PushError};
use crate::runtime::state::HostState;

fn push_error(e: PushError) -> ImportError {
    match e {
        PushError::Closed => ImportError::Closed,
        PushError::Full => ImportError::QueueFull,
    }
}

impl Host for HostState {
    fn send(&mut self, conn: u64, message: Message) -> Result<(), ImportError> {
        let outbox = &self
            .conns
            .get(&conn)
            .ok_or(ImportError::UnknownConnection)?
            .outbox;
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
        let outbox = &self
            .conns
            .get(&conn)
            .ok_or(ImportError::UnknownConnection)?
            .outbox;
        if !close::sendable(code) || reason.len() > close::MAX_REASON {
            return Err(ImportError::InvalidClose);
        }
        outbox
            .push(Outbound::Close { code, reason })
            .map_err(push_error)
    }
}
