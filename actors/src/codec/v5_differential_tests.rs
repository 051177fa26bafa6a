//! Differential tests of the MQTT 5 codec against rumqttc 0.25's
//! (`rumqttc::v5::mqttbytes::v5`), the MQTT 5 codec of the client library arbor's tests use.
//! (mqttbytes 0.6's `v5` module is its older copy: no AUTH, and the same faults.)
//!
//! For every valid MQTT 5 packet rumqttc can represent, both codecs must agree both ways: our
//! bytes decode with rumqttc to the same values, and rumqttc's bytes decode with our codec to
//! the same packet. Bytes are not compared: properties may come in any order, and rumqttc
//! writes them in its own.
//!
//! Where they differ, rumqttc is wrong; each divergence is pinned by a test below with the
//! spec's reason, so a rumqttc that fixes one shows up as a failing test here:
//! - its `Packet::read` has no AUTH (type 15); its AUTH reader refuses the bare success
//!   (remaining length 0, section 3.15.2.1), and its AUTH reader and writer count a string
//!   property without its two-byte length, so it cannot read a valid AUTH that names its
//!   method, and the AUTH it writes has a property length two bytes short per string;
//! - it refuses both short DISCONNECTs, remaining length 0 and 1 (section 3.14.2.1), and
//!   writes a DISCONNECT with a reason code but no properties one byte past its frame;
//! - a complete frame with a missing property length reads as incomplete, so a broker on it
//!   waits for bytes that never come instead of closing;
//! - its `Login` keeps user name and password as `String`s where empty means absent, so a
//!   binary password, an empty user name or a password alone is lost or refused;
//! - it limits the remaining length, not the whole frame, to the maximum packet size;
//! - it refuses another packet's properties, but checks none for repeats nor any value the
//!   spec forbids, nor the topic, filter and string rules: the corpus run
//!   ([`V5_RUMQTTC_ACCEPTS`]) lists the 84 of 195 corpus cases a broker on it would not
//!   reject, by the rule it does not check.
//!
//! Everything else agrees both ways, on 256 random packets of every type per run.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rumqttc::v5::mqttbytes::v5 as rq;

use super::test_support::*;
use super::test_support_rumqttc::to_rq;
use super::test_support_v5::*;
use super::v5_corpus::{v5_malformed_corpus, valid_connect_v5, V5Case};
use super::*;

const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

/// rumqttc's reading of `bytes`, AUTH included, with a panic turned into an error string.
fn rq_read(bytes: &[u8], max: Option<u32>) -> Result<rq::Packet, String> {
    let mut buf = BytesMut::from(bytes);
    let read = catch_unwind(AssertUnwindSafe(|| {
        if bytes.first().map(|b| b >> 4) == Some(15) {
            let header = rq::check(buf.iter(), max)?;
            let frame = buf.split_to(header.frame_length()).freeze();
            rq::Auth::read(header, frame).map(rq::Packet::Auth)
        } else {
            rq::Packet::read(&mut buf, max)
        }
    }));
    match read {
        Ok(result) => result.map_err(|e| format!("{e:?}")),
        Err(_) => Err(String::from("panicked")),
    }
}

fn rq_write(packet: &rq::Packet) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let written = packet.write(&mut buf, None);
    assert!(
        written.is_ok(),
        "rumqttc refused to write {packet:?}: {written:?}"
    );
    buf.to_vec()
}

/// What rumqttc agrees with us on: everything but a DISCONNECT without properties and a
/// Login it cannot hold (both pinned below), AUTH aside.
fn comparable(packet: &Packet) -> Option<(Packet, rq::Packet)> {
    match packet {
        Packet::Disconnect(d) if d.properties.is_none() => None,
        _ => to_rq(packet).map(|theirs| (packet.clone(), theirs)),
    }
}

fn level_of(packet: &Packet) -> Option<ProtocolLevel> {
    match packet {
        Packet::Connect(_) => None,
        _ => V5,
    }
}

proptest! {
    #[test]
    fn our_encoding_decodes_identically_with_rumqttc(
        (packet, expected) in arb_packet_v5().prop_filter_map("rumqttc can represent it", |p| comparable(&p)),
    ) {
        let bytes = encode_vec_at(&packet, ProtocolLevel::V5);
        prop_assert_eq!(rq_read(&bytes, None), Ok(expected));
    }

    #[test]
    fn rumqttc_encoding_decodes_identically_with_ours(
        (packet, theirs) in arb_packet_v5().prop_filter_map("rumqttc can represent it", |p| comparable(&p)),
    ) {
        let bytes = rq_write(&theirs);
        prop_assert_eq!(decode_ok(&bytes, level_of(&packet)), packet);
    }

}

#[test]
fn rumqttc_reads_no_auth_packet_type() {
    let mut buf = BytesMut::from(&[0xF0, 0x00][..]);
    assert!(matches!(
        rq::Packet::read(&mut buf, None),
        Err(rumqttc::v5::mqttbytes::Error::InvalidPacketType(15))
    ));
    assert_eq!(decode_ok(&[0xF0, 0x00], V5), Packet::Auth(Auth::default()));
}

/// rumqttc counts a string property of AUTH (method, reason string) without its two-byte
/// length prefix, reading and writing: it cannot read a valid AUTH that names its method
/// (section 3.15.2.2.2), and what it writes has a property length two bytes short.
#[test]
fn rumqttc_miscounts_auth_string_properties() {
    let auth = Auth {
        reason: ReasonCode::CONTINUE_AUTHENTICATION,
        properties: props(|p| p.authentication_method = Some("SCRAM".into())),
    };
    let ours = encode_vec_at(&Packet::Auth(auth.clone()), ProtocolLevel::V5);
    assert_eq!(
        ours,
        [0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M']
    );
    assert_eq!(rq_read(&ours, None), Err(String::from("MalformedPacket")));
    // What rumqttc reads as that AUTH has a property length of 6 for 8 bytes of properties;
    // we refuse it, and rumqttc writes it back with a remaining length too short as well.
    let theirs = [
        0xF0, 0x0A, 0x18, 0x06, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M',
    ];
    let Ok(read) = rq_read(&theirs, None) else {
        panic!("rumqttc reads its own form")
    };
    assert!(matches!(
        decode_err(&theirs, V5),
        CodecError::Truncated {
            field: "authentication method",
            ..
        }
    ));
    assert_eq!(&rq_write(&read)[..4], [0xF0, 0x08, 0x18, 0x06]);
}

#[test]
fn rumqttc_refuses_the_short_disconnects_mqtt_3_14_2_1() {
    assert_eq!(
        decode_ok(&[0xE0, 0x00], V5),
        Packet::Disconnect(Disconnect::NORMAL)
    );
    assert_eq!(rq_read(&[0xE0, 0x00], None), Err(String::from("PayloadRequired")));
    // A reason code alone: "If the Remaining Length is less than 2, a value of 0 is used"
    // for the property length (section 3.14.2.2.1).
    let will = Disconnect::with_reason(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
    assert_eq!(decode_ok(&[0xE0, 0x01, 0x04], V5), Packet::Disconnect(will));
    assert_eq!(
        rq_read(&[0xE0, 0x01, 0x04], None),
        Err(String::from("InsufficientBytes(1)"))
    );
}

#[test]
fn rumqttc_writes_a_reason_only_disconnect_one_byte_past_its_frame() {
    let theirs = rq::Packet::Disconnect(rq::Disconnect::new(
        rq::DisconnectReasonCode::DisconnectWithWillMessage,
    ));
    // Remaining length 1, then the reason code and a property length: the 0x00 is read as
    // the first byte of the next packet, a reserved packet type.
    let bytes = rq_write(&theirs);
    assert_eq!(bytes, [0xE0, 0x01, 0x04, 0x00]);
    let mut buf = BytesMut::from(&bytes[..]);
    assert!(matches!(
        decode(&mut buf, NO_LIMIT, V5),
        Ok(Some(Packet::Disconnect(_)))
    ));
    assert_eq!(
        decode(&mut buf, NO_LIMIT, V5),
        Err(CodecError::InvalidPacketType(0))
    );
}

#[test]
fn rumqttc_refuses_the_short_auth_mqtt_3_15_2_1() {
    assert_eq!(decode_ok(&[0xF0, 0x00], V5), Packet::Auth(Auth::default()));
    assert_eq!(rq_read(&[0xF0, 0x00], None), Err(String::from("MalformedPacket")));
}

#[test]
fn rumqttc_login_loses_binary_and_lone_passwords() {
    let connect = |username: Option<&str>, password: Option<&[u8]>| Connect {
        level: ProtocolLevel::V5,
        client_id: "c".into(),
        clean_session: true,
        keep_alive: 0,
        will: None,
        username: username.map(String::from),
        password: password.map(Bytes::copy_from_slice),
        properties: None,
    };
    // A binary password: rumqttc refuses the CONNECT.
    let bytes = encode_vec_at(
        &Packet::from(connect(Some("u"), Some(b"\xFF"))),
        ProtocolLevel::V5,
    );
    assert_eq!(rq_read(&bytes, None), Err(String::from("TopicNotUtf8")));
    // A password without a user name (allowed since MQTT 5, section 3.1.2.9) is read, but an
    // empty user name reads as none: the flags change on the way back.
    let ours = Packet::from(connect(Some(""), Some(b"pw")));
    let bytes = encode_vec_at(&ours, ProtocolLevel::V5);
    let theirs = rq_read(&bytes, None).expect("rumqttc reads it");
    assert_ne!(rq_write(&theirs), bytes);
}

#[test]
fn rumqttc_limits_the_remaining_length_not_the_frame() {
    let bytes = [0x30, 0x06, 0x00, 0x01, b'a', 0x00, b'x', b'y'];
    assert!(rq_read(&bytes, Some(6)).is_ok());
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        decode(&mut buf, 6, V5),
        Err(CodecError::PayloadTooLarge { size: 8, max: 6 })
    );
}

/// Corpus cases a broker on rumqttc would not reject (same connection-order rules as ours),
/// by the rule rumqttc does not check: 84 of the 195.
#[rustfmt::skip]
const V5_RUMQTTC_ACCEPTS: &[&str] = &[
    // A complete frame read as incomplete, so the broker would wait: a missing property length
    // (and the short DISCONNECT), AUTH 0x18 without properties; the size limit on the
    // remaining length rather than the frame.
    "v5_publish_missing_property_length", "v5_publish_qos1_missing_property_length",
    "v5_connack_missing_property_length", "v5_auth_continue_without_method",
    "v5_first_packet_disconnect", "v5_oversize_publish",
    // Fixed-header flags [MQTT-2.2.2-2], DUP at QoS 0 [MQTT-3.3.1-2], a PINGREQ body, and the
    // shortest variable byte integer [MQTT-1.5.5-1] are not checked.
    "v5_flags_puback_0010", "v5_flags_pubrel_0000", "v5_flags_unsubscribe_0000",
    "v5_flags_pingreq_0100", "v5_connect_header_flags_0001", "v5_publish_dup_qos0",
    "v5_pingreq_with_body", "v5_remaining_length_non_minimal_pingreq",
    "v5_remaining_length_non_minimal_publish", "v5_connect_remaining_length_non_minimal",
    "v5_publish_property_length_non_minimal", "v5_pubcomp_property_length_non_minimal",
    "v5_connect_property_length_non_minimal", "v5_publish_subscription_identifier_non_minimal",
    // No property is checked for repeats (a protocol error but for User Property and, in
    // PUBLISH, Subscription Identifier).
    "v5_publish_duplicate_topic_alias", "v5_publish_duplicate_message_expiry",
    "v5_publish_duplicate_payload_format", "v5_publish_duplicate_content_type",
    "v5_publish_duplicate_response_topic", "v5_publish_duplicate_correlation_data",
    "v5_puback_duplicate_reason_string", "v5_pubrec_user_properties_then_reason_string_twice",
    "v5_subscribe_subscription_identifier_twice", "v5_disconnect_duplicate_session_expiry",
    "v5_disconnect_duplicate_reason_string", "v5_disconnect_duplicate_server_reference",
    "v5_connect_duplicate_session_expiry", "v5_connect_duplicate_receive_maximum",
    "v5_connect_duplicate_topic_alias_maximum", "v5_connect_duplicate_authentication_method",
    "v5_connect_will_duplicate_delay",
    // Values the spec forbids: Topic Alias 0 [MQTT-3.3.2-8], flags other than 0 or 1,
    // Subscription Identifier 0, Receive Maximum and Maximum Packet Size 0, reserved
    // subscription option bits [MQTT-3.8.3-5], No Local on a shared subscription
    // [MQTT-3.8.3-4], reserved CONNECT and CONNACK flag bits, a session on a refusal
    // [MQTT-3.2.2-6], authentication data without a method.
    "v5_publish_topic_alias_0", "v5_valid_connect_then_malformed_publish",
    "v5_publish_payload_format_2", "v5_publish_payload_format_ff",
    "v5_publish_subscription_identifier_0", "v5_subscribe_subscription_identifier_0",
    "v5_connect_receive_maximum_0", "v5_connect_maximum_packet_size_0",
    "v5_connect_request_problem_information_2", "v5_connect_request_response_information_2",
    "v5_connect_will_payload_format_2", "v5_subscribe_options_reserved_bit_6",
    "v5_subscribe_options_reserved_bit_7", "v5_subscribe_no_local_shared",
    "v5_connect_reserved_flag", "v5_connack_reserved_flags",
    "v5_connack_session_present_on_refusal", "v5_connect_authentication_data_without_method",
    "v5_auth_data_without_method", "v5_auth_reauthenticate_without_method",
    // Topic, filter and string rules: an empty topic without an alias, wildcards in a topic
    // or response topic [MQTT-3.3.2-14], invalid filters, U+0000 and ill-formed UTF-8 in
    // topics, packet id 0 [MQTT-2.2.1-3], an UNSUBSCRIBE without filters.
    "v5_publish_empty_topic_no_alias", "v5_publish_empty_topic_other_properties",
    "v5_publish_empty_topic_qos1_no_alias", "v5_publish_topic_wildcard",
    "v5_publish_topic_bad_utf8", "v5_publish_topic_null", "v5_publish_response_topic_wildcard",
    "v5_publish_response_topic_empty", "v5_publish_content_type_null",
    "v5_publish_user_property_value_null", "v5_connect_user_property_null",
    "v5_connect_client_id_null", "v5_connect_will_response_topic_wildcard",
    "v5_connect_will_topic_wildcard", "v5_connect_will_topic_empty",
    "v5_subscribe_filter_hash_not_last", "v5_subscribe_filter_empty",
    "v5_unsubscribe_filter_plus_inside_level", "v5_puback_zero_pkid", "v5_subscribe_zero_pkid",
    "v5_unsubscribe_zero_pkid", "v5_unsubscribe_no_filters",
    "v5_subscribe_second_filter_bad_options",
    // A property read past its block into the payload; bytes after the last field ignored.
    "v5_publish_topic_alias_past_block", "v5_puback_trailing_after_properties",
    "v5_disconnect_trailing_after_properties", "v5_connect_trailing_bytes",
];

/// What a broker on rumqttc would do with `case`: `true` if it closes the connection.
fn rumqttc_rejects(case: &V5Case) -> bool {
    let mut buf = BytesMut::from(&case.bytes[..]);
    let mut connected = case.after_connect;
    loop {
        let frame = buf.clone();
        let read = rq_read(&frame, Some(super::corpus::CORPUS_MAX_PACKET_SIZE as u32));
        let consumed = match rq::check(frame.iter(), None) {
            Ok(header) => header.frame_length(),
            Err(_) => frame.len(),
        };
        match read {
            Err(e) if e.starts_with("InsufficientBytes") => return false,
            Err(_) => return true,
            Ok(rq::Packet::Connect(..)) if connected => return true,
            Ok(rq::Packet::Connect(..)) => connected = true,
            Ok(_) if !connected => return true,
            Ok(_) => {}
        }
        let _ = buf.split_to(consumed.min(buf.len()));
        if buf.is_empty() {
            return false;
        }
    }
}

/// Runs the MQTT 5 corpus through rumqttc and pins which cases it lets through.
#[test]
fn rumqttc_accepts_these_corpus_cases() {
    assert!(decode_ok(&valid_connect_v5(), None).packet_type() == PacketType::Connect);
    let accepted: BTreeSet<_> = v5_malformed_corpus()
        .iter()
        .filter(|case| !rumqttc_rejects(case))
        .map(|case| case.name)
        .collect();
    let pinned: BTreeSet<_> = V5_RUMQTTC_ACCEPTS.iter().copied().collect();
    assert_eq!(pinned.len(), V5_RUMQTTC_ACCEPTS.len(), "listed twice");
    assert_eq!(accepted, pinned);
}
