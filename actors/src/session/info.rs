//! What `ctl sessions show` and the admin API report about a session.

use crate::session::SessionState;

/// A session as `ctl sessions show` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionInfo {
    /// Client id.
    pub client_id: String,
    /// Clean session flag.
    pub clean_session: bool,
    /// Whether a connection is attached.
    pub connected: bool,
    /// Subscriptions: filter → granted QoS.
    pub subscriptions: Vec<(String, u8)>,
    /// QoS 1/2 messages sent and not yet acknowledged.
    pub inflight: usize,
    /// Window size.
    pub max_inflight: usize,
    /// Messages queued.
    pub mqueue_len: usize,
    /// Messages dropped so far: by the queue, and at the door of a full session.
    pub mqueue_dropped: u64,
    /// QoS 2 messages received and awaiting PUBREL.
    pub awaiting_rel: usize,
    /// When the session was created (seconds since the Unix epoch).
    pub created_at: u64,
    /// Seconds a detached persistent session is kept.
    pub expiry_interval: u64,
    /// Protocol level of the attached (or last) connection: 3, 4 or 5.
    pub protocol_level: u8,
    /// The client's Receive Maximum (the inflight window is the smaller of it and
    /// `max_inflight`).
    pub receive_maximum: u16,
    /// The client's Topic Alias Maximum (aliases the broker may use toward it).
    pub topic_alias_maximum: u16,
    /// The client's Maximum Packet Size, if it set one.
    pub maximum_packet_size: Option<u32>,
}

impl SessionState {
    /// This session, as the admin API shows it.
    pub(super) fn info(&self) -> SessionInfo {
        let cfg = &self.deps.config;
        let subscriptions: Vec<(String, u8)> = self
            .reg
            .subscriptions
            .iter()
            .map(|(f, &b)| (f.clone(), crate::codec::SubOptions::from_byte(b).qos.as_u8()))
            .collect();
        let limits = self.v5.as_ref().map(|v5| v5.limits).unwrap_or_default();
        SessionInfo {
            client_id: self.reg.handle.client_id.to_string(),
            clean_session: self.clean && self.expiry.is_zero(),
            connected: self.conn.is_some(),
            subscriptions,
            inflight: self.inflight.len(),
            max_inflight: usize::from(cfg.max_inflight),
            mqueue_len: self.mqueue.len(),
            mqueue_dropped: self.mqueue.dropped() + self.reg.handle.load.dropped(),
            awaiting_rel: self.awaiting_rel.len(),
            created_at: self.created_at,
            expiry_interval: self.expiry.as_secs(),
            protocol_level: self.outbox.level() as u8,
            receive_maximum: limits.receive_maximum,
            topic_alias_maximum: limits.topic_alias_maximum,
            maximum_packet_size: limits.maximum_packet_size,
        }
    }
}
