//! Logging to the server's log, tagged with the plugin's name. Lines over
//! the plugin's rate limit are dropped (and counted) by the host.

// The `trace!` .. `error!` macros at the end of this file are
// `#[macro_export]`, so they live at the crate root
// (`wasmsock_sdk::info!`), not in this module.

use std::cell::Cell;

pub use crate::bindings::wasmsock::plugin::log::Level;
use crate::bindings::wasmsock::plugin::log::{enabled as host_enabled, log};

thread_local! {
    /// The host's answer per level: 0 not asked yet, 1 no, 2 yes.
    static ENABLED: [Cell<u8>; 5] = const { [const { Cell::new(0) }; 5] };
}

/// Whether a line at `level` would reach the server's log. Asked of the
/// host once per level (its filter is fixed for an instance's life), so
/// checking before formatting a line costs next to nothing. The
/// [`trace!`](crate::trace), [`debug!`](crate::debug),
/// [`info!`](crate::info), [`warn!`](crate::warn) and
/// [`error!`](crate::error) macros check it for you.
pub fn enabled(level: Level) -> bool {
    ENABLED.with(|known| {
        let slot = &known[level as usize];
        match slot.get() {
            0 => {
                let yes = host_enabled(level);
                slot.set(if yes { 2 } else { 1 });
                yes
            }
            answer => answer == 2,
        }
    })
}

/// Log at trace level.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message.as_ref());
}
/// Log at debug level.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message.as_ref());
}
/// Log at info level.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message.as_ref());
}
/// Log at warn level.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message.as_ref());
}
/// Log at error level.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message.as_ref());
}

/// Log a line at trace level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Trace) {
            $crate::log::trace(::std::format!($($arg)+));
        }
    };
}

/// Log a line at debug level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::debug(::std::format!($($arg)+));
        }
    };
}

/// Log a line at info level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Info) {
            $crate::log::info(::std::format!($($arg)+));
        }
    };
}

/// Log a line at warn level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Warn) {
            $crate::log::warn(::std::format!($($arg)+));
        }
    };
}

/// Log a line at error level, formatted only if the host keeps that level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Error) {
            $crate::log::error(::std::format!($($arg)+));
        }
    };
}
