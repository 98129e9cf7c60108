//! The Redis layer's three tasks: publishing what is queued, listening to
//! this host's channels (and reconnecting), and beating.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{lock, Listen, Out, Redis, Stats, BEAT, HOST_TIMEOUT};
use crate::layer::wire::Note;
use crate::layer::Inbound;

/// Frames published in one round trip.
const BATCH: usize = 512;

/// Wait before reconnecting after Redis failed.
const RETRY: Duration = Duration::from_secs(1);

/// Longest wait for Redis to accept a connection or answer a batch; a
/// Redis that stops answering (a cut link drops no connection) is given up
/// on after it, and reconnected to.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// This host hears its own beat on the members channel every [`BEAT`]; a
/// subscription silent this long is taken for dead and remade.
const SILENT_SUBSCRIPTION: Duration = Duration::from_secs(4);

/// Publish what is queued, a batch per round trip, in queue order, until
/// the layer is dropped (its farewell is the last thing sent).
pub(super) async fn publish_loop(
    client: redis::Client,
    stats: Arc<Stats>,
    mut rx: mpsc::Receiver<Out>,
) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        if conn.is_none() {
            conn = tokio::time::timeout(ANSWER_WITHIN, client.get_multiplexed_async_connection())
                .await
                .ok()
                .and_then(Result::ok);
        }
        let sent = match conn.as_mut() {
            Some(c) => {
                let mut pipe = redis::pipe();
                for out in &batch {
                    pipe.publish(&out.channel, &out.data).ignore();
                }
                matches!(
                    tokio::time::timeout(ANSWER_WITHIN, pipe.query_async::<()>(c)).await,
                    Ok(Ok(()))
                )
            }
            None => false,
        };
        let n = batch.len() as u64;
        batch.clear();
        if sent {
            stats.published.fetch_add(n, Ordering::Relaxed);
        } else {
            stats.unpublished.fetch_add(n, Ordering::Relaxed);
            conn = None;
        }
    }
}

/// Listen to this host's channels, reconnecting and resubscribing when
/// Redis goes away.
pub(super) async fn subscribe_loop(
    client: redis::Client,
    url: String,
    layer: Weak<Redis>,
    inbound: Weak<dyn Inbound>,
    mut listen: mpsc::UnboundedReceiver<Listen>,
) {
    let mut logged_down = false;
    loop {
        let connected = match tokio::time::timeout(ANSWER_WITHIN, client.get_async_pubsub()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {} s", ANSWER_WITHIN.as_secs())),
        };
        let pubsub = match connected {
            Ok(p) => p,
            Err(e) => {
                if !logged_down {
                    tracing::error!("channel layer: cannot reach {url}: {e}; retrying every second, local groups keep working");
                    logged_down = true;
                }
                tokio::time::sleep(RETRY).await;
                if layer.strong_count() == 0 {
                    return;
                }
                continue;
            }
        };
        let Some(me) = layer.upgrade() else {
            return;
        };
        let (mut sink, mut stream) = pubsub.split();
        // Changes queued while down are in `mine` already: start afresh.
        while listen.try_recv().is_ok() {}
        let channels = me.channels();
        if !matches!(
            tokio::time::timeout(ANSWER_WITHIN, sink.subscribe(&channels)).await,
            Ok(Ok(()))
        ) {
            tracing::error!("channel layer: subscribing on {url} failed");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        me.stats.connected.store(true, Ordering::Relaxed);
        tracing::info!("channel layer: connected to {url} as host {}", me.host);
        // Announce this host and learn the others.
        me.note(&me.full());
        me.note(&Note::Sync {
            host: me.host.clone(),
            target: None,
        });
        drop(me);
        let mut heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(heard + SILENT_SUBSCRIPTION) => {
                    tracing::error!("channel layer: nothing from {url} for {} s, not even this host's own beat", SILENT_SUBSCRIPTION.as_secs());
                    break;
                }
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    heard = tokio::time::Instant::now();
                    let Some(me) = layer.upgrade() else { return };
                    // The registry hands the layer its address while it is
                    // being built, so this task can hear Redis before the
                    // registry is complete (a busy machine may pause the
                    // building thread for milliseconds). What arrives then
                    // has no member to reach and is dropped; this task must
                    // not end, or the host would never hear another host.
                    // The registry owns the layer: once it is gone, so is
                    // `me`, above.
                    let Some(inbound) = inbound.upgrade() else { continue };
                    let data = Bytes::copy_from_slice(msg.get_payload_bytes());
                    me.received(&*inbound, msg.get_channel_name(), data);
                }
                change = listen.recv() => {
                    let Some(change) = change else { return };
                    let done = match &change {
                        Listen::Subscribe(c) => tokio::time::timeout(ANSWER_WITHIN, sink.subscribe(c)).await,
                        Listen::Unsubscribe(c) => tokio::time::timeout(ANSWER_WITHIN, sink.unsubscribe(c)).await,
                    };
                    if !matches!(done, Ok(Ok(()))) {
                        break;
                    }
                }
            }
        }
        if let Some(me) = layer.upgrade() {
            me.stats.connected.store(false, Ordering::Relaxed);
        }
        tracing::error!(
            "channel layer: lost {url}; reconnecting every second, local groups keep working"
        );
        logged_down = true;
        tokio::time::sleep(RETRY).await;
    }
}

/// Say this host is alive, and forget hosts that stopped saying so.
pub(super) async fn beat_loop(layer: Weak<Redis>) {
    let mut tick = tokio::time::interval(BEAT);
    loop {
        tick.tick().await;
        let Some(me) = layer.upgrade() else {
            return;
        };
        let seq = lock(&me.mine).members_seq;
        me.note(&Note::Beat {
            host: me.host.clone(),
            seq,
        });
        let dead = lock(&me.view).reap(Instant::now(), HOST_TIMEOUT);
        // Their sequence numbers are kept: a host that was only cut off
        // comes back, and what it sent meanwhile must count as lost.
        for host in dead {
            tracing::warn!(
                host,
                "channel layer: host silent for {} s; its members leave every count and list",
                HOST_TIMEOUT.as_secs()
            );
        }
    }
}
