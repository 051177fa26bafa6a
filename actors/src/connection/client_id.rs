//! The client id a CONNECT gets, or why it is refused with CONNACK 0x02 (the client id checks
//! of emqttd_protocol's `check_connect`).
//!
//! The codec accepts any UTF-8 id, empty included: which ids to take is the broker's decision,
//! and it differs by protocol version, so it is made here, once, for both:
//!
//! - MQTT 3.1 (`MQIsdp`): "between 1 and 23 characters long". 3.1 has no server-assigned ids,
//!   so an empty id is refused like one of 24 characters or more.
//! - MQTT 3.1.1: any length the server allows [MQTT-3.1.3-5]; an empty id with clean session
//!   gets one the server makes up [MQTT-3.1.3-6], and without clean session is refused
//!   [MQTT-3.1.3-8].
//! - Both: no longer than `mqtt.max_clientid_len` bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::codec::ProtocolLevel;

/// The longest client id MQTT 3.1 allows, in characters.
pub const MQTT_3_1_MAX_CHARS: usize = 23;

/// Numbers the ids the broker assigns (`arbor-<n>`), unique for the process's life.
static ASSIGNED: AtomicU64 = AtomicU64::new(1);

/// What to do with the id a CONNECT carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Use it as sent.
    AsSent,
    /// It is empty and may be: assign one [MQTT-3.1.3-6].
    Assign,
    /// Refuse the CONNECT with CONNACK 0x02; the reason is for the log.
    Reject(&'static str),
}

/// Judges the id of a CONNECT at `level` with `clean_session`, under a `max_len` of bytes.
pub fn judge(level: ProtocolLevel, id: &str, clean_session: bool, max_len: usize) -> Verdict {
    match level {
        ProtocolLevel::V31 if id.is_empty() => {
            Verdict::Reject("empty client id: MQTT 3.1 needs 1 to 23 characters")
        }
        ProtocolLevel::V31 if id.chars().count() > MQTT_3_1_MAX_CHARS => {
            Verdict::Reject("client id longer than 23 characters: MQTT 3.1 allows 1 to 23")
        }
        ProtocolLevel::V311 if id.is_empty() && !clean_session => {
            Verdict::Reject("empty client id without clean session [MQTT-3.1.3-8]")
        }
        ProtocolLevel::V311 if id.is_empty() => Verdict::Assign,
        // MQTT 5: an empty id is always assigned one, returned in CONNACK [MQTT-3.1.3-6],
        // [MQTT-3.2.2-16].
        ProtocolLevel::V5 if id.is_empty() => Verdict::Assign,
        _ if id.len() > max_len => Verdict::Reject("client id too long"),
        _ => Verdict::AsSent,
    }
}

/// The id the connection goes by: the one sent, or a new `arbor-<n>` when [`judge`] says to
/// assign one; `Err` with the reason to refuse with CONNACK 0x02.
pub fn choose(
    level: ProtocolLevel,
    id: &str,
    clean_session: bool,
    max_len: usize,
) -> Result<Arc<str>, &'static str> {
    let id: Arc<str> = match judge(level, id, clean_session, max_len) {
        Verdict::AsSent => Arc::from(id),
        Verdict::Assign => Arc::from(format!("arbor-{}", ASSIGNED.fetch_add(1, Ordering::Relaxed))),
        Verdict::Reject(why) => return Err(why),
    };
    // An assigned id obeys the limit too (a tiny `max_clientid_len` could refuse it).
    if id.len() > max_len {
        return Err("client id too long");
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 65535;

    #[test]
    fn mqtt_3_1_refuses_an_empty_id_and_one_over_23_characters() {
        let v31 = |id: &str, clean| judge(ProtocolLevel::V31, id, clean, MAX);
        assert!(matches!(v31("", true), Verdict::Reject(_)));
        assert!(matches!(v31("", false), Verdict::Reject(_)));
        assert_eq!(v31(&"a".repeat(23), true), Verdict::AsSent);
        assert!(matches!(v31(&"a".repeat(24), true), Verdict::Reject(_)));
        // Characters, not bytes: 23 two-byte characters are allowed, 24 are not.
        assert_eq!(v31(&"ü".repeat(23), false), Verdict::AsSent);
        assert!(matches!(v31(&"ü".repeat(24), false), Verdict::Reject(_)));
        assert!(choose(ProtocolLevel::V31, "", true, MAX).is_err());
    }

    #[test]
    fn mqtt_3_1_1_assigns_an_empty_id_with_clean_session_mqtt_3_1_3_6_and_8() {
        let v311 = |id: &str, clean| judge(ProtocolLevel::V311, id, clean, MAX);
        assert_eq!(v311("", true), Verdict::Assign);
        assert!(matches!(v311("", false), Verdict::Reject(_)));
        assert_eq!(v311(&"a".repeat(100), false), Verdict::AsSent);
        let first = choose(ProtocolLevel::V311, "", true, MAX).expect("assigned");
        let second = choose(ProtocolLevel::V311, "", true, MAX).expect("assigned");
        assert!(first.starts_with("arbor-") && first != second, "{first} {second}");
    }

    #[test]
    fn max_clientid_len_applies_to_both_versions_and_to_assigned_ids() {
        for level in [ProtocolLevel::V31, ProtocolLevel::V311] {
            assert_eq!(judge(level, "abcd", true, 4), Verdict::AsSent);
            assert_eq!(
                judge(level, "abcde", true, 4),
                Verdict::Reject("client id too long")
            );
        }
        assert_eq!(
            choose(ProtocolLevel::V311, "", true, 4),
            Err("client id too long")
        );
        assert_eq!(choose(ProtocolLevel::V311, "c1", false, 4).as_deref(), Ok("c1"));
    }
}
