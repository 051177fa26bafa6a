//! Reading the store back: everything at boot ([`read_all`], before any listener opens), or
//! one session after its actor was killed ([`read_session`]).
//!
//! At boot, what can no longer be delivered is removed, and logged: sessions whose expiry passed
//! while the broker was down, messages whose MQTT 5 expiry passed [MQTT-3.3.2-5], and rows no
//! session owns (routed to a session as it ended). A record that cannot be read stops the boot
//! with an error naming it: nothing is deleted or rewritten on a guess.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::backend::Db;
use super::keys::{self, Table};
use super::records::{MessageRecord, SessionRecord};
use super::{StoreError, StoreStats};
use crate::codec::QoS;
use crate::message::Message;

/// The store format this build writes and reads.
pub const FORMAT: u32 = 1;

/// A stored message of a session.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its sequence number (its key).
    pub seq: u64,
    /// The message.
    pub msg: Arc<Message>,
    /// Its delivery QoS.
    pub qos: QoS,
    /// Sent and not acknowledged: its packet id, and whether PUBREL was sent (QoS 2 past PUBREC).
    pub inflight: Option<(u16, bool)>,
}

/// A persistent session as stored.
#[derive(Debug, Clone)]
pub struct SessionImage {
    /// Its client id.
    pub client_id: Arc<str>,
    /// Its record.
    pub record: SessionRecord,
    /// Its messages in the order they were routed.
    pub messages: Vec<StoredMessage>,
    /// Packet ids of incoming QoS 2 messages awaiting PUBREL.
    pub receipts: Vec<u16>,
}

/// Everything the store held at boot.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The persistent sessions.
    pub sessions: Vec<SessionImage>,
    /// The retained messages.
    pub retained: Vec<Arc<Message>>,
    /// The next message sequence number: past every stored message and every stored session's
    /// `since`.
    pub next_seq: u64,
}

/// Reads every table (see the module docs), removing what can no longer be delivered.
pub(super) fn read_all(db: &mut Db, stats: &StoreStats) -> Result<Recovered, StoreError> {
    check_format(db)?;
    let corrupt = |what: String| StoreError::Corrupt(db.path().to_path_buf(), what);
    let now_ms = super::unix_ms();
    let mut sessions: HashMap<Arc<str>, SessionImage> = HashMap::new();
    let mut expired = Vec::new();
    // Past every stored message and every session's first number: a number below a session's
    // `since` would mark what is routed to it as a previous session's, dropped by the next boot.
    let mut next_seq = 1;
    db.scan(Table::Sessions, b"", &mut |key, value| {
        let client_id: Arc<str> = std::str::from_utf8(key)
            .map_err(|_| "a session key is not UTF-8".to_string())?
            .into();
        let record = SessionRecord::decode(value).map_err(|e| format!("session {client_id}: {e}"))?;
        next_seq = next_seq.max(record.since);
        let ends = record
            .detached_at_ms
            .saturating_add(record.expiry_secs.saturating_mul(1000));
        if record.detached_at_ms != 0 && ends <= now_ms {
            expired.push(client_id);
        } else {
            sessions.insert(
                client_id.clone(),
                SessionImage {
                    client_id,
                    record,
                    messages: Vec::new(),
                    receipts: Vec::new(),
                },
            );
        }
        Ok(())
    })
    .map_err(corrupt)?;
    let mut stale: Vec<(Table, Bytes, Option<Bytes>)> = Vec::new();
    let mut dropped_messages = 0u64;
    db.scan(Table::Messages, b"", &mut |key, value| {
        let (client, seq) = keys::split(key).ok_or("a message key without a client id")?;
        next_seq = next_seq.max(seq + 1);
        let owner = sessions.get_mut(client).filter(|s| seq >= s.record.since);
        let decoded = MessageRecord::decode(Bytes::copy_from_slice(value))
            .map_err(|e| format!("message {client}/{seq}: {e}"))?;
        match (owner, decoded) {
            (Some(session), Some((msg, qos))) => session.messages.push(StoredMessage {
                seq,
                msg,
                qos,
                inflight: None,
            }),
            _ => {
                dropped_messages += 1;
                stale.push((Table::Messages, Bytes::copy_from_slice(key), None));
            }
        }
        Ok(())
    })
    .map_err(corrupt)?;
    read_inflight(db, &mut sessions, &mut stale).map_err(corrupt)?;
    db.scan(Table::Receipts, b"", &mut |key, _| {
        let (client, pkid) = keys::split(key).ok_or("a receipt key without a client id")?;
        match sessions.get_mut(client) {
            Some(session) => session.receipts.push(pkid as u16),
            None => stale.push((Table::Receipts, Bytes::copy_from_slice(key), None)),
        }
        Ok(())
    })
    .map_err(corrupt)?;
    let mut retained = Vec::new();
    db.scan(Table::Retained, b"", &mut |key, value| {
        match MessageRecord::decode(Bytes::copy_from_slice(value))
            .map_err(|e| format!("retained message: {e}"))?
        {
            Some((msg, _)) => retained.push(msg),
            None => stale.push((Table::Retained, Bytes::copy_from_slice(key), None)),
        }
        Ok(())
    })
    .map_err(corrupt)?;
    if !expired.is_empty() || !stale.is_empty() {
        tracing::info!(
            expired_sessions = expired.len(),
            undeliverable_messages = dropped_messages,
            "store: removing sessions that expired while the broker was down and messages no session can receive"
        );
        stale.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        db.commit(&expired, &stale).map_err(StoreError::Commit)?;
    }
    let sessions: Vec<SessionImage> = sessions.into_values().collect();
    let messages: usize = sessions.iter().map(|s| s.messages.len()).sum();
    use std::sync::atomic::Ordering::Relaxed;
    stats.sessions.store(sessions.len() as u64, Relaxed);
    stats.messages.store(messages as u64, Relaxed);
    stats.retained.store(retained.len() as u64, Relaxed);
    Ok(Recovered {
        sessions,
        retained,
        next_seq,
    })
}

/// Attaches each inflight state to its message; a state without its message is stale.
fn read_inflight(
    db: &Db,
    sessions: &mut HashMap<Arc<str>, SessionImage>,
    stale: &mut Vec<(Table, Bytes, Option<Bytes>)>,
) -> Result<(), String> {
    // Messages are in seq order per session: index them for the lookup.
    let mut at: HashMap<(Arc<str>, u64), usize> = HashMap::new();
    for (id, s) in sessions.iter() {
        for (i, m) in s.messages.iter().enumerate() {
            at.insert((id.clone(), m.seq), i);
        }
    }
    db.scan(Table::Inflight, b"", &mut |key, value| {
        let (client, seq) = keys::split(key).ok_or("an inflight key without a client id")?;
        let state = decode_state(value).ok_or_else(|| format!("inflight state {client}/{seq}"))?;
        let found = sessions
            .get_mut(client)
            .and_then(|s| at.get(&(s.client_id.clone(), seq)).map(|&i| &mut s.messages[i]));
        match found {
            Some(m) => m.inflight = Some(state),
            None => stale.push((Table::Inflight, Bytes::copy_from_slice(key), None)),
        }
        Ok(())
    })
}

/// An inflight state's value: packet id and stage.
pub fn encode_state(pkid: u16, released: bool) -> Bytes {
    let [a, b] = pkid.to_be_bytes();
    Bytes::copy_from_slice(&[a, b, u8::from(released)])
}

fn decode_state(value: &[u8]) -> Option<(u16, bool)> {
    match value {
        [a, b, stage @ (0 | 1)] if u16::from_be_bytes([*a, *b]) != 0 => {
            Some((u16::from_be_bytes([*a, *b]), *stage == 1))
        }
        _ => None,
    }
}

/// One session's image, read after everything before it was committed (a restarted session).
pub(super) fn read_session(db: &Db, client_id: &Arc<str>) -> Result<Option<SessionImage>, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(db.path().to_path_buf(), what);
    let Some(value) = db.get(Table::Sessions, client_id.as_bytes()).map_err(corrupt)? else {
        return Ok(None);
    };
    let record = SessionRecord::decode(&value).map_err(|e| corrupt(format!("session {client_id}: {e}")))?;
    let mut image = SessionImage {
        client_id: client_id.clone(),
        record,
        messages: Vec::new(),
        receipts: Vec::new(),
    };
    let prefix = keys::prefix(client_id);
    let since = image.record.since;
    db.scan(Table::Messages, &prefix, &mut |key, value| {
        let (_, seq) = keys::split(key).ok_or("a message key without a client id")?;
        if seq >= since {
            if let Some((msg, qos)) = MessageRecord::decode(Bytes::copy_from_slice(value))? {
                image.messages.push(StoredMessage {
                    seq,
                    msg,
                    qos,
                    inflight: None,
                });
            }
        }
        Ok(())
    })
    .map_err(corrupt)?;
    let mut states = HashMap::new();
    db.scan(Table::Inflight, &prefix, &mut |key, value| {
        if let (Some((_, seq)), Some(state)) = (keys::split(key), decode_state(value)) {
            states.insert(seq, state);
        }
        Ok(())
    })
    .map_err(corrupt)?;
    for m in &mut image.messages {
        m.inflight = states.get(&m.seq).copied();
    }
    db.scan(Table::Receipts, &prefix, &mut |key, _| {
        if let Some((_, pkid)) = keys::split(key) {
            image.receipts.push(pkid as u16);
        }
        Ok(())
    })
    .map_err(corrupt)?;
    Ok(Some(image))
}

/// Refuses a store written by a newer format; marks a new one with ours.
fn check_format(db: &mut Db) -> Result<(), StoreError> {
    let path = db.path().to_path_buf();
    match db
        .get(Table::Meta, b"format")
        .map_err(|e| StoreError::Corrupt(path.clone(), e))?
    {
        Some(v) => {
            let found = <[u8; 4]>::try_from(&v[..])
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt(path.clone(), "the format mark is damaged".into()))?;
            if found > FORMAT {
                return Err(StoreError::Newer {
                    path,
                    found,
                    supported: FORMAT,
                });
            }
            Ok(())
        }
        None => {
            let mark = Bytes::copy_from_slice(&FORMAT.to_be_bytes());
            db.commit(&[], &[(Table::Meta, Bytes::from_static(b"format"), Some(mark))])
                .map(|_| ())
                .map_err(|e| StoreError::Io(path, e))
        }
    }
}
