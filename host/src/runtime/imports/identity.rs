//! `wasmsock:plugin/identity`: who a connection is, as its handshake
//! established it (the verified token, the middleware's values). Read-only;
//! an unknown connection is an error value, never a trap.

use crate::runtime::bindings::wasmsock::plugin::identity::{Host, Identity as WitIdentity};
use crate::runtime::bindings::ImportError;
use crate::runtime::state::HostState;

impl Host for HostState {
    fn get(&mut self, conn: u64) -> Result<WitIdentity, ImportError> {
        let served = self
            .conns
            .get(&conn)
            .ok_or(ImportError::UnknownConnection)?;
        Ok(match served.kept.identity.as_deref() {
            Some(id) => WitIdentity {
                subject: id.subject.clone(),
                claims: id.claims.clone(),
                values: id.values.clone(),
            },
            None => WitIdentity {
                subject: None,
                claims: None,
                values: Vec::new(),
            },
        })
    }
}
