//! Admission into `connection_sup` (esockd_connection_sup's `start_connection`).
//!
//! connection_sup itself is an engine supervisor (simple_one_for_one, temporary, brutal_kill).
//! What esockd does in its `start_connection` before starting a child lives here: the access
//! rules (first match wins, no match allows) and `max_connections`. A refused peer is closed at
//! once and counted by reason; the log line is rate limited so a flood cannot flood the log.
//! An admitted connection owns a [`ConnectionPermit`] whose drop gives the slot back, so the
//! count is exact after kills (ractor skips `post_stop` on kill, but drops the state).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arbor_supervisors::path::encode_segment;
use arbor_supervisors::DynamicChild;
use tokio::net::TcpStream;

use crate::broker::Broker;
use crate::connection;
use crate::esockd::access::{self, Access};
use crate::esockd::listener::ListenerShared;
use crate::observability::metrics::Metrics;

/// A slot under `max_connections`, held by a connection for its whole life.
pub struct ConnectionPermit {
    shared: Arc<ListenerShared>,
    broker: Arc<Broker>,
}

impl ConnectionPermit {
    /// Takes a slot if the listener is under its limit.
    fn acquire(broker: &Arc<Broker>, shared: &Arc<ListenerShared>) -> Option<Self> {
        let max = shared.max_connections.load(Ordering::Relaxed);
        shared
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        let m = &broker.metrics;
        Metrics::gauge_up(&m.connections, &m.connections_max);
        Some(Self {
            shared: shared.clone(),
            broker: broker.clone(),
        })
    }

    /// The listener this connection came through.
    pub fn listener(&self) -> &Arc<ListenerShared> {
        &self.shared
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.shared.current.fetch_sub(1, Ordering::AcqRel);
        Metrics::gauge_down(&self.broker.metrics.connections);
    }
}

/// Admits `socket` from `peer` and starts its `connection/<peer>` actor, or closes it.
pub async fn admit(broker: &Arc<Broker>, shared: &Arc<ListenerShared>, socket: TcpStream, peer: SocketAddr) {
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    if access::check(&shared.access.read(), peer.ip()) == Access::Deny {
        refuse(shared, peer, "access_denied");
        return;
    }
    let Some(permit) = ConnectionPermit::acquire(broker, shared) else {
        refuse(shared, peer, "max_connections");
        return;
    };
    let Some(sup) = shared.connection_sup.read().clone() else {
        refuse(shared, peer, "no_connection_sup");
        return;
    };
    let id = format!("connection/{}", encode_segment(&peer.to_string()));
    let broker = broker.clone();
    let child = DynamicChild::once(id, move |ctx| {
        connection::start(ctx, broker, socket, peer, permit)
    });
    if let Err(e) = sup.start_child(child).await {
        shared.count("start_failed");
        tracing::warn!(listener = %shared.id, %peer, error = %e, "connection not started");
    }
}

/// Seconds since the epoch of the last refusal log line, shared by all listeners: enough to keep
/// a flood to one line a second.
static LAST_REFUSAL_LOG: AtomicU64 = AtomicU64::new(0);

fn refuse(shared: &ListenerShared, peer: SocketAddr, reason: &str) {
    shared.count(reason);
    let now = crate::connection::protocol::unix_now();
    if LAST_REFUSAL_LOG.swap(now, Ordering::Relaxed) != now {
        tracing::info!(listener = %shared.id, %peer, reason, "connection refused (further refusals this second not logged)");
    }
}
