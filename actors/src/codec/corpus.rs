//! A corpus of byte sequences a broker must reject, for the integration tests that send raw
//! bytes to a running broker (STYLE.md section 5, "Integration tests").
//!
//! Each case is what a client sends either as its very first bytes (`after_connect: false`)
//! or right after a valid CONNECT, [`valid_connect`], has been accepted (`after_connect:
//! true`). Every case is rejected with the bytes given (no case waits for more input):
//! either `decode` fails, or the packet breaks a connection-order rule (a first packet that is
//! not CONNECT [MQTT-3.1.0-1], a second CONNECT [MQTT-3.1.0-2]). The cases assume a maximum
//! packet size of at most [`CORPUS_MAX_PACKET_SIZE`].
//!
//! This is a normal public function, not test-only code, because integration tests in other
//! crates cannot see `#[cfg(test)]` items; it is small and allocates only when called.

/// The largest maximum packet size under which every oversize case is still oversize.
pub const CORPUS_MAX_PACKET_SIZE: usize = 1 << 20;

/// One byte sequence a broker must reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedCase {
    /// Unique, descriptive, usable in a test name.
    pub name: &'static str,
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Send after [`valid_connect`] was accepted (`true`), or as the first bytes (`false`).
    pub after_connect: bool,
}

/// A valid MQTT 3.1.1 CONNECT: client id `corpus`, clean session, keepalive 60 s.
pub fn valid_connect() -> Vec<u8> {
    connect_frame(b"MQTT", 4, 0x02, &[b"corpus"])
}

/// A fixed header (first byte, shortest remaining length) and `body`.
pub(crate) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    put_remaining_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

pub(crate) fn put_remaining_len(out: &mut Vec<u8>, len: usize) {
    let mut rest = len;
    loop {
        let byte = (rest & 0x7F) as u8;
        rest >>= 7;
        if rest == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A length-prefixed string or binary field.
pub(crate) fn field(data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// A CONNECT frame: protocol name and level, flags, keepalive 60, then each payload field
/// length-prefixed.
pub(crate) fn connect_frame(name: &[u8], level: u8, flags: u8, payload: &[&[u8]]) -> Vec<u8> {
    let mut body = field(name);
    body.extend_from_slice(&[level, flags, 0x00, 0x3C]);
    for data in payload {
        body.extend(field(data));
    }
    frame(0x10, &body)
}

fn publish(first: u8, topic: &[u8], pkid: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut body = field(topic);
    if let Some(id) = pkid {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    frame(first, &body)
}

fn subscribe(first: u8, pkid: u16, filters: &[(&[u8], u8)]) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    for (filter, options) in filters {
        body.extend(field(filter));
        body.push(*options);
    }
    frame(first, &body)
}

fn unsubscribe(first: u8, pkid: u16, filters: &[&[u8]]) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    for filter in filters {
        body.extend(field(filter));
    }
    frame(first, &body)
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Every case; see the module docs. Names are unique.
// A table, one case a line: rustfmt would spread it over three.
#[rustfmt::skip]
pub fn malformed_corpus() -> Vec<MalformedCase> {
    let mut cases = Vec::new();
    let mut after = |name: &'static str, bytes: Vec<u8>| {
        cases.push(MalformedCase {
            name,
            bytes,
            after_connect: true,
        });
    };

    // ---- Fixed header: packet type, remaining length, size ----
    after("packet_type_0", vec![0x00, 0x00]);
    after("packet_type_15", vec![0xF0, 0x00]);
    after("packet_type_15_with_body", vec![0xFF, 0x02, 0x00, 0x01]);
    after("remaining_length_5_bytes_publish", vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
    after("remaining_length_5_bytes_pingreq", vec![0xC0, 0x80, 0x80, 0x80, 0x80, 0x01]);
    after("remaining_length_5_bytes_subscribe", vec![0x82, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00]);
    after("oversize_publish_1mib_body", frame_header(0x30, CORPUS_MAX_PACKET_SIZE));
    after("oversize_publish_max_remaining_length", vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
    after("oversize_subscribe_2mib", frame_header(0x82, 2 << 20));
    after("oversize_unsubscribe_max", vec![0xA2, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01]);

    // ---- Reserved flag bits, every type but PUBLISH [MQTT-2.2.2-1, -2] ----
    after("flags_connect_0001", connect_frame_first(0x11));
    after("flags_connack_0001", vec![0x21, 0x02, 0x00, 0x00]);
    after("flags_puback_0010", vec![0x42, 0x02, 0x00, 0x01]);
    after("flags_puback_1000", vec![0x48, 0x02, 0x00, 0x01]);
    after("flags_pubrec_0001", vec![0x51, 0x02, 0x00, 0x01]);
    after("flags_pubrec_0010", vec![0x52, 0x02, 0x00, 0x01]);
    after("flags_pubrel_0000", vec![0x60, 0x02, 0x00, 0x01]);
    after("flags_pubrel_0011", vec![0x63, 0x02, 0x00, 0x01]);
    after("flags_pubrel_1010", vec![0x6A, 0x02, 0x00, 0x01]);
    after("flags_pubcomp_0100", vec![0x74, 0x02, 0x00, 0x01]);
    after("flags_subscribe_0000", subscribe(0x80, 1, &[(b"a", 0)]));
    after("flags_subscribe_0011", subscribe(0x83, 1, &[(b"a", 0)]));
    after("flags_subscribe_1010", subscribe(0x8A, 1, &[(b"a", 0)]));
    after("flags_subscribe_0100", subscribe(0x84, 1, &[(b"a", 0)]));
    after("flags_suback_0010", vec![0x92, 0x03, 0x00, 0x01, 0x00]);
    after("flags_unsubscribe_0000", unsubscribe(0xA0, 1, &[b"a"]));
    after("flags_unsubscribe_1010", unsubscribe(0xAA, 1, &[b"a"]));
    after("flags_unsubscribe_0110", unsubscribe(0xA6, 1, &[b"a"]));
    after("flags_unsuback_0010", vec![0xB2, 0x02, 0x00, 0x01]);
    after("flags_pingreq_0001", vec![0xC1, 0x00]);
    after("flags_pingreq_1111", vec![0xCF, 0x00]);
    after("flags_pingresp_0010", vec![0xD2, 0x00]);
    after("flags_disconnect_0010", vec![0xE2, 0x00]);
    after("flags_disconnect_1000", vec![0xE8, 0x00]);

    // ---- PUBLISH header: QoS 3 [MQTT-3.3.1-4], DUP at QoS 0 [MQTT-3.3.1-2] ----
    after("publish_qos3", publish(0x36, b"a", Some(1), b"x"));
    after("publish_qos3_dup_retain", publish(0x3F, b"a", Some(1), b"x"));
    after("publish_dup_qos0", publish(0x38, b"a", None, b"x"));
    after("publish_dup_qos0_retain", publish(0x39, b"a", None, b""));

    // ---- PUBLISH topic name [MQTT-3.3.2-2], [MQTT-4.7.3-1], [MQTT-1.5.3-1, -2] ----
    after("publish_topic_plus_level", publish(0x30, b"a/+", None, b"x"));
    after("publish_topic_hash_level", publish(0x30, b"a/#", None, b"x"));
    after("publish_topic_only_hash", publish(0x30, b"#", None, b"x"));
    after("publish_topic_only_plus", publish(0x30, b"+", None, b"x"));
    after("publish_topic_plus_inside_level", publish(0x30, b"a+b", None, b"x"));
    after("publish_topic_hash_qos1", publish(0x32, b"s/#", Some(5), b"x"));
    after("publish_topic_empty", publish(0x30, b"", None, b"x"));
    after("publish_topic_bad_utf8", publish(0x30, b"\xC3\x28", None, b"x"));
    after("publish_topic_lone_continuation_byte", publish(0x30, b"a\x80", None, b"x"));
    after("publish_topic_utf16_surrogate", publish(0x30, b"\xED\xA0\x80", None, b"x"));
    after("publish_topic_overlong_null", publish(0x30, b"\xC0\x80", None, b"x"));
    after("publish_topic_cut_multibyte_char", publish(0x30, b"a\xE2\x82", None, b""));
    after("publish_topic_null", publish(0x30, b"a\0b", None, b"x"));
    after("publish_topic_ff_byte", publish(0x30, b"\xFF", None, b"x"));

    // ---- PUBLISH body ----
    after("publish_qos1_zero_pkid", publish(0x32, b"a", Some(0), b"x"));
    after("publish_qos2_zero_pkid", publish(0x34, b"a", Some(0), b"x"));
    after("publish_qos1_missing_pkid", frame(0x32, &field(b"a")));
    after("publish_qos2_half_pkid", frame(0x34, &cat(&[&field(b"a"), &[0x00]])));
    after("publish_empty_body", vec![0x30, 0x00]);
    after("publish_one_byte_body", vec![0x30, 0x01, 0x00]);
    after("publish_topic_longer_than_frame", vec![0x30, 0x04, 0x00, 0x09, b'a', b'b']);
    after("truncated_publish_then_garbage",
          vec![0x30, 0x05, 0x00, 0x0A, b'a', b'b', b'c', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    after("valid_publish_then_garbage_type_0",
          cat(&[&publish(0x30, b"ok", None, b"fine"), &[0x00, 0x00, 0xDE, 0xAD]]));

    // ---- Packet id 0 [MQTT-2.3.1-1] ----
    after("puback_zero_pkid", vec![0x40, 0x02, 0x00, 0x00]);
    after("pubrec_zero_pkid", vec![0x50, 0x02, 0x00, 0x00]);
    after("pubrel_zero_pkid", vec![0x62, 0x02, 0x00, 0x00]);
    after("pubcomp_zero_pkid", vec![0x70, 0x02, 0x00, 0x00]);
    after("subscribe_zero_pkid", subscribe(0x82, 0, &[(b"a", 0)]));
    after("suback_zero_pkid", vec![0x90, 0x03, 0x00, 0x00, 0x00]);
    after("unsubscribe_zero_pkid", unsubscribe(0xA2, 0, &[b"a"]));
    after("unsuback_zero_pkid", vec![0xB0, 0x02, 0x00, 0x00]);

    // ---- Fixed-size packets with the wrong size ----
    after("puback_trailing_byte", vec![0x40, 0x03, 0x00, 0x01, 0x00]);
    after("puback_one_byte", vec![0x40, 0x01, 0x01]);
    after("puback_empty", vec![0x40, 0x00]);
    after("pubrec_trailing_bytes", vec![0x50, 0x04, 0x00, 0x01, 0x00, 0x00]);
    after("pubrel_trailing_byte", vec![0x62, 0x03, 0x00, 0x01, 0x00]);
    after("pubcomp_trailing_byte", vec![0x70, 0x03, 0x00, 0x01, 0x00]);
    after("unsuback_trailing_byte", vec![0xB0, 0x03, 0x00, 0x01, 0x00]);
    after("connack_trailing_byte", vec![0x20, 0x03, 0x00, 0x00, 0x00]);
    after("pingreq_trailing_byte", vec![0xC0, 0x01, 0x00]);
    after("pingreq_declares_huge_body", vec![0xC0, 0xFF, 0xFF, 0x7F]);
    after("pingresp_trailing_byte", vec![0xD0, 0x01, 0x00]);
    after("disconnect_trailing_byte", vec![0xE0, 0x01, 0x00]);

    // ---- SUBSCRIBE [MQTT-3.8.3-3, -4], [MQTT-4.7.1-2, -3] ----
    after("subscribe_no_filters", vec![0x82, 0x02, 0x00, 0x01]);
    after("subscribe_requested_qos_3", subscribe(0x82, 1, &[(b"a", 3)]));
    after("subscribe_requested_qos_reserved_0x04", subscribe(0x82, 1, &[(b"a", 0x04)]));
    after("subscribe_requested_qos_reserved_0x80", subscribe(0x82, 1, &[(b"a", 0x80)]));
    after("subscribe_requested_qos_reserved_0xfd", subscribe(0x82, 1, &[(b"a", 0xFD)]));
    after("subscribe_missing_requested_qos", frame(0x82, &cat(&[&[0x00, 0x01], &field(b"a")])));
    after("subscribe_filter_hash_not_last", subscribe(0x82, 1, &[(b"a/#/b", 0)]));
    after("subscribe_filter_hash_first_then_more", subscribe(0x82, 1, &[(b"#/a", 0)]));
    after("subscribe_filter_hash_suffix", subscribe(0x82, 1, &[(b"a/b#", 0)]));
    after("subscribe_filter_a_plus_slash_b", subscribe(0x82, 1, &[(b"a+/b", 0)]));
    after("subscribe_filter_plus_suffix", subscribe(0x82, 1, &[(b"a/b+", 1)]));
    after("subscribe_filter_empty", subscribe(0x82, 1, &[(b"", 0)]));
    after("subscribe_filter_bad_utf8", subscribe(0x82, 1, &[(b"a/\xFE", 0)]));
    after("subscribe_filter_null", subscribe(0x82, 1, &[(b"a/\0", 0)]));
    after("subscribe_second_filter_invalid", subscribe(0x82, 1, &[(b"a/b", 1), (b"c#", 1)]));
    after("subscribe_filter_longer_than_frame", vec![0x82, 0x05, 0x00, 0x01, 0x00, 0x20, b'a']);
    after("truncated_subscribe_then_garbage",
          vec![0x82, 0x04, 0x00, 0x01, 0x00, 0x05, 0xDE, 0xAD, 0xBE, 0xEF, 0x00]);

    // ---- UNSUBSCRIBE [MQTT-3.10.3-2] ----
    after("unsubscribe_no_filters", vec![0xA2, 0x02, 0x00, 0x01]);
    after("unsubscribe_filter_hash_not_last", unsubscribe(0xA2, 1, &[b"#/a"]));
    after("unsubscribe_filter_a_plus_slash_b", unsubscribe(0xA2, 1, &[b"a+/b"]));
    after("unsubscribe_filter_empty", unsubscribe(0xA2, 1, &[b""]));
    after("unsubscribe_filter_bad_utf8", unsubscribe(0xA2, 1, &[b"\xC0\xAF"]));
    after("unsubscribe_filter_null", unsubscribe(0xA2, 1, &[b"\0"]));
    after("unsubscribe_half_length_prefix", vec![0xA2, 0x03, 0x00, 0x01, 0x00]);

    // ---- Server-to-client packets, malformed ----
    after("suback_invalid_code", vec![0x90, 0x03, 0x00, 0x01, 0x03]);
    after("suback_no_codes", vec![0x90, 0x02, 0x00, 0x01]);
    after("connack_invalid_code", vec![0x20, 0x02, 0x00, 0x06]);
    after("connack_reserved_ack_flags", vec![0x20, 0x02, 0x02, 0x00]);

    // ---- A second CONNECT [MQTT-3.1.0-2] ----
    after("second_connect", valid_connect());
    after("second_connect_mqtt_3_1", connect_frame(b"MQIsdp", 3, 0x02, &[b"again"]));
    after("second_connect_malformed", connect_frame(b"MQTT", 4, 0x01, &[b"again"]));

    let mut first = |name: &'static str, bytes: Vec<u8>| {
        cases.push(MalformedCase {
            name,
            bytes,
            after_connect: false,
        });
    };

    // ---- First packet not CONNECT [MQTT-3.1.0-1] ----
    first("first_packet_publish", publish(0x30, b"a", None, b"x"));
    first("first_packet_publish_qos1", publish(0x32, b"a", Some(1), b"x"));
    first("first_packet_subscribe", subscribe(0x82, 1, &[(b"a", 0)]));
    first("first_packet_unsubscribe", unsubscribe(0xA2, 1, &[b"a"]));
    first("first_packet_pingreq", vec![0xC0, 0x00]);
    first("first_packet_disconnect", vec![0xE0, 0x00]);
    first("first_packet_puback", vec![0x40, 0x02, 0x00, 0x01]);
    first("first_packet_connack", vec![0x20, 0x02, 0x00, 0x00]);
    first("first_packet_type_0", vec![0x00, 0x00]);
    first("first_packet_type_15", vec![0xF0, 0x00]);
    first("first_packet_oversize_connect", vec![0x10, 0xFF, 0xFF, 0xFF, 0x7F]);
    first("first_packet_remaining_length_5_bytes", vec![0x10, 0x80, 0x80, 0x80, 0x80, 0x01]);
    first("valid_connect_then_second_connect", cat(&[&valid_connect(), &valid_connect()]));
    first("valid_connect_then_type_15", cat(&[&valid_connect(), &[0xF0, 0x00]]));

    // ---- CONNECT protocol name and level [MQTT-3.1.2-1, -2] ----
    first("connect_protocol_name_lowercase", connect_frame(b"mqtt", 4, 0x02, &[b"c"]));
    first("connect_protocol_name_garbage", connect_frame(b"HTTP/1.1", 4, 0x02, &[b"c"]));
    first("connect_protocol_name_empty", connect_frame(b"", 4, 0x02, &[b"c"]));
    first("connect_protocol_name_not_utf8", connect_frame(b"\xFF\xFE", 4, 0x02, &[b"c"]));
    first("connect_mqtt_level_3", connect_frame(b"MQTT", 3, 0x02, &[b"c"]));
    first("connect_mqisdp_level_4", connect_frame(b"MQIsdp", 4, 0x02, &[b"c"]));
    first("connect_mqtt_level_6", connect_frame_v6());
    first("connect_mqtt_level_0", connect_frame(b"MQTT", 0, 0x02, &[b"c"]));
    first("connect_mqtt_level_255", connect_frame(b"MQTT", 255, 0x02, &[b"c"]));
    first("connect_empty_body", vec![0x10, 0x00]);
    first("connect_protocol_name_longer_than_frame", vec![0x10, 0x04, 0x00, 0x04, b'M', b'Q']);
    first("connect_missing_keep_alive", frame(0x10, &cat(&[&field(b"MQTT"), &[0x04, 0x02, 0x00]])));
    first("connect_header_flags_0010", connect_frame_first(0x12));

    // ---- CONNECT flags [MQTT-3.1.2-3, -11, -13, -14, -15, -22] ----
    first("connect_reserved_flag", connect_frame(b"MQTT", 4, 0x03, &[b"c"]));
    first("connect_will_qos1_without_will", connect_frame(b"MQTT", 4, 0x0A, &[b"c"]));
    first("connect_will_qos2_without_will", connect_frame(b"MQTT", 4, 0x12, &[b"c"]));
    first("connect_will_retain_without_will", connect_frame(b"MQTT", 4, 0x22, &[b"c"]));
    first("connect_will_qos3", connect_frame(b"MQTT", 4, 0x1E, &[b"c", b"w", b"m"]));
    first("connect_password_without_username", connect_frame(b"MQTT", 4, 0x42, &[b"c", b"pw"]));

    // ---- CONNECT payload ----
    first("connect_client_id_bad_utf8", connect_frame(b"MQTT", 4, 0x02, &[b"\xC3"]));
    first("connect_client_id_null", connect_frame(b"MQTT", 4, 0x02, &[b"a\0"]));
    first("connect_client_id_surrogate", connect_frame(b"MQTT", 4, 0x02, &[b"\xED\xBF\xBF"]));
    first("connect_client_id_longer_than_frame",
          frame(0x10, &cat(&[&field(b"MQTT"), &[4, 2, 0, 60, 0, 9, b'c']])));
    first("connect_will_topic_wildcard", connect_frame(b"MQTT", 4, 0x06, &[b"c", b"w/+", b"m"]));
    first("connect_will_topic_hash", connect_frame(b"MQTT", 4, 0x0E, &[b"c", b"#", b"m"]));
    first("connect_will_topic_empty", connect_frame(b"MQTT", 4, 0x06, &[b"c", b"", b"m"]));
    first("connect_will_topic_bad_utf8", connect_frame(b"MQTT", 4, 0x06, &[b"c", b"\x80", b"m"]));
    first("connect_will_without_payload", connect_frame(b"MQTT", 4, 0x06, &[b"c", b"w"]));
    first("connect_username_bad_utf8", connect_frame(b"MQTT", 4, 0x82, &[b"c", b"\xF8"]));
    first("connect_username_null", connect_frame(b"MQTT", 4, 0x82, &[b"c", b"u\0"]));
    first("connect_username_flag_without_username", connect_frame(b"MQTT", 4, 0x82, &[b"c"]));
    first("connect_password_flag_without_password", connect_frame(b"MQTT", 4, 0xC2, &[b"c", b"u"]));
    first("connect_trailing_bytes", connect_frame(b"MQTT", 4, 0x02, &[b"c", b"extra"]));
    first("truncated_connect_then_garbage",
          cat(&[&frame(0x10, &cat(&[&field(b"MQTT"), &[4, 2, 0, 60, 0, 20, b'c']])), &[0xFF; 20]]));

    cases
}

/// A fixed header declaring `remaining` body bytes and the first few of them: the size
/// alone must get it refused.
pub(crate) fn frame_header(first: u8, remaining: usize) -> Vec<u8> {
    let mut out = vec![first];
    put_remaining_len(&mut out, remaining);
    out.extend_from_slice(&[0x00, 0x01, b'a']);
    out
}

/// [`valid_connect`] with another first byte.
fn connect_frame_first(first: u8) -> Vec<u8> {
    let mut bytes = valid_connect();
    bytes[0] = first;
    bytes
}

/// A CONNECT for a future level 6, shaped like MQTT 5 (properties length 0 before the client
/// id): the broker answers CONNACK 0x01. (A level-5 CONNECT is valid: see `v5_corpus`.)
fn connect_frame_v6() -> Vec<u8> {
    frame(
        0x10,
        &cat(&[&field(b"MQTT"), &[6, 0x02, 0x00, 0x3C, 0x00], &field(b"c")]),
    )
}

#[cfg(test)]
#[path = "corpus_tests.rs"]
mod tests;
