//! The MQTT 5 corpus: byte sequences an MQTT 5 server must reject, each with the reply the
//! spec asks for before the close, and valid but unusual sequences it must accept.
//!
//! Like [`corpus`](super::corpus), each case is sent either as the first bytes
//! (`after_connect: false`) or right after [`valid_connect_v5`] was accepted (`true`), and no
//! case waits for more input. The expected [`V5Reply`] follows sections 4.13 and 3.14: after
//! the CONNECT, a DISCONNECT with 0x81 (malformed), 0x82 (protocol error), 0x94 (topic alias
//! invalid) or 0x95 (packet too large); for an invalid MQTT 5 CONNECT, a CONNACK with that code
//! [MQTT-3.1.4-1]; before any CONNECT was accepted, no DISCONNECT [MQTT-3.14.0-1], only a close.
//! The cases assume a maximum packet size of at most [`CORPUS_MAX_PACKET_SIZE`].
//!
//! A normal public function, as the 3.1.1 corpus, so integration tests can send it to a broker
//! once the protocol layer serves MQTT 5.

use super::corpus::{cat, field, frame, frame_header, CORPUS_MAX_PACKET_SIZE};
use super::reason::ReasonCode;

/// What an MQTT 5 server sends before it closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum V5Reply {
    /// A CONNACK refusing the CONNECT with this reason code.
    ConnAck(ReasonCode),
    /// A DISCONNECT with this reason code.
    Disconnect(ReasonCode),
    /// Nothing: the connection is closed (no CONNECT was accepted yet).
    Close,
}

/// One MQTT 5 byte sequence a server must reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V5Case {
    /// Unique, descriptive, usable in a test name.
    pub name: &'static str,
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Send after [`valid_connect_v5`] was accepted (`true`), or as the first bytes.
    pub after_connect: bool,
    /// What the server sends before closing.
    pub reply: V5Reply,
}

/// One valid MQTT 5 byte sequence the codec must accept whole (the broker may still refuse
/// a CONNECT for its own reasons, such as authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V5Edge {
    /// Unique, descriptive.
    pub name: &'static str,
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Send after [`valid_connect_v5`] was accepted (`true`), or as the first bytes.
    pub after_connect: bool,
}

/// A valid MQTT 5 CONNECT: client id `corpus5`, clean start, keepalive 60 s, no properties.
pub fn valid_connect_v5() -> Vec<u8> {
    connect5(0x02, &[], &field(b"corpus5"))
}

/// A property block: the shortest variable byte integer length, then `content`.
fn props(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    super::corpus::put_remaining_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A level-5 CONNECT: `flags`, keepalive 60, the CONNECT property block with `properties`,
/// then `payload` as given (client id, will properties, will topic... already encoded).
fn connect5(flags: u8, properties: &[u8], payload: &[u8]) -> Vec<u8> {
    frame(
        0x10,
        &cat(&[
            &field(b"MQTT"),
            &[5, flags, 0x00, 0x3C],
            &props(properties),
            payload,
        ]),
    )
}

/// A CONNECT with one will (flags 0x06 plus `extra`): client id `w`, the will property block
/// with `will_properties`, will topic `topic`, payload `m`.
fn connect5_will(extra: u8, will_properties: &[u8], topic: &[u8]) -> Vec<u8> {
    let payload = cat(&[&field(b"w"), &props(will_properties), &field(topic), &field(b"m")]);
    connect5(0x06 | extra, &[], &payload)
}

/// A PUBLISH: topic, packet id if any, the property block with `properties`, payload `x`.
fn publish5(first: u8, topic: &[u8], pkid: Option<u16>, properties: &[u8]) -> Vec<u8> {
    let id = pkid.map(u16::to_be_bytes);
    frame(
        first,
        &cat(&[
            &field(topic),
            id.as_ref().map_or(&[][..], |i| &i[..]),
            &props(properties),
            b"x",
        ]),
    )
}

/// A QoS 0 PUBLISH to `t` carrying `properties`.
fn pub5(properties: &[u8]) -> Vec<u8> {
    publish5(0x30, b"t", None, properties)
}

/// An acknowledgement: packet id, reason code, the property block with `properties`.
fn ack5(first: u8, pkid: u16, reason: u8, properties: &[u8]) -> Vec<u8> {
    frame(first, &cat(&[&pkid.to_be_bytes(), &[reason], &props(properties)]))
}

/// A SUBSCRIBE with packet id 1, `properties`, then each filter with its options byte.
fn sub5(properties: &[u8], filters: &[(&[u8], u8)]) -> Vec<u8> {
    let mut body = cat(&[&[0x00, 0x01], &props(properties)]);
    for (filter, options) in filters {
        body.extend(field(filter));
        body.push(*options);
    }
    frame(0x82, &body)
}

/// An UNSUBSCRIBE with packet id `pkid`, `properties`, then each filter.
fn unsub5(pkid: u16, properties: &[u8], filters: &[&[u8]]) -> Vec<u8> {
    let mut body = cat(&[&pkid.to_be_bytes(), &props(properties)]);
    for filter in filters {
        body.extend(field(filter));
    }
    frame(0xA2, &body)
}

/// A DISCONNECT or AUTH (`first`) with a reason code and the property block `properties`.
fn reason5(first: u8, reason: u8, properties: &[u8]) -> Vec<u8> {
    frame(first, &cat(&[&[reason], &props(properties)]))
}

/// `frame` with another first byte.
fn with_first(first: u8, mut frame: Vec<u8>) -> Vec<u8> {
    if let Some(byte) = frame.first_mut() {
        *byte = first;
    }
    frame
}

/// A frame of fewer than 128 body bytes with its remaining length in two bytes, the second 0.
fn long_remaining_length(mut frame: Vec<u8>) -> Vec<u8> {
    if let Some(&len) = frame.get(1) {
        frame.splice(1..2, [len | 0x80, 0x00]);
    }
    frame
}

const MALFORMED: ReasonCode = ReasonCode::MALFORMED_PACKET;
const PROTOCOL: ReasonCode = ReasonCode::PROTOCOL_ERROR;

/// Every reject case; see the module docs. Names are unique.
// A table, one case a line: rustfmt would spread each over many.
#[rustfmt::skip]
pub fn v5_malformed_corpus() -> Vec<V5Case> {
    use V5Reply::{Close, ConnAck, Disconnect};
    let mut cases = Vec::new();
    let mut after = |name: &'static str, bytes: Vec<u8>, reason: ReasonCode| {
        cases.push(V5Case { name, bytes, after_connect: true, reply: Disconnect(reason) });
    };
    let m = MALFORMED;
    let p = PROTOCOL;

    // ---- Fixed header [MQTT-2.2.2-2], [MQTT-1.5.5-1], maximum packet size ----
    after("v5_packet_type_0", vec![0x00, 0x00], m);
    after("v5_auth_flags_0001", vec![0xF1, 0x00], m);
    after("v5_auth_flags_1000", vec![0xF8, 0x00], m);
    after("v5_flags_puback_0010", vec![0x42, 0x02, 0x00, 0x01], m);
    after("v5_flags_pubrel_0000", vec![0x60, 0x02, 0x00, 0x01], m);
    after("v5_flags_subscribe_0000", vec![0x80, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00], m);
    after("v5_flags_unsubscribe_0000", with_first(0xA0, unsub5(1, &[], &[b"a"])), m);
    after("v5_flags_disconnect_0001", vec![0xE1, 0x00], m);
    after("v5_flags_pingreq_0100", vec![0xC4, 0x00], m);
    after("v5_publish_qos3", vec![0x36, 0x06, 0x00, 0x01, b't', 0x00, 0x01, 0x00], m);
    after("v5_publish_dup_qos0", vec![0x38, 0x05, 0x00, 0x01, b't', 0x00, b'x'], m);
    after("v5_pingreq_with_body", vec![0xC0, 0x01, 0x00], m);
    after("v5_remaining_length_non_minimal_pingreq", vec![0xC0, 0x80, 0x00], m);
    after("v5_remaining_length_non_minimal_publish", vec![0x30, 0x85, 0x00, 0x00, 0x01, b't', 0x00, b'x'], m);
    after("v5_remaining_length_non_minimal_3_bytes", vec![0x30, 0x80, 0x80, 0x00], m);
    after("v5_remaining_length_5_bytes", vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], m);
    after("v5_oversize_publish", frame_header(0x30, CORPUS_MAX_PACKET_SIZE), ReasonCode::PACKET_TOO_LARGE);
    after("v5_oversize_auth", vec![0xF0, 0xFF, 0xFF, 0xFF, 0x7F], ReasonCode::PACKET_TOO_LARGE);
    after("v5_oversize_disconnect", frame_header(0xE0, 2 << 20), ReasonCode::PACKET_TOO_LARGE);

    // ---- PUBLISH: property block, section 3.3.2.3 ----
    after("v5_publish_missing_property_length", vec![0x30, 0x03, 0x00, 0x01, b't'], m);
    after("v5_publish_qos1_missing_property_length", vec![0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x01], m);
    after("v5_publish_property_length_past_frame", vec![0x30, 0x05, 0x00, 0x01, b't', 0x05, 0x01], m);
    after("v5_publish_property_length_non_minimal", vec![0x30, 0x06, 0x00, 0x01, b't', 0x80, 0x00, b'x'], m);
    after("v5_publish_property_length_5_bytes", vec![0x30, 0x08, 0x00, 0x01, b't', 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], m);
    after("v5_publish_topic_alias_0", pub5(&[0x23, 0x00, 0x00]), ReasonCode::TOPIC_ALIAS_INVALID);
    after("v5_publish_empty_topic_no_alias", publish5(0x30, b"", None, &[]), p);
    after("v5_publish_empty_topic_other_properties", publish5(0x30, b"", None, &[0x01, 0x01]), p);
    after("v5_publish_empty_topic_qos1_no_alias", publish5(0x32, b"", Some(1), &[]), p);
    after("v5_publish_duplicate_topic_alias", pub5(&[0x23, 0x00, 0x01, 0x23, 0x00, 0x02]), p);
    after("v5_publish_duplicate_message_expiry", pub5(&[0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1]), p);
    after("v5_publish_duplicate_payload_format", pub5(&[0x01, 0x00, 0x01, 0x01]), p);
    after("v5_publish_duplicate_content_type", pub5(&[0x03, 0, 1, b'a', 0x03, 0, 1, b'b']), p);
    after("v5_publish_duplicate_response_topic", pub5(&[0x08, 0, 1, b'r', 0x08, 0, 1, b'r']), p);
    after("v5_publish_duplicate_correlation_data", pub5(&[0x09, 0, 0, 0x09, 0, 0]), p);
    after("v5_publish_payload_format_2", pub5(&[0x01, 0x02]), p);
    after("v5_publish_payload_format_ff", pub5(&[0x01, 0xFF]), p);
    after("v5_publish_subscription_identifier_0", pub5(&[0x0B, 0x00]), p);
    after("v5_publish_subscription_identifier_5_bytes", pub5(&[0x0B, 0x80, 0x80, 0x80, 0x80, 0x01]), m);
    after("v5_publish_subscription_identifier_non_minimal", pub5(&[0x0B, 0x81, 0x00]), m);
    after("v5_publish_response_topic_wildcard", pub5(&[0x08, 0, 3, b'r', b'/', b'+']), m);
    after("v5_publish_response_topic_empty", pub5(&[0x08, 0, 0]), m);
    after("v5_publish_response_topic_bad_utf8", pub5(&[0x08, 0, 1, 0xFF]), m);
    after("v5_publish_content_type_bad_utf8", pub5(&[0x03, 0, 2, 0xC3, 0x28]), m);
    after("v5_publish_content_type_null", pub5(&[0x03, 0, 1, 0x00]), m);
    after("v5_publish_user_property_missing_value", pub5(&[0x26, 0, 1, b'k']), m);
    after("v5_publish_user_property_name_bad_utf8", pub5(&[0x26, 0, 1, 0x80, 0, 0]), m);
    after("v5_publish_user_property_value_null", pub5(&[0x26, 0, 0, 0, 1, 0x00]), m);
    after("v5_publish_unknown_property_0x00", pub5(&[0x00, 0x00]), m);
    after("v5_publish_unknown_property_0x04", pub5(&[0x04, 0x00]), m);
    after("v5_publish_unknown_property_0x2b", pub5(&[0x2B, 0x00]), m);
    after("v5_publish_unknown_property_0x7f", pub5(&[0x7F, 0x00]), m);
    after("v5_publish_property_id_128", pub5(&[0x80, 0x01, 0x00]), m);
    after("v5_publish_property_id_non_minimal", pub5(&[0x81, 0x00, 0x00]), m);
    after("v5_publish_will_delay_interval", pub5(&[0x18, 0, 0, 0, 1]), m);
    after("v5_publish_session_expiry_interval", pub5(&[0x11, 0, 0, 0, 1]), m);
    after("v5_publish_reason_string", pub5(&[0x1F, 0, 1, b'r']), m);
    after("v5_publish_receive_maximum", pub5(&[0x21, 0, 1]), m);
    after("v5_publish_authentication_method", pub5(&[0x15, 0, 1, b'a']), m);
    after("v5_publish_maximum_qos", pub5(&[0x24, 0x01]), m);
    after("v5_publish_server_keep_alive", pub5(&[0x13, 0, 1]), m);
    after("v5_publish_assigned_client_identifier", pub5(&[0x12, 0, 1, b'c']), m);
    after("v5_publish_request_problem_information", pub5(&[0x17, 0x01]), m);
    after("v5_publish_maximum_packet_size", pub5(&[0x27, 0, 0, 1, 0]), m);
    after("v5_publish_message_expiry_past_block", pub5(&[0x02, 0, 0]), m);
    after("v5_publish_topic_alias_past_block", pub5(&[0x23, 0]), m);
    after("v5_publish_correlation_data_past_block", pub5(&[0x09, 0, 9, 1]), m);
    after("v5_publish_topic_wildcard", publish5(0x30, b"a/#", None, &[]), m);
    after("v5_publish_topic_bad_utf8", publish5(0x30, b"\xED\xA0\x80", None, &[]), m);
    after("v5_publish_topic_null", publish5(0x30, b"a\0", None, &[]), m);
    after("v5_publish_qos1_zero_pkid", publish5(0x32, b"t", Some(0), &[]), m);

    // ---- PUBACK, PUBREC, PUBREL, PUBCOMP: sections 3.4 to 3.7 ----
    after("v5_puback_reason_0x01", vec![0x40, 0x03, 0x00, 0x01, 0x01], m);
    after("v5_puback_reason_0x92", vec![0x40, 0x03, 0x00, 0x01, 0x92], m);
    after("v5_puback_reason_0x81", vec![0x40, 0x03, 0x00, 0x01, 0x81], m);
    after("v5_pubrec_reason_0x11", vec![0x50, 0x03, 0x00, 0x01, 0x11], m);
    after("v5_pubrel_reason_0x10", vec![0x62, 0x03, 0x00, 0x01, 0x10], m);
    after("v5_pubrel_reason_0x80", vec![0x62, 0x03, 0x00, 0x01, 0x80], m);
    after("v5_pubcomp_reason_0x87", vec![0x70, 0x03, 0x00, 0x01, 0x87], m);
    after("v5_puback_zero_pkid", vec![0x40, 0x02, 0x00, 0x00], m);
    after("v5_puback_one_byte", vec![0x40, 0x01, 0x00], m);
    after("v5_puback_empty", vec![0x40, 0x00], m);
    after("v5_puback_property_length_past_frame", vec![0x40, 0x04, 0x00, 0x01, 0x00, 0x09], m);
    after("v5_puback_duplicate_reason_string", ack5(0x40, 1, 0x00, &[0x1F, 0, 0, 0x1F, 0, 0]), p);
    after("v5_puback_topic_alias", ack5(0x40, 1, 0x00, &[0x23, 0, 1]), m);
    after("v5_puback_trailing_after_properties", vec![0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0xAA], m);
    after("v5_pubrel_user_property_truncated", ack5(0x62, 1, 0x00, &[0x26, 0, 1, b'k', 0]), m);
    after("v5_pubcomp_property_length_non_minimal", vec![0x70, 0x05, 0x00, 0x01, 0x00, 0x80, 0x00], m);
    after("v5_pubrec_unknown_property", ack5(0x50, 1, 0x00, &[0x05, 0x00]), m);
    after("v5_pubrec_user_properties_then_reason_string_twice", ack5(0x50, 1, 0x10, &[0x26, 0, 0, 0, 0, 0x26, 0, 0, 0, 0, 0x1F, 0, 0, 0x1F, 0, 0]), p);

    // ---- SUBSCRIBE: section 3.8 ----
    after("v5_subscribe_missing_property_length", vec![0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00], m);
    after("v5_subscribe_options_reserved_bit_6", sub5(&[], &[(b"a", 0x40)]), m);
    after("v5_subscribe_options_reserved_bit_7", sub5(&[], &[(b"a", 0x80)]), m);
    after("v5_subscribe_options_qos3", sub5(&[], &[(b"a", 0x03)]), m);
    after("v5_subscribe_retain_handling_3", sub5(&[], &[(b"a", 0x30)]), p);
    after("v5_subscribe_no_local_shared", sub5(&[], &[(b"$share/g/a", 0x04)]), p);
    after("v5_subscribe_subscription_identifier_0", sub5(&[0x0B, 0x00], &[(b"a", 0x00)]), p);
    after("v5_subscribe_subscription_identifier_twice", sub5(&[0x0B, 0x01, 0x0B, 0x02], &[(b"a", 0x00)]), p);
    after("v5_subscribe_subscription_identifier_5_bytes", sub5(&[0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], &[(b"a", 0x00)]), m);
    after("v5_subscribe_reason_string", sub5(&[0x1F, 0, 0], &[(b"a", 0x00)]), m);
    after("v5_subscribe_topic_alias", sub5(&[0x23, 0, 1], &[(b"a", 0x00)]), m);
    after("v5_subscribe_no_filters", sub5(&[], &[]), m);
    after("v5_subscribe_missing_options", frame(0x82, &cat(&[&[0x00, 0x01, 0x00], &field(b"a")])), m);
    after("v5_subscribe_filter_hash_not_last", sub5(&[], &[(b"a/#/b", 0x00)]), m);
    after("v5_subscribe_filter_empty", sub5(&[], &[(b"", 0x00)]), m);
    after("v5_subscribe_filter_bad_utf8", sub5(&[], &[(b"\xFF", 0x00)]), m);
    after("v5_subscribe_zero_pkid", frame(0x82, &cat(&[&[0x00, 0x00, 0x00], &field(b"a"), &[0x00]])), m);
    after("v5_subscribe_second_filter_bad_options", sub5(&[], &[(b"a", 0x01), (b"b", 0xC1)]), m);
    after("v5_subscribe_property_length_past_frame", vec![0x82, 0x03, 0x00, 0x01, 0x7F], m);

    // ---- UNSUBSCRIBE: section 3.10 ----
    after("v5_unsubscribe_no_filters", unsub5(1, &[], &[]), m);
    after("v5_unsubscribe_reason_string", unsub5(1, &[0x1F, 0, 0], &[b"a"]), m);
    after("v5_unsubscribe_subscription_identifier", unsub5(1, &[0x0B, 0x01], &[b"a"]), m);
    after("v5_unsubscribe_filter_plus_inside_level", unsub5(1, &[], &[b"a+"]), m);
    after("v5_unsubscribe_missing_property_length", vec![0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], m);
    after("v5_unsubscribe_zero_pkid", unsub5(0, &[], &[b"a"]), m);
    after("v5_unsubscribe_user_property_truncated", unsub5(1, &[0x26, 0, 5], &[b"a"]), m);

    // ---- DISCONNECT: section 3.14 ----
    after("v5_disconnect_reason_0x01", vec![0xE0, 0x01, 0x01], m);
    after("v5_disconnect_reason_0x84", vec![0xE0, 0x01, 0x84], m);
    after("v5_disconnect_reason_0x18", vec![0xE0, 0x01, 0x18], m);
    after("v5_disconnect_receive_maximum", reason5(0xE0, 0x00, &[0x21, 0, 1]), m);
    after("v5_disconnect_topic_alias", reason5(0xE0, 0x00, &[0x23, 0, 1]), m);
    after("v5_disconnect_duplicate_session_expiry", reason5(0xE0, 0x00, &[0x11, 0, 0, 0, 0, 0x11, 0, 0, 0, 0]), p);
    after("v5_disconnect_duplicate_reason_string", reason5(0xE0, 0x04, &[0x1F, 0, 0, 0x1F, 0, 0]), p);
    after("v5_disconnect_duplicate_server_reference", reason5(0xE0, 0x00, &[0x1C, 0, 0, 0x1C, 0, 0]), p);
    after("v5_disconnect_property_length_past_frame", vec![0xE0, 0x02, 0x00, 0x05], m);
    after("v5_disconnect_trailing_after_properties", vec![0xE0, 0x03, 0x00, 0x00, 0x00], m);

    // ---- AUTH: section 3.15 ----
    after("v5_auth_reason_0x01", vec![0xF0, 0x01, 0x01], m);
    after("v5_auth_reason_0x87", vec![0xF0, 0x02, 0x87, 0x00], m);
    after("v5_auth_continue_without_method", vec![0xF0, 0x01, 0x18], p);
    after("v5_auth_reauthenticate_without_method", vec![0xF0, 0x02, 0x19, 0x00], p);
    after("v5_auth_data_without_method", reason5(0xF0, 0x18, &[0x16, 0, 1, 0xAA]), p);
    after("v5_auth_duplicate_method", reason5(0xF0, 0x18, &[0x15, 0, 1, b'm', 0x15, 0, 1, b'm']), p);
    after("v5_auth_duplicate_data", reason5(0xF0, 0x18, &[0x15, 0, 1, b'm', 0x16, 0, 0, 0x16, 0, 0]), p);
    after("v5_auth_maximum_qos", reason5(0xF0, 0x18, &[0x15, 0, 1, b'm', 0x24, 0x00]), m);
    after("v5_auth_trailing_after_properties", vec![0xF0, 0x07, 0x18, 0x04, 0x15, 0, 1, b'm', 0xAA], m);
    after("v5_auth_property_length_past_frame", vec![0xF0, 0x02, 0x18, 0x09], m);

    // ---- Server-to-client packets, malformed ----
    after("v5_connack_reserved_flags", vec![0x20, 0x03, 0x02, 0x00, 0x00], m);
    after("v5_connack_reason_0x8b", vec![0x20, 0x03, 0x00, 0x8B, 0x00], m);
    after("v5_connack_session_present_on_refusal", vec![0x20, 0x03, 0x01, 0x80, 0x00], p);
    after("v5_connack_missing_property_length", vec![0x20, 0x02, 0x00, 0x00], m);
    after("v5_suback_reason_0x03", vec![0x90, 0x04, 0x00, 0x01, 0x00, 0x03], m);
    after("v5_suback_no_codes", vec![0x90, 0x03, 0x00, 0x01, 0x00], m);
    after("v5_unsuback_reason_0x01", vec![0xB0, 0x04, 0x00, 0x01, 0x00, 0x01], m);
    after("v5_unsuback_no_codes", vec![0xB0, 0x03, 0x00, 0x01, 0x00], m);

    // ---- A second CONNECT [MQTT-3.1.0-2] ----
    after("v5_second_connect", valid_connect_v5(), p);
    after("v5_second_connect_3_1_1", super::corpus::valid_connect(), p);

    let mut first = |name: &'static str, bytes: Vec<u8>, reply: V5Reply| {
        cases.push(V5Case { name, bytes, after_connect: false, reply });
    };
    let cm = ConnAck(MALFORMED);
    let cp = ConnAck(PROTOCOL);

    // ---- CONNECT at level 5: flags [MQTT-3.1.2-3], [MQTT-3.1.2-11] to [MQTT-3.1.2-14] ----
    first("v5_connect_reserved_flag", connect5(0x03, &[], &field(b"c")), cm);
    first("v5_connect_will_qos_without_will", connect5(0x0A, &[], &field(b"c")), cm);
    first("v5_connect_will_retain_without_will", connect5(0x22, &[], &field(b"c")), cm);
    first("v5_connect_will_qos_3", connect5_will(0x18, &[], b"w/t"), cm);
    first("v5_connect_missing_property_length", frame(0x10, &cat(&[&field(b"MQTT"), &[5, 0x02, 0, 60], &field(b"abc")])), cm);
    first("v5_connect_property_length_past_frame", frame(0x10, &cat(&[&field(b"MQTT"), &[5, 0x02, 0, 60, 0x40], &field(b"c")])), cm);
    first("v5_connect_property_length_non_minimal", frame(0x10, &cat(&[&field(b"MQTT"), &[5, 0x02, 0, 60, 0x80, 0x00], &field(b"c")])), cm);
    first("v5_connect_empty_after_level", frame(0x10, &cat(&[&field(b"MQTT"), &[5]])), cm);
    first("v5_connect_remaining_length_non_minimal", long_remaining_length(valid_connect_v5()), cm);

    // ---- CONNECT properties, section 3.1.2.11 ----
    first("v5_connect_receive_maximum_0", connect5(0x02, &[0x21, 0, 0], &field(b"c")), cp);
    first("v5_connect_maximum_packet_size_0", connect5(0x02, &[0x27, 0, 0, 0, 0], &field(b"c")), cp);
    first("v5_connect_request_problem_information_2", connect5(0x02, &[0x17, 0x02], &field(b"c")), cp);
    first("v5_connect_request_response_information_2", connect5(0x02, &[0x19, 0x02], &field(b"c")), cp);
    first("v5_connect_duplicate_session_expiry", connect5(0x02, &[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1], &field(b"c")), cp);
    first("v5_connect_duplicate_receive_maximum", connect5(0x02, &[0x21, 0, 1, 0x21, 0, 2], &field(b"c")), cp);
    first("v5_connect_duplicate_topic_alias_maximum", connect5(0x02, &[0x22, 0, 1, 0x22, 0, 1], &field(b"c")), cp);
    first("v5_connect_duplicate_authentication_method", connect5(0x02, &[0x15, 0, 1, b'm', 0x15, 0, 1, b'm'], &field(b"c")), cp);
    first("v5_connect_authentication_data_without_method", connect5(0x02, &[0x16, 0, 1, 0xAA], &field(b"c")), cp);
    first("v5_connect_topic_alias", connect5(0x02, &[0x23, 0, 1], &field(b"c")), cm);
    first("v5_connect_will_delay_interval", connect5(0x02, &[0x18, 0, 0, 0, 1], &field(b"c")), cm);
    first("v5_connect_maximum_qos", connect5(0x02, &[0x24, 0x01], &field(b"c")), cm);
    first("v5_connect_reason_string", connect5(0x02, &[0x1F, 0, 0], &field(b"c")), cm);
    first("v5_connect_assigned_client_identifier", connect5(0x02, &[0x12, 0, 1, b'x'], &field(b"c")), cm);
    first("v5_connect_unknown_property", connect5(0x02, &[0x30, 0x00], &field(b"c")), cm);
    first("v5_connect_property_id_non_minimal", connect5(0x02, &[0x91, 0x00, 0, 0, 0, 1], &field(b"c")), cm);
    first("v5_connect_user_property_truncated", connect5(0x02, &[0x26, 0, 2, b'k'], &field(b"c")), cm);
    first("v5_connect_user_property_null", connect5(0x02, &[0x26, 0, 1, 0, 0, 0], &field(b"c")), cm);
    first("v5_connect_session_expiry_past_block", connect5(0x02, &[0x11, 0, 0], &field(b"c")), cm);

    // ---- Will properties, section 3.1.3.2 ----
    first("v5_connect_will_session_expiry", connect5_will(0, &[0x11, 0, 0, 0, 1], b"w/t"), cm);
    first("v5_connect_will_topic_alias", connect5_will(0, &[0x23, 0, 1], b"w/t"), cm);
    first("v5_connect_will_subscription_identifier", connect5_will(0, &[0x0B, 0x01], b"w/t"), cm);
    first("v5_connect_will_duplicate_delay", connect5_will(0, &[0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 1], b"w/t"), cp);
    first("v5_connect_will_payload_format_2", connect5_will(0, &[0x01, 0x02], b"w/t"), cp);
    first("v5_connect_will_response_topic_wildcard", connect5_will(0, &[0x08, 0, 1, b'#'], b"w/t"), cm);
    first("v5_connect_will_missing_property_length", connect5(0x06, &[], &cat(&[&field(b"w"), &field(b"w/t"), &field(b"m")])), cm);
    first("v5_connect_will_topic_wildcard", connect5_will(0, &[], b"w/+"), cm);
    first("v5_connect_will_topic_empty", connect5_will(0, &[], b""), cm);
    first("v5_connect_will_without_payload", connect5(0x06, &[], &cat(&[&field(b"w"), &[0x00], &field(b"w/t")])), cm);

    // ---- Payload strings [MQTT-1.5.4-1], [MQTT-1.5.4-2] ----
    first("v5_connect_client_id_bad_utf8", connect5(0x02, &[], &field(b"\xC0\xAF")), cm);
    first("v5_connect_client_id_null", connect5(0x02, &[], &field(b"c\0")), cm);
    first("v5_connect_username_bad_utf8", connect5(0x82, &[], &cat(&[&field(b"c"), &field(b"\xFE")])), cm);
    first("v5_connect_password_flag_without_password", connect5(0x42, &[], &field(b"c")), cm);
    first("v5_connect_username_flag_without_username", connect5(0x82, &[], &field(b"c")), cm);
    first("v5_connect_trailing_bytes", connect5(0x02, &[], &cat(&[&field(b"c"), &[0x00]])), cm);

    // ---- Before any CONNECT: no DISCONNECT may be sent [MQTT-3.14.0-1] ----
    first("v5_first_packet_auth", vec![0xF0, 0x00], Close);
    first("v5_first_packet_publish", pub5(&[]), Close);
    first("v5_first_packet_disconnect", vec![0xE0, 0x01, 0x00], Close);
    first("v5_connect_header_flags_0001", with_first(0x11, valid_connect_v5()), Close);
    first("v5_connect_oversize", vec![0x10, 0xFF, 0xFF, 0xFF, 0x7F], Close);
    first("v5_valid_connect_then_malformed_publish", cat(&[&valid_connect_v5(), &pub5(&[0x23, 0, 0])]), Disconnect(ReasonCode::TOPIC_ALIAS_INVALID));
    first("v5_valid_connect_then_second_connect", cat(&[&valid_connect_v5(), &valid_connect_v5()]), Disconnect(PROTOCOL));

    cases
}

/// Valid sequences the codec must accept whole; see the module docs.
#[rustfmt::skip]
pub fn v5_edge_cases() -> Vec<V5Edge> {
    let mut cases = Vec::new();
    let mut after = |name: &'static str, bytes: Vec<u8>| cases.push(V5Edge { name, bytes, after_connect: true });
    after("v5_publish_empty_topic_with_alias", publish5(0x32, b"", Some(1), &[0x23, 0x00, 0x05]));
    after("v5_publish_topic_and_alias", pub5(&[0x23, 0xFF, 0xFF]));
    after("v5_publish_every_publish_property", pub5(&[0x01, 0x01, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x03, 0, 0, 0x08, 0, 1, b'r', 0x09, 0, 0, 0x23, 0, 1, 0x26, 0, 0, 0, 0]));
    after("v5_publish_user_property_repeated", pub5(&[0x26, 0, 1, b'k', 0, 1, b'v', 0x26, 0, 1, b'k', 0, 1, b'v']));
    after("v5_publish_byte_order_mark_in_content_type", pub5(&[0x03, 0, 3, 0xEF, 0xBB, 0xBF]));
    after("v5_publish_property_length_two_bytes", pub5(&cat(&[&[0x26, 0, 100], &[b'n'; 100], &[0, 30], &[b'v'; 30]])));
    after("v5_publish_no_payload", frame(0x30, &cat(&[&field(b"t"), &[0x00]])));
    after("v5_puback_short_form", vec![0x40, 0x02, 0x00, 0x01]);
    after("v5_puback_reason_only", vec![0x40, 0x03, 0x00, 0x01, 0x10]);
    after("v5_puback_empty_property_block", vec![0x40, 0x04, 0x00, 0x01, 0x00, 0x00]);
    after("v5_pubrec_quota_exceeded_with_reason_string", ack5(0x50, 1, 0x97, &[0x1F, 0, 2, b'n', b'o']));
    after("v5_pubrel_packet_identifier_not_found", vec![0x62, 0x03, 0x00, 0x01, 0x92]);
    after("v5_pubcomp_with_user_properties", ack5(0x70, 1, 0x00, &[0x26, 0, 1, b'a', 0, 0, 0x26, 0, 1, b'a', 0, 0]));
    after("v5_subscribe_every_option", sub5(&[], &[(b"a/+", 0x2E), (b"#", 0x1D)]));
    after("v5_subscribe_subscription_identifier_max", sub5(&[0x0B, 0xFF, 0xFF, 0xFF, 0x7F], &[(b"a", 0x01)]));
    after("v5_subscribe_shared_without_no_local", sub5(&[], &[(b"$share/g/a/#", 0x09)]));
    after("v5_subscribe_with_user_properties", sub5(&[0x26, 0, 1, b'k', 0, 1, b'v'], &[(b"a", 0x00)]));
    after("v5_unsubscribe_with_user_property", unsub5(7, &[0x26, 0, 0, 0, 0], &[b"a", b"b/#"]));
    after("v5_pingreq", vec![0xC0, 0x00]);
    after("v5_disconnect_empty", vec![0xE0, 0x00]);
    after("v5_disconnect_with_will", vec![0xE0, 0x01, 0x04]);
    after("v5_disconnect_with_session_expiry", reason5(0xE0, 0x00, &[0x11, 0, 0, 0x0E, 0x10]));
    after("v5_publish_then_pingreq", cat(&[&pub5(&[]), &[0xC0, 0x00]]));
    let mut first = |name: &'static str, bytes: Vec<u8>| cases.push(V5Edge { name, bytes, after_connect: false });
    first("v5_connect_minimal", valid_connect_v5());
    first("v5_connect_empty_client_id", connect5(0x02, &[], &field(b"")));
    first("v5_connect_password_without_username", connect5(0x42, &[], &cat(&[&field(b"c"), &field(b"\xFFpw")])));
    first("v5_connect_every_connect_property", connect5(0x00, &[0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0x21, 0, 1, 0x27, 0, 0, 0, 1, 0x22, 0, 0, 0x19, 0x01, 0x17, 0x00, 0x26, 0, 0, 0, 0, 0x15, 0, 1, b'm', 0x16, 0, 0], &field(b"c")));
    first("v5_connect_will_with_every_will_property", connect5_will(0x28, &[0x18, 0, 0, 0, 5, 0x01, 0x01, 0x02, 0, 0, 0, 9, 0x03, 0, 1, b't', 0x08, 0, 1, b'r', 0x09, 0, 1, 0, 0x26, 0, 0, 0, 0], b"w/t"));
    first("v5_connect_then_publish", cat(&[&valid_connect_v5(), &pub5(&[0x01, 0x00])]));
    cases
}

#[cfg(test)]
#[path = "v5_corpus_tests.rs"]
mod tests;
