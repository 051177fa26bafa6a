//! QoS 2 packet ids received from the client and awaiting its PUBREL (method B of MQTT 3.1.1
//! figure 4.3): the session's record that makes an incoming QoS 2 message exactly once.

use tokio::time::Instant;

use crate::codec::PacketId;
use crate::lazy_map::LazyMap;

/// QoS 2 packet ids received from the client and awaiting PUBREL, with when each came: made on
/// first use (most clients never publish at QoS 2).
pub(super) type Receipts = LazyMap<PacketId, Instant>;

/// Keeps the receipts younger than `timeout`; returns the packet ids of the others.
pub(super) fn expire(receipts: &mut Receipts, now: Instant, timeout: std::time::Duration) -> Vec<PacketId> {
    let mut expired = Vec::new();
    receipts.retain(|&pkid, at| {
        let keep = now.saturating_duration_since(*at) < timeout;
        if !keep {
            expired.push(pkid);
        }
        keep
    });
    expired
}
