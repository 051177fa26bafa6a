//! QoS 2 packet ids received from the client and awaiting its PUBREL (method B of MQTT 3.1.1
//! figure 4.3): the session's record that makes an incoming QoS 2 message exactly once.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::codec::PacketId;

/// QoS 2 packet ids received from the client and awaiting PUBREL, with when each came: made on
/// first use (most clients never publish at QoS 2).
#[derive(Default)]
#[allow(clippy::box_collection)] // on purpose: one word in every session, not a 48-byte map
pub(super) struct Receipts(Option<Box<HashMap<PacketId, Instant>>>);

impl Receipts {
    pub(super) fn contains(&self, pkid: PacketId) -> bool {
        self.0.as_ref().is_some_and(|m| m.contains_key(&pkid))
    }
    pub(super) fn insert(&mut self, pkid: PacketId, at: Instant) {
        self.0.get_or_insert_default().insert(pkid, at);
    }
    /// Forgets `pkid`; false if it was not there.
    pub(super) fn remove(&mut self, pkid: PacketId) -> bool {
        self.0.as_mut().is_some_and(|m| m.remove(&pkid).is_some())
    }
    pub(super) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Keeps the receipts younger than `timeout`.
    pub(super) fn expire(&mut self, now: Instant, timeout: std::time::Duration) {
        if let Some(m) = &mut self.0 {
            m.retain(|_, at| now.saturating_duration_since(*at) < timeout);
            if m.is_empty() {
                self.0 = None;
            }
        }
    }
}
