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

use crate::connection::{Connection, ConnectionArgs, ConnectionDeps};
use crate::esockd::table::{ConnectionPermit, ListenerTable};

/// Admits `socket` from `peer` and starts its `connection/<peer>` actor, or closes it.
pub async fn admit(
    deps: &Arc<ConnectionDeps>,
    table: &Arc<ListenerTable>,
    socket: TcpStream,
    peer: SocketAddr,
) {
    table.accepted();
    if !table.admits(peer.ip()) {
        refuse(table, peer, "access_denied");
        return;
    }
    let Some(permit) = ConnectionPermit::acquire(table, &deps.metrics) else {
        refuse(table, peer, "max_connections");
        return;
    };
    let Some(sup) = table.connection_sup.get() else {
        refuse(table, peer, "no_connection_sup");
        return;
    };
    let id = format!("connection/{}", encode_segment(&peer.to_string()));
    let deps = deps.clone();
    let child = DynamicChild::once(id, move |ctx| {
        let path = Arc::from(ctx.path.as_str());
        arbor_supervisors::worker::start::<Connection>(
            ctx,
            ConnectionArgs {
                deps,
                socket,
                peer,
                permit,
                path,
            },
        )
    });
    if let Err(e) = sup.start_child(child).await {
        table.count("start_failed");
        tracing::warn!(listener = %table.id(), %peer, error = %e, "connection not started");
    }
}

/// Seconds since the epoch of the last refusal log line, shared by all listeners: enough to keep
/// a flood to one line a second.
static LAST_REFUSAL_LOG: AtomicU64 = AtomicU64::new(0);

fn refuse(table: &ListenerTable, peer: SocketAddr, reason: &str) {
    table.count(reason);
    let now = crate::message::unix_now();
    if LAST_REFUSAL_LOG.swap(now, Ordering::Relaxed) != now {
        tracing::info!(listener = %table.id(), %peer, reason, "connection refused (further refusals this second not logged)");
    }
}
