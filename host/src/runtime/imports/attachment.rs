//! `wasmsock:plugin/attachment`: a byte string per connection, kept by the
//! host so that it outlives the instance (a reload, a trap) and reaches the
//! instance that adopts the connection. Every bad argument is an error
//! value, never a trap.

use crate::runtime::bindings::{wasmsock::plugin::attachment::Host, ImportError};
use crate::runtime::state::HostState;

impl Host for HostState {
    fn set(&mut self, conn: u64, data: Vec<u8>) -> Result<(), ImportError> {
        let max = self.attachment_max;
        let served = self
            .conns
            .get_mut(&conn)
            .ok_or(ImportError::UnknownConnection)?;
        if data.len() > max {
            return Err(ImportError::TooLarge(max as u64));
        }
        served.kept.attachment.replace(data, &self.plugin);
        Ok(())
    }

    fn get(&mut self, conn: u64) -> Result<Vec<u8>, ImportError> {
        let served = self
            .conns
            .get(&conn)
            .ok_or(ImportError::UnknownConnection)?;
        Ok(served.kept.attachment.bytes().to_vec())
    }
}
