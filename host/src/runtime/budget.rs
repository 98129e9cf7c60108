//! The CPU budget of one guest call, counted in epoch ticks while it runs.

use std::time::{Duration, Instant};

/// How often the epoch advances. A running guest notices its deadline, or
/// yields to the tokio scheduler, at most this long after the fact.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The CPU budget of the call in progress.
///
/// A call is over budget when it has both run for the budget's number of
/// epoch ticks (each tick the guest observes while running counts; ticks
/// spent waiting for a tokio worker after a yield do not) and passed its
/// wall-clock deadline. On an idle server the two agree; on a loaded one the
/// tick count keeps a call that was merely waiting for a CPU from being
/// cut off, while a runaway loop is still stopped after about the budget of
/// its own running time.
#[derive(Debug, Clone, Copy)]
pub struct CallBudget {
    /// Wall-clock deadline.
    deadline: Instant,
    /// Ticks left before the call may be cut off.
    ticks_left: u32,
}

impl CallBudget {
    /// A budget of `length` starting now.
    pub fn start(length: Duration) -> CallBudget {
        let ticks = length.as_micros().div_ceil(EPOCH_TICK.as_micros());
        CallBudget {
            deadline: Instant::now() + length,
            ticks_left: u32::try_from(ticks).unwrap_or(u32::MAX).max(1),
        }
    }

    /// When the call's wall-clock budget ends: the longest a call may wait
    /// on I/O it cannot yield from.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Count one tick of running; true when the call is over budget.
    pub fn tick(&mut self) -> bool {
        self.ticks_left = self.ticks_left.saturating_sub(1);
        self.ticks_left == 0 && Instant::now() >= self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_over_budget_only_after_its_ticks_and_its_deadline() {
        // 20 ms is four ticks.
        let mut b = CallBudget::start(Duration::from_millis(20));
        for _ in 0..3 {
            assert!(!b.tick());
        }
        // The fourth tick came early (the clock has not reached the
        // deadline): not over yet.
        assert!(!b.tick());
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.tick());
        // A call that waited past its deadline without running keeps its ticks.
        let mut waited = CallBudget::start(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(25));
        assert!(!waited.tick());
    }
}
