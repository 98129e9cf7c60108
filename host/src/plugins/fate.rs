//! What becomes of a version's open connections once it is no longer the
//! one in force: each connection task watches its version's [`Fate`] and
//! moves to the successor, stays (draining) or closes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Plugin;
use crate::close;
use crate::config::OnReload;

/// A version's standing, as its connections see it.
#[derive(Debug, Clone)]
pub enum Fate {
    /// The version in force (or being shut down with the server).
    Serving,
    /// Replaced by this version, which takes the connections over.
    Replaced(Arc<Plugin>),
    /// Replaced or removed; connections stay until they close.
    Draining,
    /// Connections close now with this code and reason.
    Close(u16, &'static str),
}

impl Plugin {
    /// This version was replaced by `next`: hand its connections over,
    /// drain them or close them, as `next`'s manifest and exports say.
    pub(super) fn replaced_by(self: &Arc<Self>, next: &Arc<Plugin>) {
        let mode = next.reload_mode();
        tracing::info!(
            plugin = &*self.name,
            version = self.version,
            "version {} of `{}` hands its {} open connection(s) over as `{}` says: {}",
            self.version,
            self.name,
            self.live(),
            mode.as_str(),
            match mode {
                OnReload::Adopt => "moved to the new version",
                OnReload::Drain => "kept on the old version until they close",
                OnReload::Close => "closed with 1012",
            }
        );
        match mode {
            OnReload::Adopt => {
                self.set_fate(Fate::Replaced(next.clone()));
                self.hand_timers_to(next);
            }
            OnReload::Close => {
                self.set_fate(Fate::Close(close::SERVICE_RESTART, "plugin replaced"))
            }
            OnReload::Drain => {
                self.set_fate(Fate::Draining);
                if let Some(t) = next.manifest.reload.drain_timeout {
                    self.close_after(t, close::SERVICE_RESTART, "plugin replaced");
                }
            }
        }
    }

    /// This version's file was removed: its connections drain, then close
    /// with 1001 at the manifest's `drain_timeout_ms`.
    pub(super) fn removed(self: &Arc<Self>) {
        self.set_fate(Fate::Draining);
        if let Some(t) = self.manifest.reload.drain_timeout {
            self.close_after(t, close::GOING_AWAY, "plugin removed");
        }
    }

    /// This version's standing in a word, for `/status`: serving,
    /// handing-over, draining or closing.
    pub fn standing(&self) -> &'static str {
        match &*self.fate.borrow() {
            Fate::Serving => "serving",
            Fate::Replaced(_) => "handing-over",
            Fate::Draining => "draining",
            Fate::Close(..) => "closing",
        }
    }

    fn set_fate(&self, fate: Fate) {
        self.fate.send_replace(fate);
    }

    /// Close what is still open of this version after `wait`, unless the
    /// version is gone by then.
    fn close_after(self: &Arc<Self>, wait: Duration, code: u16, reason: &'static str) {
        let me: Weak<Plugin> = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(p) = me.upgrade() {
                if p.live() > 0 {
                    tracing::info!(
                        plugin = &*p.name,
                        version = p.version,
                        "drain of version {} over: closing its {} connection(s) with {code}",
                        p.version,
                        p.live()
                    );
                }
                p.set_fate(Fate::Close(code, reason));
            }
        });
    }
}
