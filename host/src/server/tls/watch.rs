//! Watching the certificate and key files: a change (an edit, a rename over
//! the file, a symlink swapped as certificate tools and secret mounts do)
//! reloads the pair once the folders have been quiet for a moment.
//!
//! The folders holding the files are watched rather than the files, because
//! a file replaced by a rename is a new file that a watch on the old one
//! would never report. Any change there leads to a read of both files, and
//! [`Tls::reload`] acts only when their bytes differ from the last try, so
//! a neighbour's changes cost two small reads and nothing more.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::Tls;
use crate::plugins::watcher::is_change;

/// Quiet time after the last event before the pair is read: long enough
/// for a tool that writes the certificate and then the key to finish both.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// A running watch of the pair's files; dropping it stops the watch.
pub struct TlsWatch {
    /// The notify watcher; events stop when it is dropped.
    _watcher: notify::RecommendedWatcher,
    /// The task that debounces and reloads.
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The folder a file is in (`.` for a bare name).
fn folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Start watching the folders of `tls`'s certificate and key.
pub fn watch(tls: Arc<Tls>) -> anyhow::Result<TlsWatch> {
    let (tx, rx) = mpsc::unbounded_channel::<()>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(event) if is_change(&event.kind) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("TLS certificate watch error: {e}"),
        })
        .context("starting the TLS certificate watcher")?;
    let folders: BTreeSet<PathBuf> = [&tls.settings.cert, &tls.settings.key]
        .into_iter()
        .map(|p| folder(p))
        .collect();
    for dir in &folders {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("watching {} for TLS certificate changes", dir.display()))?;
    }
    let task = tokio::spawn(debounce_and_reload(tls, rx));
    Ok(TlsWatch {
        _watcher: watcher,
        task,
    })
}

async fn debounce_and_reload(tls: Arc<Tls>, mut rx: mpsc::UnboundedReceiver<()>) {
    while rx.recv().await.is_some() {
        loop {
            match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                Ok(Some(())) => {}
                Ok(None) => return,
                Err(_) => break,
            }
        }
        // Reading files and parsing keys: off the async workers.
        let tls = tls.clone();
        // Logged and counted by reload itself.
        let _ = tokio::task::spawn_blocking(move || tls.reload()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_files() {
        assert_eq!(
            folder(Path::new("/etc/tls/cert.pem")),
            Path::new("/etc/tls")
        );
        assert_eq!(folder(Path::new("cert.pem")), Path::new("."));
        assert_eq!(folder(Path::new("certs/cert.pem")), Path::new("certs"));
    }
}
