//! The MQTT 5 corpus is only useful if every reject case gets the reply it names, for many
//! different rules, and every edge case is accepted.

use std::collections::{BTreeSet, HashSet};

use bytes::BytesMut;

use super::*;
use crate::codec::{decode, Packet, ProtocolLevel};

/// What an MQTT 5 server does with `bytes`, mirroring the connection: level `None` until a
/// CONNECT is accepted, then its level. `Ok((reply, rule))` when it closes, with the error's
/// variant name as the rule; `Err` when it would not close.
fn reply(bytes: &[u8], after_connect: bool) -> Result<(V5Reply, String), String> {
    let mut buf = BytesMut::from(bytes);
    let mut level = after_connect.then_some(ProtocolLevel::V5);
    loop {
        match decode(&mut buf, CORPUS_MAX_PACKET_SIZE, level) {
            Err(e) => {
                let rule = format!("{e:?}")
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let reply = match (level, e.connack_code()) {
                    (Some(_), _) => V5Reply::Disconnect(e.disconnect_reason().ok_or("no reason")?),
                    (None, Some(code)) if e.connack_level() == ProtocolLevel::V5 => {
                        V5Reply::ConnAck(code.reason_code())
                    }
                    (None, _) => V5Reply::Close,
                };
                return Ok((reply, rule));
            }
            Ok(None) => return Err(format!("waits for more bytes after {} left", buf.len())),
            Ok(Some(Packet::Connect(connect))) => match level {
                Some(_) => {
                    return Ok((
                        V5Reply::Disconnect(ReasonCode::PROTOCOL_ERROR),
                        "SecondConnect".into(),
                    ))
                }
                None if connect.level == ProtocolLevel::V5 => level = Some(ProtocolLevel::V5),
                None => return Err(format!("a {} CONNECT", connect.level)),
            },
            Ok(Some(packet)) if level.is_none() => {
                return Ok((
                    V5Reply::Close,
                    format!("first packet is {}", packet.packet_type()),
                ));
            }
            Ok(Some(_)) => {}
        }
        if buf.is_empty() {
            return Err(String::from("every packet was accepted"));
        }
    }
}

#[test]
fn at_least_150_uniquely_named_cases() {
    let cases = v5_malformed_corpus();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let edges = v5_edge_cases();
    let names: HashSet<_> = cases
        .iter()
        .map(|c| c.name)
        .chain(edges.iter().map(|e| e.name))
        .collect();
    assert_eq!(names.len(), cases.len() + edges.len(), "duplicate names");
    assert!(cases.iter().any(|c| c.after_connect) && cases.iter().any(|c| !c.after_connect));
}

#[test]
fn valid_connect_v5_is_an_mqtt_5_connect() {
    let mut buf = BytesMut::from(&valid_connect_v5()[..]);
    match decode(&mut buf, CORPUS_MAX_PACKET_SIZE, None) {
        Ok(Some(Packet::Connect(connect))) => {
            assert_eq!(connect.level, ProtocolLevel::V5);
            assert_eq!(connect.client_id, "corpus5");
        }
        other => panic!("valid_connect_v5 decodes to {other:?}"),
    }
    assert!(buf.is_empty());
}

/// Every case is rejected with the reply it names, and the corpus exercises many rules.
#[test]
fn every_case_gets_its_reply() {
    let mut rules = BTreeSet::new();
    let mut failures = Vec::new();
    for case in v5_malformed_corpus() {
        match reply(&case.bytes, case.after_connect) {
            Ok((got, rule)) if got == case.reply => {
                rules.insert(rule);
            }
            Ok((got, rule)) => failures.push(format!(
                "{}: {got:?} ({rule}), expected {:?}",
                case.name, case.reply
            )),
            Err(why) => failures.push(format!("{}: not rejected: {why}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rules.len() >= 25, "only {} rules: {rules:?}", rules.len());
}

/// Each kind of reply is represented.
#[test]
fn every_kind_of_reply() {
    let replies: HashSet<_> = v5_malformed_corpus().iter().map(|c| c.reply).collect();
    for expected in [
        V5Reply::Disconnect(ReasonCode::MALFORMED_PACKET),
        V5Reply::Disconnect(ReasonCode::PROTOCOL_ERROR),
        V5Reply::Disconnect(ReasonCode::TOPIC_ALIAS_INVALID),
        V5Reply::Disconnect(ReasonCode::PACKET_TOO_LARGE),
        V5Reply::ConnAck(ReasonCode::MALFORMED_PACKET),
        V5Reply::ConnAck(ReasonCode::PROTOCOL_ERROR),
        V5Reply::Close,
    ] {
        assert!(replies.contains(&expected), "{expected:?}");
    }
}

/// Every edge case decodes whole, packet after packet, at the level a server would use.
#[test]
fn every_edge_case_is_accepted() {
    for edge in v5_edge_cases() {
        let mut buf = BytesMut::from(&edge.bytes[..]);
        let mut level = edge.after_connect.then_some(ProtocolLevel::V5);
        while !buf.is_empty() {
            match decode(&mut buf, CORPUS_MAX_PACKET_SIZE, level) {
                Ok(Some(Packet::Connect(connect))) if level.is_none() => level = Some(connect.level),
                Ok(Some(packet)) => {
                    assert!(level.is_some(), "{}: {packet:?} before CONNECT", edge.name);
                    assert!(
                        !matches!(packet, Packet::Connect(_)),
                        "{}: second CONNECT",
                        edge.name
                    );
                }
                other => panic!("{}: {other:?}", edge.name),
            }
        }
        assert_eq!(level, Some(ProtocolLevel::V5), "{}", edge.name);
    }
}
