//! `wasmsock:plugin/groups`: join, leave, broadcast, count, members and
//! addresses. A plugin's groups are its own; every bad argument is an error
//! value, never a trap.

use crate::layer::{valid_group_name, JoinError, Kind};
use crate::runtime::bindings::wasmsock::plugin::groups::{GroupError, Host};
use crate::runtime::bindings::Message;
use crate::runtime::delivery::Item;
use crate::runtime::state::HostState;

fn name(group: &str) -> Result<&str, GroupError> {
    if valid_group_name(group) {
        Ok(group)
    } else {
        Err(GroupError::InvalidName)
    }
}

/// A count as the WIT's u32, saturated.
pub(super) fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The length of a message's payload.
pub(super) fn payload_len(message: &Message) -> usize {
    match message {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
    }
}

impl Host for HostState {
    fn join(&mut self, conn: u64, group: String) -> Result<(), GroupError> {
        let group = name(&group)?;
        if !self.conns.contains_key(&conn) {
            return Err(GroupError::UnknownConnection);
        }
        // The registry's entry: the outbox for messages and the shard for
        // events.
        let entry = self
            .connections
            .get(conn)
            .ok_or(GroupError::UnknownConnection)?;
        let joined = self
            .connections
            .groups()
            .join(&self.plugin, group, conn, entry)
            .map_err(|JoinError::TooManyGroups(n)| GroupError::TooManyGroups(u32_of(n)))?;
        if joined {
            self.connections.layer().joined(&self.plugin, group, conn);
        }
        Ok(())
    }

    fn leave(&mut self, conn: u64, group: String) -> Result<(), GroupError> {
        let group = name(&group)?;
        if !self.conns.contains_key(&conn) {
            return Err(GroupError::UnknownConnection);
        }
        if self.connections.groups().leave(&self.plugin, group, conn) {
            self.connections.layer().left(&self.plugin, group, conn);
        }
        Ok(())
    }

    fn broadcast(
        &mut self,
        group: String,
        message: Message,
        exclude: Option<u64>,
    ) -> Result<u32, GroupError> {
        let group = name(&group)?;
        if payload_len(&message) > self.max_message_size {
            return Err(GroupError::TooLarge(self.max_message_size as u64));
        }
        // One payload, shared by every member's queue and the layer.
        let (item, payload) = Item::from_plugin(Kind::Message, message);
        let queued = self
            .connections
            .to_local_group(&self.plugin, group, &item, exclude);
        self.connections
            .layer()
            .publish(&self.plugin, group, payload);
        Ok(queued)
    }

    fn count(&mut self, group: String) -> Result<u32, GroupError> {
        let group = name(&group)?;
        let local = self.connections.groups().count(&self.plugin, group);
        let remote = self.connections.layer().remote_count(&self.plugin, group);
        Ok(u32_of(local + remote))
    }

    fn members(&mut self, group: String) -> Result<Vec<String>, GroupError> {
        let group = name(&group)?;
        let members = self.connections.groups().members(&self.plugin, group);
        let mut all: Vec<String> = members
            .iter()
            .map(|(id, _)| self.connections.address(*id))
            .collect();
        all.extend(self.connections.layer().remote_members(&self.plugin, group));
        Ok(all)
    }

    fn address(&mut self, conn: u64) -> Result<String, GroupError> {
        if !self.conns.contains_key(&conn) {
            return Err(GroupError::UnknownConnection);
        }
        Ok(self.connections.address(conn))
    }
}
