//! `wasmsock:plugin/channel`: events to a group, and events and messages to
//! one connection by address, on this host or another. Every bad argument
//! is an error value, never a trap.

use super::groups::payload_len;
use crate::layer::{parse_address, valid_group_name, Kind};
use crate::runtime::bindings::wasmsock::plugin::channel::{ChannelError, Host};
use crate::runtime::bindings::Message;
use crate::runtime::delivery::{Delivered, Item};
use crate::runtime::state::HostState;

impl HostState {
    fn check_size(&self, message: &Message) -> Result<(), ChannelError> {
        if payload_len(message) > self.max_message_size {
            return Err(ChannelError::TooLarge(self.max_message_size as u64));
        }
        Ok(())
    }

    fn check_events(&self) -> Result<(), ChannelError> {
        if self.takes_events {
            Ok(())
        } else {
            Err(ChannelError::NoEventHandler)
        }
    }

    /// Deliver to the connection at `address`, here or through the layer.
    fn send_to(&self, address: &str, kind: Kind, message: Message) -> Result<bool, ChannelError> {
        let (host, conn) = parse_address(address).ok_or(ChannelError::InvalidAddress)?;
        let (item, payload) = Item::from_plugin(kind, message);
        if host == self.connections.host_id() {
            let delivered = self
                .connections
                .to_local_connection(&self.plugin, conn, &item);
            return Ok(delivered != Delivered::Gone);
        }
        Ok(self
            .connections
            .layer()
            .send_to(host, &self.plugin, conn, payload))
    }
}

impl Host for HostState {
    fn group_send(
        &mut self,
        group: String,
        event: Message,
        exclude: Option<u64>,
    ) -> Result<u32, ChannelError> {
        if !valid_group_name(&group) {
            return Err(ChannelError::InvalidName);
        }
        self.check_size(&event)?;
        self.check_events()?;
        let (item, payload) = Item::from_plugin(Kind::Event, event);
        let queued = self
            .connections
            .to_local_group(&self.plugin, &group, &item, exclude);
        self.connections
            .layer()
            .publish(&self.plugin, &group, payload);
        Ok(queued)
    }

    fn send(&mut self, address: String, event: Message) -> Result<bool, ChannelError> {
        self.check_size(&event)?;
        self.check_events()?;
        self.send_to(&address, Kind::Event, event)
    }

    fn send_message(&mut self, address: String, message: Message) -> Result<bool, ChannelError> {
        self.check_size(&message)?;
        self.send_to(&address, Kind::Message, message)
    }
}
