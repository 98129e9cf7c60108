//! A loaded plugin, and connecting to it through the server's own
//! admission step.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::log::{LogCapture, LogLine};
use super::{ConnectResult, HarnessError, LoadOptions, Rejection, ScopeBuilder, TestConnection};
use crate::config::Limits;
use crate::plugins::Plugin;
use crate::routing::RouteTable;
use crate::session::{self, Admission, Refused, RequestHead};

/// A loaded plugin with one shard (one instance): everything connected
/// through it shares that instance, as in the server's shared mode with one
/// shard.
pub struct TestPlugin {
    /// The loaded version, started as the server would start it.
    pub(super) plugin: Arc<Plugin>,
    /// Its routes, for admission to look the path up in.
    pub(super) routes: RouteTable<Plugin>,
    /// The admission step, with this test's own connection registry.
    pub(super) admission: Admission,
    /// The shard's captured log.
    pub(super) logs: LogCapture,
}

impl fmt::Debug for TestPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPlugin")
            .field("name", &self.name())
            .finish()
    }
}

impl TestPlugin {
    /// Load the component at `path` with the settings the server would use:
    /// a `NAME.toml` beside it if there is one, the defaults otherwise.
    pub async fn load(path: impl AsRef<Path>) -> Result<TestPlugin, HarnessError> {
        TestPlugin::options(path).load().await
    }

    /// Settings for loading `path`; finish with [`LoadOptions::load`].
    pub fn options(path: impl AsRef<Path>) -> LoadOptions {
        LoadOptions {
            path: path.as_ref().to_path_buf(),
            manifest: None,
            config: BTreeMap::new(),
            call_timeout: None,
            memory_limit_mb: None,
            limits: Limits::default(),
        }
    }

    /// The plugin's name (the file stem), as the server would call it.
    pub fn name(&self) -> &str {
        &self.plugin.name
    }

    /// Ask to connect, as a client would, through the server's own
    /// admission: the path is routed with the plugin's routes, the origin,
    /// quarantine and connection limit checked, and `on-connect` called
    /// with the scope the server would build. Connection ids count from 1
    /// for each `TestPlugin`.
    pub async fn connect(
        &self,
        request: impl Into<ScopeBuilder>,
    ) -> Result<ConnectResult, HarnessError> {
        let request = request.into();
        let route = match session::route(&self.routes, &request.path) {
            Ok(route) => route,
            Err(_) => return Err(HarnessError::NoRoute(request.path)),
        };
        let peer = request.remote_addr;
        let head = RequestHead {
            method: "GET".into(),
            path: request.path,
            query: request.query,
            headers: request.headers,
            rest: Vec::new(),
        };
        let admitted = self
            .admission
            .admit_as(route, &head, peer, request.identity)
            .await;
        match admitted {
            Ok((session, upgrade)) => Ok(ConnectResult::Accepted(TestConnection::new(
                session, upgrade,
            ))),
            Err(refusal) => match refusal.why {
                Refused::Unavailable => Err(HarnessError::ShardGone),
                Refused::PluginFailed => Ok(ConnectResult::Failed(self.failure_line())),
                Refused::BadSubprotocol(why) => Ok(ConnectResult::Failed(why)),
                _ => Ok(ConnectResult::Rejected(Rejection {
                    status: refusal.status,
                    headers: refusal.headers,
                    body: refusal.body,
                })),
            },
        }
    }

    /// Every log line about the plugin so far.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.lines()
    }

    /// The log as text, one line per entry (`LEVEL SOURCE: MESSAGE`).
    pub fn log_text(&self) -> String {
        self.logs.lines().iter().map(|l| format!("{l}\n")).collect()
    }

    fn failure_line(&self) -> String {
        self.logs
            .lines()
            .iter()
            .rev()
            .find(|l| l.source == "host" && l.level == tracing::Level::ERROR)
            .map(|l| l.message.clone())
            .unwrap_or_else(|| "the plugin failed in on-connect".into())
    }
}
