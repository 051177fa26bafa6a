//! Differential tests against mqttbytes 0.6 (`mqttbytes::v4`), the body parser this codec
//! replaced (see the module doc of `codec/mod.rs`, "Not mqttbytes").
//!
//! For every valid 3.1.1 packet mqttbytes can represent, both codecs must agree both ways:
//! our bytes decode with mqttbytes to the same values, mqttbytes' bytes are byte-for-byte
//! ours and decode with our codec to the same packet.
//!
//! Where they differ, mqttbytes is wrong; each divergence is pinned by a test below with the
//! reason, so a future mqttbytes that fixes one shows up as a failing test here:
//! - it reads no MQTT 3.1 (`MQIsdp`/3) and reads an MQTT 5 CONNECT on its v4 reader, as a
//!   3.1.1 body (the MQTT 5 codec is compared with rumqttc in `v5_differential_tests.rs`);
//! - its `Login` holds the password as a `String` and maps absent and empty fields to each
//!   other: a non-UTF-8 password is refused, an empty username or password is dropped on
//!   re-encode, and a password without username is accepted in 3.1.1 [MQTT-3.1.2-22];
//! - it checks the size limit against the remaining length, not the whole frame;
//! - it accepts every malformed case of [`malformed_corpus`] listed in
//!   `MQTTBYTES_ACCEPTS`, each for a rule it does not check.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Bytes, BytesMut};
use mqttbytes::v4 as mq;
use mqttbytes::Protocol;
use proptest::prelude::*;

use super::corpus::{connect_frame, malformed_corpus, MalformedCase, CORPUS_MAX_PACKET_SIZE};
use super::test_support::*;
use super::*;

fn mq_qos(qos: QoS) -> mqttbytes::QoS {
    match qos {
        QoS::AtMostOnce => mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => mqttbytes::QoS::ExactlyOnce,
    }
}

fn mq_login(username: &Option<String>, password: &Option<Bytes>) -> Option<Option<mq::Login>> {
    match (username, password) {
        (None, None) => Some(None),
        // mqttbytes drops an empty username, and reads a missing password as an empty one.
        (Some(u), None) if !u.is_empty() => Some(Some(mq::Login::new(u.clone(), String::new()))),
        (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => {
            let p = String::from_utf8(p.to_vec()).ok()?;
            Some(Some(mq::Login::new(u.clone(), p)))
        }
        _ => None,
    }
}

/// Our packet as mqttbytes' v4 value, or `None` where mqttbytes cannot represent it.
fn to_mq(packet: &Packet) -> Option<mq::Packet> {
    Some(match packet {
        Packet::Connect(c) => {
            if c.level != ProtocolLevel::V311 {
                return None;
            }
            mq::Packet::Connect(mq::Connect {
                protocol: Protocol::V4,
                keep_alive: c.keep_alive,
                client_id: c.client_id.clone(),
                clean_session: c.clean_session,
                last_will: c.will.as_ref().map(|w| mq::LastWill {
                    topic: w.topic.to_string(),
                    message: w.payload.clone(),
                    qos: mq_qos(w.qos),
                    retain: w.retain,
                }),
                login: mq_login(&c.username, &c.password)?,
            })
        }
        Packet::ConnAck(c) => {
            // The 3.1.1 byte: a code only MQTT 5 has is written as its nearest 3.1.1 code.
            let code = match c.code.v3_code() {
                0 => mq::ConnectReturnCode::Success,
                1 => mq::ConnectReturnCode::RefusedProtocolVersion,
                2 => mq::ConnectReturnCode::BadClientId,
                3 => mq::ConnectReturnCode::ServiceUnavailable,
                4 => mq::ConnectReturnCode::BadUserNamePassword,
                _ => mq::ConnectReturnCode::NotAuthorized,
            };
            mq::Packet::ConnAck(mq::ConnAck::new(code, c.session_present))
        }
        Packet::Publish(p) => mq::Packet::Publish(mq::Publish {
            dup: p.dup,
            qos: mq_qos(p.qos),
            retain: p.retain,
            topic: p.topic.to_string(),
            pkid: p.pkid.map_or(0, PacketId::get),
            payload: p.payload.clone(),
        }),
        Packet::PubAck(ack) => mq::Packet::PubAck(mq::PubAck::new(ack.pkid.get())),
        Packet::PubRec(ack) => mq::Packet::PubRec(mq::PubRec::new(ack.pkid.get())),
        Packet::PubRel(ack) => mq::Packet::PubRel(mq::PubRel::new(ack.pkid.get())),
        Packet::PubComp(ack) => mq::Packet::PubComp(mq::PubComp::new(ack.pkid.get())),
        Packet::Subscribe(s) => mq::Packet::Subscribe(mq::Subscribe {
            pkid: s.pkid.get(),
            filters: s
                .filters
                .iter()
                .map(|(f, o)| mq::SubscribeFilter::new(f.clone(), mq_qos(o.qos)))
                .collect(),
        }),
        Packet::SubAck(s) => mq::Packet::SubAck(mq::SubAck::new(
            s.pkid.get(),
            s.return_codes
                .iter()
                .map(|code| match code {
                    SubackCode::Success(q) => mq::SubscribeReasonCode::Success(mq_qos(*q)),
                    SubackCode::Failure(_) => mq::SubscribeReasonCode::Failure,
                })
                .collect(),
        )),
        Packet::Unsubscribe(u) => mq::Packet::Unsubscribe(mq::Unsubscribe {
            pkid: u.pkid.get(),
            topics: u.filters.clone(),
        }),
        Packet::UnsubAck(unsuback) => mq::Packet::UnsubAck(mq::UnsubAck::new(unsuback.pkid.get())),
        Packet::PingReq => mq::Packet::PingReq,
        Packet::PingResp => mq::Packet::PingResp,
        Packet::Disconnect(_) => mq::Packet::Disconnect,
        Packet::Auth(_) => return None,
    })
}

fn mq_write(packet: &mq::Packet) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let written = match packet {
        mq::Packet::Connect(p) => p.write(&mut buf),
        mq::Packet::ConnAck(p) => p.write(&mut buf),
        mq::Packet::Publish(p) => p.write(&mut buf),
        mq::Packet::PubAck(p) => p.write(&mut buf),
        mq::Packet::PubRec(p) => p.write(&mut buf),
        mq::Packet::PubRel(p) => p.write(&mut buf),
        mq::Packet::PubComp(p) => p.write(&mut buf),
        mq::Packet::Subscribe(p) => p.write(&mut buf),
        mq::Packet::SubAck(p) => p.write(&mut buf),
        mq::Packet::Unsubscribe(p) => p.write(&mut buf),
        mq::Packet::UnsubAck(p) => p.write(&mut buf),
        mq::Packet::PingReq => mq::PingReq.write(&mut buf),
        mq::Packet::PingResp => mq::PingResp.write(&mut buf),
        mq::Packet::Disconnect => mq::Disconnect.write(&mut buf),
    };
    assert!(
        written.is_ok(),
        "mqttbytes refused to write {packet:?}: {written:?}"
    );
    buf.to_vec()
}

/// mqttbytes' reading of `bytes`, with a panic turned into an error string.
fn mq_read(bytes: &[u8], max: usize) -> Result<mq::Packet, String> {
    let mut buf = BytesMut::from(bytes);
    match catch_unwind(AssertUnwindSafe(|| mq::read(&mut buf, max))) {
        Ok(result) => result.map_err(|e| format!("{e:?}")),
        Err(_) => Err(String::from("panicked")),
    }
}

proptest! {
    #[test]
    fn our_encoding_decodes_identically_with_mqttbytes(
        (packet, expected) in arb_packet().prop_filter_map("mqttbytes can represent it", |p| {
            to_mq(&p).map(|m| (p, m))
        }),
    ) {
        let bytes = encode_vec(&packet);
        prop_assert_eq!(mq_read(&bytes, NO_LIMIT), Ok(expected));
    }

    #[test]
    fn mqttbytes_encoding_is_ours_and_decodes_identically(
        (packet, theirs) in arb_packet().prop_filter_map("mqttbytes can represent it", |p| {
            to_mq(&p).map(|m| (p, m))
        }),
    ) {
        let bytes = mq_write(&theirs);
        prop_assert_eq!(&bytes, &encode_vec(&packet));
        prop_assert_eq!(decode_ok(&bytes, level_for(&packet)), packet);
    }
}

#[test]
fn mqttbytes_refuses_mqtt_3_1() {
    let bytes = connect_frame(b"MQIsdp", 3, 0x02, &[b"c"]);
    assert!(matches!(decode_ok(&bytes, None), Packet::Connect(c) if c.level == ProtocolLevel::V31));
    assert_eq!(mq_read(&bytes, NO_LIMIT), Err(String::from("InvalidProtocol")));
}

#[test]
fn mqttbytes_reads_an_mqtt_5_connect_as_v4() {
    // A 3.1.1 body under level 5: no property length. We read the client id's length prefix
    // as the property length and refuse what follows; mqttbytes reads a 3.1.1 CONNECT.
    let bytes = connect_frame(b"MQTT", 5, 0x02, &[b"c"]);
    let err = decode_err(&bytes, None);
    assert!(matches!(err, CodecError::InvalidV5Connect(_)), "{err:?}");
    assert_eq!(err.connack_code(), Some(ConnectReturnCode::MalformedPacket));
    assert!(matches!(mq_read(&bytes, NO_LIMIT), Ok(mq::Packet::Connect(c)) if c.protocol == Protocol::V5));
}

#[test]
fn mqttbytes_password_is_a_string() {
    // MQTT passwords are binary data (3.1.1 section 3.1.3.5); mqttbytes refuses non-UTF-8.
    let bytes = connect_frame(b"MQTT", 4, 0xC2, &[b"c", b"u", b"\xFF"]);
    assert!(matches!(decode_ok(&bytes, None), Packet::Connect(c) if c.password.as_deref() == Some(b"\xFF")));
    assert_eq!(mq_read(&bytes, NO_LIMIT), Err(String::from("TopicNotUtf8")));
}

#[test]
fn mqttbytes_loses_empty_username_and_password() {
    // Username flag with an empty username: mqttbytes reads no login at all, so re-encoding
    // drops the flag.
    let bytes = connect_frame(b"MQTT", 4, 0x82, &[b"c", b""]);
    assert!(matches!(decode_ok(&bytes, None), Packet::Connect(c) if c.username.as_deref() == Some("")));
    let Ok(theirs @ mq::Packet::Connect(_)) = mq_read(&bytes, NO_LIMIT) else {
        panic!("mqttbytes refused")
    };
    assert!(matches!(&theirs, mq::Packet::Connect(c) if c.login.is_none()));
    assert_ne!(mq_write(&theirs), bytes);
    // An empty password is read as "" and then not written back.
    let bytes = connect_frame(b"MQTT", 4, 0xC2, &[b"c", b"u", b""]);
    let Ok(theirs) = mq_read(&bytes, NO_LIMIT) else {
        panic!("mqttbytes refused")
    };
    assert_ne!(mq_write(&theirs), bytes);
}

#[test]
fn mqttbytes_limits_the_remaining_length_not_the_frame() {
    // PUBLISH of 8 bytes, remaining length 6: a limit of 6 must refuse it.
    let bytes = [0x30, 0x06, 0x00, 0x01, b'a', b'x', b'y', b'z'];
    assert!(mq_read(&bytes, 6).is_ok());
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        decode(&mut buf, 6, None),
        Err(CodecError::PayloadTooLarge { size: 8, max: 6 })
    );
}

/// Corpus cases a broker built on mqttbytes 0.6 would not reject (with the same
/// connection-order rules as ours), by the rule mqttbytes does not check.
#[rustfmt::skip]
const MQTTBYTES_ACCEPTS: &[&str] = &[
    // Size limit applied to the remaining length, not the frame: it waits for the body.
    "oversize_publish_1mib_body",
    // Fixed-header reserved flag bits are never read [MQTT-2.2.2-2].
    "flags_connack_0001", "flags_puback_0010", "flags_puback_1000", "flags_pubrec_0001",
    "flags_pubrec_0010", "flags_pubrel_0000", "flags_pubrel_0011", "flags_pubrel_1010",
    "flags_pubcomp_0100", "flags_subscribe_0000", "flags_subscribe_0011", "flags_subscribe_1010",
    "flags_subscribe_0100", "flags_suback_0010", "flags_unsubscribe_0000",
    "flags_unsubscribe_1010", "flags_unsubscribe_0110", "flags_unsuback_0010",
    "flags_pingreq_0001", "flags_pingreq_1111", "flags_pingresp_0010", "flags_disconnect_0010",
    "flags_disconnect_1000",
    // DUP at QoS 0 is not checked [MQTT-3.3.1-2].
    "publish_dup_qos0", "publish_dup_qos0_retain",
    // Topic names are not checked: wildcards [MQTT-3.3.2-2], empty [MQTT-4.7.3-1].
    "publish_topic_plus_level", "publish_topic_hash_level", "publish_topic_only_hash",
    "publish_topic_only_plus", "publish_topic_plus_inside_level", "publish_topic_hash_qos1",
    "publish_topic_empty",
    // U+0000 is not checked in any string [MQTT-1.5.3-2].
    "publish_topic_null",
    // Packet id 0 is refused in PUBLISH only [MQTT-2.3.1-1].
    "puback_zero_pkid", "pubrec_zero_pkid", "pubrel_zero_pkid", "pubcomp_zero_pkid",
    "subscribe_zero_pkid", "suback_zero_pkid", "unsubscribe_zero_pkid", "unsuback_zero_pkid",
    // Bytes after a fixed-size body are ignored, and so is a body on PINGREQ/PINGRESP/DISCONNECT.
    "puback_trailing_byte", "pubrec_trailing_bytes", "pubrel_trailing_byte",
    "pubcomp_trailing_byte", "connack_trailing_byte", "pingreq_trailing_byte",
    "pingresp_trailing_byte", "disconnect_trailing_byte",
    // SUBSCRIBE: no filter [MQTT-3.8.3-3], reserved option bits [MQTT-3.8.3-4], filter rules
    // [MQTT-4.7.1-2, -3], [MQTT-4.7.3-1], U+0000.
    "subscribe_no_filters", "subscribe_requested_qos_reserved_0x04",
    "subscribe_requested_qos_reserved_0x80", "subscribe_requested_qos_reserved_0xfd",
    "subscribe_filter_hash_not_last", "subscribe_filter_hash_first_then_more",
    "subscribe_filter_hash_suffix", "subscribe_filter_a_plus_slash_b",
    "subscribe_filter_plus_suffix", "subscribe_filter_empty", "subscribe_filter_null",
    "subscribe_second_filter_invalid",
    // UNSUBSCRIBE: no filter [MQTT-3.10.3-2], filter rules, U+0000.
    "unsubscribe_no_filters", "unsubscribe_filter_hash_not_last",
    "unsubscribe_filter_a_plus_slash_b", "unsubscribe_filter_empty", "unsubscribe_filter_null",
    // CONNACK reserved acknowledge flags.
    "connack_reserved_ack_flags",
    // CONNECT: header flags, reserved flag [MQTT-3.1.2-3], password without username
    // [MQTT-3.1.2-22], U+0000, will topic rules, trailing bytes.
    "connect_header_flags_0010", "connect_reserved_flag",
    "connect_password_without_username", "connect_client_id_null", "connect_will_topic_wildcard",
    "connect_will_topic_hash", "connect_will_topic_empty", "connect_username_null",
    "connect_trailing_bytes",
];

/// What a broker on mqttbytes would do with `case`: `true` if it closes the connection.
fn mqttbytes_rejects(case: &MalformedCase) -> bool {
    let mut buf = BytesMut::from(&case.bytes[..]);
    let mut connected = case.after_connect;
    loop {
        let read = catch_unwind(AssertUnwindSafe(|| mq::read(&mut buf, CORPUS_MAX_PACKET_SIZE)));
        match read {
            Err(_) => panic!("mqttbytes panicked on {}", case.name),
            Ok(Err(mqttbytes::Error::InsufficientBytes(_))) => return false,
            Ok(Err(_)) => return true,
            Ok(Ok(mq::Packet::Connect(_))) if connected => return true,
            Ok(Ok(mq::Packet::Connect(_))) => connected = true,
            Ok(Ok(_)) if !connected => return true,
            Ok(Ok(_)) => {}
        }
        if buf.is_empty() {
            return false;
        }
    }
}

/// Runs the corpus through mqttbytes and pins which cases it lets through.
#[test]
fn mqttbytes_accepts_these_corpus_cases() {
    let accepted: Vec<_> = malformed_corpus()
        .iter()
        .filter(|case| !mqttbytes_rejects(case))
        .map(|case| case.name)
        .collect();
    assert_eq!(accepted, MQTTBYTES_ACCEPTS);
}
