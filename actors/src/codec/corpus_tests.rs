//! The corpus is only useful if every case really is rejected, for a reason of its own.

use std::collections::{BTreeMap, HashSet};

use bytes::BytesMut;

use super::*;
use crate::codec::{decode, Packet, ProtocolLevel};

/// What a broker does with `case`: `Ok(why it closes)`, or `Err` if it would not close.
/// Mirrors the connection: level `None` until a CONNECT is accepted, then that CONNECT's
/// level; a packet other than CONNECT first, or a second CONNECT, closes it.
fn rejection(case: &MalformedCase) -> Result<String, String> {
    let mut buf = BytesMut::from(&case.bytes[..]);
    let mut level = case.after_connect.then_some(ProtocolLevel::V311);
    loop {
        match decode(&mut buf, CORPUS_MAX_PACKET_SIZE, level) {
            Err(e) => return Ok(format!("{e:?}")),
            Ok(None) => return Err(format!("waits for more bytes after {} left", buf.len())),
            Ok(Some(Packet::Connect(connect))) => match level {
                Some(_) => return Ok(String::from("second CONNECT")),
                None => level = Some(connect.level),
            },
            Ok(Some(packet)) if level.is_none() => {
                return Ok(format!("first packet is {}", packet.packet_type()));
            }
            Ok(Some(_)) => {}
        }
        if buf.is_empty() {
            return Err(String::from("every packet was accepted"));
        }
    }
}

#[test]
fn corpus_has_at_least_110_uniquely_named_cases() {
    let cases = malformed_corpus();
    assert!(cases.len() >= 110, "only {} cases", cases.len());
    let names: HashSet<_> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "duplicate names");
    assert!(cases.iter().any(|c| c.after_connect) && cases.iter().any(|c| !c.after_connect));
}

#[test]
fn valid_connect_is_a_valid_3_1_1_connect() {
    let mut buf = BytesMut::from(&valid_connect()[..]);
    match decode(&mut buf, CORPUS_MAX_PACKET_SIZE, None) {
        Ok(Some(Packet::Connect(connect))) => {
            assert_eq!(connect.level, ProtocolLevel::V311);
            assert_eq!(connect.client_id, "corpus");
        }
        other => panic!("valid_connect decodes to {other:?}"),
    }
    assert!(buf.is_empty());
}

/// Every case before CONNECT fails to decode or is not a CONNECT; every case after it fails
/// to decode or is a (second) CONNECT; no case leaves the broker waiting for bytes.
#[test]
fn every_corpus_case_is_rejected() {
    let mut reasons = BTreeMap::new();
    for case in malformed_corpus() {
        match rejection(&case) {
            Ok(reason) => {
                let kind = reason
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                *reasons.entry(kind).or_insert(0) += 1;
            }
            Err(why) => panic!("{} is not rejected: {why}", case.name),
        }
    }
    // The corpus exercises many different rules, not one rule many times.
    assert!(
        reasons.len() >= 20,
        "only {} kinds of rejection: {reasons:?}",
        reasons.len()
    );
}

/// MQTT's name with a level we do not speak calls for CONNACK 0x01 [MQTT-3.1.2-2]; a name that
/// is not MQTT's for none [MQTT-3.1.2-1].
#[test]
fn protocol_cases_call_for_connack_0x01_only_with_a_known_name() {
    let cases = malformed_corpus();
    let expect = [
        ("connect_mqtt_level_6", Some(1)),
        ("connect_mqtt_level_3", Some(1)),
        ("connect_mqisdp_level_4", Some(1)),
        ("connect_protocol_name_lowercase", None),
        ("connect_protocol_name_garbage", None),
        ("connect_protocol_name_empty", None),
        ("connect_protocol_name_not_utf8", None),
    ];
    for (name, code) in expect {
        let case = cases.iter().find(|c| c.name == name).expect("case exists");
        let mut buf = BytesMut::from(&case.bytes[..]);
        let err = decode(&mut buf, CORPUS_MAX_PACKET_SIZE, None).expect_err("rejected");
        assert_eq!(err.connack_code().map(|c| c.v3_code()), code, "{name}");
    }
}
