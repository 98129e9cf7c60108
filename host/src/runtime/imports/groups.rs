//! `wasmsock:plugin/groups`: join, leave, broadcast, count, members and
//! addresses. A plugin's groups are its own; every bad argument is an error
//! value, never a trap.

use std::sync::atomic::Ordering;

use crate::layer::{valid_group_name, JoinError};
use crate::runtime::bindings::wasmsock::plugin::groups::{GroupError, Host};
use crate::runtime::bindings::Message;
use crate::runtime::outbox::{Outbound, PushError};
use crate::runtime::state::HostState;

fn name(group: &str) -> Result<&str, GroupError> {
    if valid_group_name(group) {
        Ok(group)
    } else {
        Err(GroupError::InvalidName)
    }
}

/// A count as the WIT's u32, saturated.
fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Host for HostState {
    fn join(&mut self, conn: u64, group: String) -> Result<(), GroupError> {
        let group = name(&group)?;
        let outbox = self
            .conns
            .get(&conn)
            .ok_or(GroupError::UnknownConnection)?
            .clone();
        self.connections
            .groups()
            .join(&self.plugin, group, conn, outbox)
            .map(|_| ())
            .map_err(|JoinError::TooManyGroups(n)| GroupError::TooManyGroups(u32_of(n)))
    }

    fn leave(&mut self, conn: u64, group: String) -> Result<(), GroupError> {
        let group = name(&group)?;
        if !self.conns.contains_key(&conn) {
            return Err(GroupError::UnknownConnection);
        }
        self.connections.groups().leave(&self.plugin, group, conn);
        Ok(())
    }

    fn broadcast(
        &mut self,
        group: String,
        message: Message,
        exclude: Option<u64>,
    ) -> Result<u32, GroupError> {
        let group = name(&group)?;
        let len = match &message {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
        };
        if len > self.max_message_size {
            return Err(GroupError::TooLarge(self.max_message_size as u64));
        }
        // One payload, shared by every member's queue.
        let item = Outbound::from(message);
        let members = self.connections.groups().members(&self.plugin, group);
        let (mut queued, mut dropped) = (0u32, 0u64);
        for (id, outbox) in members.iter() {
            if Some(*id) == exclude {
                continue;
            }
            match outbox.push(item.clone()) {
                Ok(()) => queued += 1,
                // The full outbox is marked overflowed: its connection
                // closes with 1008, and the others go on.
                Err(PushError::Full) => dropped += 1,
                Err(PushError::Closed) => {}
            }
        }
        if dropped > 0 {
            self.log_budget
                .health()
                .group_drops
                .fetch_add(dropped, Ordering::Relaxed);
        }
        Ok(queued)
    }

    fn count(&mut self, group: String) -> Result<u32, GroupError> {
        let group = name(&group)?;
        Ok(u32_of(self.connections.groups().count(&self.plugin, group)))
    }

    fn members(&mut self, group: String) -> Result<Vec<String>, GroupError> {
        let group = name(&group)?;
        let members = self.connections.groups().members(&self.plugin, group);
        Ok(members
            .iter()
            .map(|(id, _)| self.connections.address(*id))
            .collect())
    }

    fn address(&mut self, conn: u64) -> Result<String, GroupError> {
        if !self.conns.contains_key(&conn) {
            return Err(GroupError::UnknownConnection);
        }
        Ok(self.connections.address(conn))
    }
}
