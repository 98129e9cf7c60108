//! `wasmsock:plugin/timers`: set and cancel timers of this instance, tied
//! to a connection it serves or to the plugin. Every bad argument is an
//! error value, never a trap.

use std::time::{Duration, Instant};

use crate::runtime::bindings::wasmsock::plugin::timers::{Host, TimerError};
use crate::runtime::state::HostState;
use crate::runtime::timers::Full;

/// The longest delay a timer may have: a day.
const MAX_DELAY_MS: u32 = 86_400_000;

impl Host for HostState {
    fn set(&mut self, conn: Option<u64>, delay_ms: u32, token: u64) -> Result<(), TimerError> {
        if delay_ms > MAX_DELAY_MS {
            return Err(TimerError::TooLong);
        }
        if let Some(c) = conn {
            if !self.conns.contains_key(&c) {
                return Err(TimerError::UnknownConnection);
            }
        }
        let at = Instant::now() + Duration::from_millis(delay_ms.into());
        self.timers.set((conn, token), at).map_err(|Full(n)| {
            crate::metrics::global().timers(&self.plugin, "refused", 1);
            TimerError::TooMany(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    fn cancel(&mut self, conn: Option<u64>, token: u64) -> bool {
        self.timers.cancel((conn, token))
    }
}
