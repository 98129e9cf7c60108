//! Handing a connection from one instance to another without the client
//! noticing: on a reload (the old version's shard releases it, the new
//! one adopts it) and after a failed call (the shard's other connections
//! are adopted by the fresh instance that replaces the broken one).
//!
//! What moves is what the host keeps for the connection ([`Kept`]: path,
//! params, attachment) and its outbox; the plugin's own memory does not.
//! A plugin that exports `adopt-handler` rebuilds its state from the
//! attachment in `on-adopt`; one that does not (a stateless plugin whose
//! manifest says `on_reload = "adopt"`) is handed the connection as is.

use super::connections::Connections;
use super::outbox::Outbound;
use super::request::{Released, Request, ShardHandle, WeakShard};
use super::shard::{describe, event, failed, summary, Instance, ShardSpec};
use super::state::{ConnMap, Served};
use crate::close;
use crate::events::Kind;

/// Connections this shard released, and where they went: group events
/// queued here for them before their registry entries pointed at the new
/// shard are passed on, in the order they arrive.
#[derive(Default)]
pub(super) struct Moved(ConnMap<ShardHandle>);

impl Moved {
    /// `req`, unless it is an event for a connection that moved away, which
    /// is passed on to where it went instead.
    pub(super) fn forward(&self, req: Request, instance: Option<&Instance>) -> Option<Request> {
        if self.0.is_empty() {
            return Some(req);
        }
        let conn = match &req {
            Request::Event { conn, .. } | Request::Gap { conn, .. } => *conn,
            _ => return Some(req),
        };
        if instance.is_some_and(|i| i.store.data().conns.contains_key(&conn)) {
            return Some(req);
        }
        match self.0.get(&conn) {
            Some(to) => {
                let _ = to.offer(req);
                None
            }
            None => Some(req),
        }
    }

    /// Forget the connections whose registry entries no longer lead here
    /// (they were relinked to their new shard, or closed): nothing more
    /// can be queued here for them.
    pub(super) fn prune(&mut self, connections: &Connections, me: &WeakShard) {
        if self.0.is_empty() {
            return;
        }
        let Some(me) = me.upgrade() else {
            return;
        };
        self.0
            .retain(|conn, _| connections.get(*conn).is_some_and(|e| e.shard.same(&me)));
    }
}

/// The releasing side of a reload's hand-over: `served` (taken out of this
/// shard's instance) is queued for adoption on `to`.
pub(super) async fn release(
    spec: &ShardSpec,
    moved: &mut Moved,
    conn: u64,
    served: Option<Served>,
    to: ShardHandle,
    version: u64,
) -> Released {
    let Some(served) = served else {
        return Released::NotHeld;
    };
    moved.0.insert(conn, to.clone());
    let adopt = Request::Adopt {
        conn,
        served: Box::new(served),
        version,
    };
    if let Err(Request::Adopt { served, .. }) = to.queue(adopt).await {
        crate::metrics::global().moved(&spec.base.name, "lost");
        close_with(&served, close::INTERNAL_ERROR, "plugin unavailable");
    }
    Released::Moved
}

/// Serve `conn` in `inst` from now on, with what was kept for it; call
/// `on-adopt` when the plugin exports it. With `relink` (the version this
/// shard runs and the shard's own handle), the registry's entry is pointed
/// here first, so group traffic follows the connection. An error is the
/// plugin failing during `on-adopt`: the connection stays in the instance
/// and is closed with the others the failure affects.
pub(super) async fn adopt(
    spec: &ShardSpec,
    inst: &mut Instance,
    conn: u64,
    served: Served,
    relink: Option<(u64, &WeakShard)>,
) -> wasmtime::Result<()> {
    let mut served = served;
    let timers = std::mem::take(&mut served.kept.timers);
    let call = inst.exports.adopts().then(|| {
        let k = &served.kept;
        (
            k.path.clone(),
            k.params.clone(),
            k.attachment.bytes().to_vec(),
        )
    });
    let data = inst.store.data_mut();
    data.conns.insert(conn, served);
    let dropped = data.timers.put(Some(conn), timers);
    if dropped > 0 {
        crate::metrics::global().timers(&spec.base.name, "dropped", dropped as u64);
    }
    if let Some((version, me)) = relink {
        if let Some(shard) = me.upgrade() {
            spec.base
                .connections
                .relink(conn, shard, version, spec.base.health.clone());
        }
    }
    let Some((path, params, attachment)) = call else {
        crate::metrics::global().moved(&spec.base.name, "adopted");
        return Ok(());
    };
    inst.start_call(spec.base.call_timeout);
    inst.store.data().log_tags.set_conn(Some(conn));
    let Some(keep) = call!(
        inst,
        adopt_handler.call_on_adopt(conn, &path, &params, &attachment)
    ) else {
        return Ok(());
    };
    let keep = keep?;
    if keep {
        crate::metrics::global().moved(&spec.base.name, "adopted");
    } else {
        crate::metrics::global().moved(&spec.base.name, "refused");
        tracing::info!(
            plugin = &*spec.base.name,
            conn,
            "on-adopt refused the connection; closing it with 1012"
        );
        let data = inst.store.data_mut();
        data.timers.take(Some(conn));
        if let Some(served) = data.conns.remove(&conn) {
            close_with(
                &served,
                close::SERVICE_RESTART,
                "not adopted by the new version",
            );
        }
    }
    Ok(())
}

/// Ask a connection's writer to close it.
fn close_with(served: &Served, code: u16, reason: &str) {
    let _ = served.outbox.push(Outbound::Close {
        code,
        reason: reason.into(),
    });
}

/// A call for `conn` failed and broke `broken`. `conn` is closed with 1011.
/// The instance's other connections are adopted by a fresh instance when
/// the plugin's connections move ([`ShardSpec::moves`]); otherwise, or if
/// no fresh instance can be had, they are closed with 1011 too. Returns the
/// instance the shard goes on with.
pub(super) async fn recover(
    spec: &ShardSpec,
    mut broken: Instance,
    conn: u64,
    e: wasmtime::Error,
) -> Option<Instance> {
    let kind = super::calls::failure_kind(&e, broken.store.data().limits.refused);
    crate::metrics::global().failed(&spec.base.name, kind);
    let e = describe(e, spec.base.call_timeout);
    let why = crate::text::one_line(&format!("{e:?}"));
    let short = summary(&e);
    let data = broken.store.data_mut();
    let mut others: Vec<(u64, Served)> = data.conns.drain().collect();
    for (id, served) in &mut others {
        served.kept.timers = data.timers.take(Some(*id));
    }
    let plugin_timers = data.timers.take(None);
    drop(broken);
    if let Some(at) = others.iter().position(|(id, _)| *id == conn) {
        let (_, served) = others.swap_remove(at);
        close_with(&served, close::INTERNAL_ERROR, "plugin failed");
    }
    others.sort_unstable_by_key(|(id, _)| *id);
    // The host running out (a fiber stack, memory for the instance) is not
    // the plugin's doing: the instance is rebuilt all the same, but the
    // failure does not count toward its quarantine.
    let blameless = super::pool::host_resource(&e);
    let note = if blameless {
        " (the host ran out of resources; not counted against the plugin)"
    } else {
        ""
    };
    event(
        spec,
        Kind::failure(kind),
        &format!("connection {conn}: {short}{note}"),
    );
    let moves = spec.moves && !others.is_empty();
    let next = if moves {
        "handing its other connections to a fresh instance"
    } else {
        "closing its connections with 1011 and rebuilding the instance"
    };
    if blameless {
        tracing::warn!(plugin = &*spec.base.name, conn, "the host ran out of resources during a call (not counted against the plugin); {next}: {why}");
    } else {
        tracing::error!(
            plugin = &*spec.base.name,
            conn,
            "plugin failed; {next}: {why}"
        );
        failed(spec, &short);
    }
    if !moves || spec.base.health.quarantined().is_some() {
        close_all(spec, others, !moves);
        return None;
    }
    let mut inst = match spec.instantiate().await {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(
                plugin = &*spec.base.name,
                "cannot instantiate plugin to take over the connections of a failed one: {}",
                crate::text::one_line(&format!("{e:#}"))
            );
            close_all(spec, others, false);
            return None;
        }
    };
    let dropped = inst.store.data_mut().timers.put(None, plugin_timers);
    if dropped > 0 {
        crate::metrics::global().timers(&spec.base.name, "dropped", dropped as u64);
    }
    let mut left = others.into_iter();
    for (id, served) in left.by_ref() {
        if let Err(e) = adopt(spec, &mut inst, id, served, None).await {
            // Failing again while taking over: close what this instance
            // holds and what is left rather than loop.
            let again = summary(&describe(e, spec.base.call_timeout));
            tracing::error!(plugin = &*spec.base.name, conn = id, "plugin failed again in on-adopt; closing the remaining connections with 1011: {again}");
            crate::metrics::global().failed(&spec.base.name, "trap");
            failed(spec, &again);
            let held: Vec<(u64, Served)> = inst.store.data_mut().conns.drain().collect();
            close_all(spec, held.into_iter().chain(left).collect(), false);
            return None;
        }
    }
    tracing::info!(
        plugin = &*spec.base.name,
        "a fresh instance took over {} connection(s)",
        inst.store.data().conns.len()
    );
    Some(inst)
}

/// Close connections with 1011; `counted` when they were never going to
/// move (the plugin's connections do not), so no move was lost.
fn close_all(spec: &ShardSpec, conns: Vec<(u64, Served)>, counted: bool) {
    for (_, served) in conns {
        if !counted {
            crate::metrics::global().moved(&spec.base.name, "lost");
        }
        close_with(&served, close::INTERNAL_ERROR, "plugin failed");
    }
}
