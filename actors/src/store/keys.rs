//! The store's tables and how their keys are made.
//!
//! A session's rows share the prefix `client id, 0x00` (an MQTT string never holds U+0000
//! [MQTT-1.5.4-2], so no client id is a prefix of another's rows), followed by a big-endian
//! number, so a prefix scan reads them in order: messages and their inflight states by sequence
//! number (the order they were routed in), receipts by packet id.

use bytes::{BufMut, Bytes, BytesMut};

/// The store's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `client id` → [`super::SessionRecord`].
    Sessions,
    /// `client id, 0, seq` → [`super::MessageRecord`]: queued or inflight to that session.
    Messages,
    /// `client id, 0, seq` → packet id (2 bytes) and stage (1 byte): sent, not acknowledged.
    Inflight,
    /// `client id, 0, packet id` → nothing: incoming QoS 2 awaiting PUBREL.
    Receipts,
    /// `topic` → [`super::MessageRecord`].
    Retained,
    /// `format` → the store format.
    Meta,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 6] = [
        Table::Sessions,
        Table::Messages,
        Table::Inflight,
        Table::Receipts,
        Table::Retained,
        Table::Meta,
    ];

    /// The tables whose rows belong to one session, under its prefix.
    pub const PER_SESSION: [Table; 3] = [Table::Messages, Table::Inflight, Table::Receipts];

    /// Its name in the database.
    pub fn name(self) -> &'static str {
        match self {
            Table::Sessions => "sessions",
            Table::Messages => "messages",
            Table::Inflight => "inflight",
            Table::Receipts => "receipts",
            Table::Retained => "retained",
            Table::Meta => "meta",
        }
    }
}

/// The prefix of `client_id`'s rows.
pub fn prefix(client_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(client_id.len() + 1);
    key.extend_from_slice(client_id.as_bytes());
    key.push(0);
    key
}

/// A message's (and its inflight state's) key.
pub fn message(client_id: &str, seq: u64) -> Bytes {
    let mut key = BytesMut::with_capacity(client_id.len() + 9);
    key.put_slice(client_id.as_bytes());
    key.put_u8(0);
    key.put_u64(seq);
    key.freeze()
}

/// A receipt's key.
pub fn receipt(client_id: &str, pkid: u16) -> Bytes {
    let mut key = BytesMut::with_capacity(client_id.len() + 3);
    key.put_slice(client_id.as_bytes());
    key.put_u8(0);
    key.put_u16(pkid);
    key.freeze()
}

/// Splits a per-session key into its client id and the number after it.
pub fn split(key: &[u8]) -> Option<(&str, u64)> {
    let at = key.iter().position(|&b| b == 0)?;
    let client = std::str::from_utf8(&key[..at]).ok()?;
    let rest = &key[at + 1..];
    let n = match rest.len() {
        8 => u64::from_be_bytes(rest.try_into().ok()?),
        2 => u64::from(u16::from_be_bytes(rest.try_into().ok()?)),
        _ => return None,
    };
    Some((client, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_client_then_number_and_split_back() {
        let a = message("a", 300);
        let b = message("a", 2);
        let c = message("ab", 1);
        assert!(b < a && a < c, "a's rows sort by number, before ab's");
        assert_eq!(split(&a), Some(("a", 300)));
        assert_eq!(split(&receipt("x/y", 7)), Some(("x/y", 7)));
        assert!(a.starts_with(&prefix("a")) && !c.starts_with(&prefix("a")));
        assert_eq!(split(b"no-separator"), None);
    }
}
