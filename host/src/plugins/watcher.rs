//! Watching the plugins folder: file events are gathered per plugin name and
//! acted on once the folder has been quiet for a moment, so a copy written in
//! several steps, an editor's save dance or an atomic rename each cause one
//! reload of the final content.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::{valid_name, Registry};

/// Quiet time after the last event before a plugin is reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// The plugin a changed path belongs to: `NAME.wasm` or `NAME.toml` in the
/// folder itself. Hidden files, editor backups and temporaries are ignored.
pub fn plugin_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    if file.starts_with('.') {
        return None;
    }
    let (stem, ext) = file.rsplit_once('.')?;
    (matches!(ext, "wasm" | "toml") && valid_name(stem)).then(|| stem.to_string())
}

/// Whether an event may have changed the file. Reads are not changes: a
/// reload opens the file, which the watcher reports, and taking that for a
/// change made each reload cause the next (every plugin file read every
/// 150 ms for as long as the server ran, a refused one logged and counted
/// as often). A writer closing the file is kept: the write is complete.
pub fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// A running watch; dropping it stops the watch.
pub struct FolderWatch {
    /// The notify watcher; events stop when it is dropped.
    _watcher: notify::RecommendedWatcher,
    /// The task that debounces and reloads.
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FolderWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start watching the registry's folder.
pub fn watch(registry: Arc<Registry>) -> anyhow::Result<FolderWatch> {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(event) if is_change(&event.kind) => {
                for path in &event.paths {
                    if let Some(name) = plugin_name(path) {
                        let _ = tx.send(name);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("plugin folder watch error: {e}"),
        })
        .context("starting the plugin folder watcher")?;
    watcher
        .watch(registry.dir(), RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", registry.dir().display()))?;
    let task = tokio::spawn(debounce_and_reload(registry, rx));
    Ok(FolderWatch {
        _watcher: watcher,
        task,
    })
}

async fn debounce_and_reload(registry: Arc<Registry>, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(first) = rx.recv().await {
        let mut names = BTreeSet::from([first]);
        loop {
            match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                Ok(Some(name)) => {
                    names.insert(name);
                }
                Ok(None) => return,
                Err(_) => break,
            }
        }
        for name in names {
            // Errors are logged and recorded by reload itself.
            let _ = registry.reload(&name).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_not_changes() {
        use notify::event::{CreateKind, ModifyKind, RemoveKind};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_change(&EventKind::Remove(RemoveKind::File)));
    }

    #[test]
    fn names_from_paths() {
        assert_eq!(
            plugin_name(Path::new("/p/echo.wasm")).as_deref(),
            Some("echo")
        );
        assert_eq!(
            plugin_name(Path::new("/p/chat-2.toml")).as_deref(),
            Some("chat-2")
        );
        assert_eq!(plugin_name(Path::new("/p/.echo.wasm.swp")), None);
        assert_eq!(plugin_name(Path::new("/p/echo.wasm~")), None);
        assert_eq!(plugin_name(Path::new("/p/echo.wasm.tmp")), None);
        assert_eq!(plugin_name(Path::new("/p/my app.wasm")), None);
        assert_eq!(plugin_name(Path::new("/p/4913")), None);
    }
}
