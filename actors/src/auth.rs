//! The authorization hook (emqttd_access_control): asked before a subscription is routed and a
//! message published. The default allows everything; the access-control work fills in rules.

/// Decides what a client may do.
pub trait Authorizer: Send + Sync {
    /// May `client_id` subscribe to `filter`? A refusal is SUBACK 0x80.
    fn can_subscribe(&self, client_id: &str, filter: &str) -> bool;
    /// May `client_id` publish to `topic`? A refused message is acknowledged and dropped.
    fn can_publish(&self, client_id: &str, topic: &str) -> bool;
}

/// Allows everything (`auth.allow_anonymous = true` and no ACL).
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn can_subscribe(&self, _client_id: &str, _filter: &str) -> bool {
        true
    }

    fn can_publish(&self, _client_id: &str, _topic: &str) -> bool {
        true
    }
}
