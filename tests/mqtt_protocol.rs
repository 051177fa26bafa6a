//! Connection-level protocol rules, in raw bytes against a running broker: what must come
//! first, what closes the connection, protocol names and levels, the CONNECT deadline, and
//! MQTT 3.1 (`MQIsdp`, level 3) beside 3.1.1. Wills and keepalive are in `mqtt_will.rs`, the
//! malformed corpus in `malformed.rs`.

mod common;

use std::time::Duration;

use arbor_actors::codec::{
    Ack, ConnAck, ConnectReturnCode, Disconnect, Packet, ProtocolLevel, QoS, SubackCode,
};
use common::client::{connect, publish_acked, receive, subscribe_qos};
use common::raw::{connect_packet, publish_packet, Raw};
use common::{test_config, TestBroker};
use tokio::time::Instant;

/// A CONNECT frame: protocol name and level, flags 0x02 (clean session), keepalive 30, then a
/// client id.
fn connect_frame(name: &[u8], level: u8, client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend((name.len() as u16).to_be_bytes());
    body.extend(name);
    body.extend([level, 0x02, 0, 30]);
    body.extend((client_id.len() as u16).to_be_bytes());
    body.extend(client_id.as_bytes());
    let mut frame = vec![0x10, u8::try_from(body.len()).expect("short frame")];
    frame.extend(body);
    frame
}

/// What the broker sent before closing was nothing, or one CONNACK refusing with `code`.
fn refused_or_silent(seen: &[Packet], code: ConnectReturnCode) -> bool {
    match seen {
        [] => true,
        [Packet::ConnAck(ConnAck {
            code: got,
            session_present: false,
            properties: None,
        })] => *got == code,
        _ => false,
    }
}

#[tokio::test]
async fn first_packet_not_connect_closes_mqtt_3_1_0_1() {
    let broker = TestBroker::start().await;
    for (name, packet) in [
        ("PINGREQ", Packet::PingReq),
        ("PUBLISH", publish_packet("t", QoS::AtMostOnce, 0, false, "x")),
        ("DISCONNECT", Packet::Disconnect(Disconnect::NORMAL)),
    ] {
        let mut raw = Raw::open(broker.mqtt).await;
        raw.send(&packet).await;
        let seen = raw.closed().await;
        assert!(
            seen.is_empty(),
            "{name} first: closed without a reply, got {seen:?}"
        );
    }
    // The broker itself is fine.
    connect(&broker, "after-bad-first", true, None).await;
}

#[tokio::test]
async fn second_connect_closes_mqtt_3_1_0_2() {
    let broker = TestBroker::start().await;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_packet("twice", true, 30, None)).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    raw.send(&Packet::Connect(Box::new(connect_packet(
        "twice", true, 30, None,
    ))))
    .await;
    let seen = raw.closed().await;
    assert!(seen.is_empty(), "no second CONNACK: {seen:?}");
}

/// An unsupported protocol level (0, 6) gets CONNACK 0x01 and the connection is closed
/// [MQTT-3.1.2-2]; level 5 is MQTT 5, served (see tests/mqtt5_*.rs).
#[tokio::test]
async fn unsupported_level_gets_connack_0x01_then_close_mqtt_3_1_2_2() {
    let broker = TestBroker::start().await;
    let mut raw = Raw::open(broker.mqtt).await;
    raw.level = arbor_actors::codec::ProtocolLevel::V5;
    // MQTT 5: after the keepalive comes a properties length (0) before the client id.
    raw.send_bytes(&[
        0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 30, 0, 0, 2, b'v', b'5',
    ])
    .await;
    match raw.next().await {
        Some(Packet::ConnAck(ack)) => assert_eq!(ack.code, ConnectReturnCode::Accepted),
        other => panic!("a level-5 CONNECT is accepted: {other:?}"),
    }
    for level in [0u8, 6] {
        let mut raw = Raw::open(broker.mqtt).await;
        raw.send_bytes(&connect_frame(b"MQTT", level, "lv")).await;
        let seen = raw.closed().await;
        assert!(
            refused_or_silent(&seen, ConnectReturnCode::UnacceptableProtocolVersion),
            "level {level}: {seen:?}"
        );
        assert!(
            !seen.is_empty(),
            "level {level}: CONNACK 0x01 expected [MQTT-3.1.2-2]"
        );
    }
}

/// A protocol name other than `MQTT` (3.1.1) or `MQIsdp` (3.1) is not an MQTT client: the
/// connection is closed with no CONNACK at all [MQTT-3.1.2-1], whatever the level.
#[tokio::test]
async fn unknown_protocol_name_closes_without_connack_mqtt_3_1_2_1() {
    let broker = TestBroker::start().await;
    for (name, level) in [
        (&b"MQTU"[..], 4u8),
        (&b"MQTX"[..], 4),
        (&b"mqtt"[..], 4),
        (&b""[..], 4),
        (&b"MQIsdpX"[..], 3),
        (&b"HTTP/1.1"[..], 4),
    ] {
        let mut raw = Raw::open(broker.mqtt).await;
        raw.send_bytes(&connect_frame(name, level, "badname")).await;
        let seen = raw.closed().await;
        assert!(
            seen.is_empty(),
            "{:?} level {level}: closed without CONNACK, got {seen:?}",
            String::from_utf8_lossy(name)
        );
    }
}

/// MQTT's protocol name with a level that does not go with it gets CONNACK 0x01, then the
/// close [MQTT-3.1.2-2].
#[tokio::test]
async fn known_protocol_name_with_wrong_level_gets_connack_0x01_mqtt_3_1_2_2() {
    let broker = TestBroker::start().await;
    for (name, level) in [(&b"MQIsdp"[..], 4u8), (&b"MQTT"[..], 3), (&b"MQIsdp"[..], 5)] {
        let mut raw = Raw::open(broker.mqtt).await;
        raw.send_bytes(&connect_frame(name, level, "badlevel")).await;
        let seen = raw.closed().await;
        assert!(
            matches!(seen.as_slice(), [Packet::ConnAck(ack)] if ack.code == ConnectReturnCode::UnacceptableProtocolVersion && !ack.session_present),
            "{:?} level {level}: {seen:?}",
            String::from_utf8_lossy(name)
        );
    }
}

/// A connection that sends no CONNECT within `mqtt.connect_timeout` is closed (emqttd's
/// idle_timeout), neither early nor much later.
#[tokio::test]
async fn no_connect_within_connect_timeout_closes() {
    let mut config = test_config();
    config.mqtt.connect_timeout = Duration::from_millis(500);
    let broker = TestBroker::with_config(config).await;
    let started = Instant::now();
    let mut raw = Raw::open(broker.mqtt).await;
    assert!(raw.closed().await.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}, want about 500 ms"
    );
    // Half a CONNECT is no better than none.
    let started = Instant::now();
    let mut raw = Raw::open(broker.mqtt).await;
    raw.send_bytes(&connect_frame(b"MQTT", 4, "slow")[..6]).await;
    assert!(raw.closed().await.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A packet that has started must finish: with keepalive 0 (no other deadline), a client that
/// sends part of a PUBLISH and stalls is closed once `mqtt.frame_timeout` has passed, neither
/// early nor much later; while nothing is started, it may stay silent for longer.
#[tokio::test]
async fn a_started_packet_that_stalls_is_closed_after_frame_timeout_with_keepalive_0() {
    let mut config = test_config();
    config.mqtt.frame_timeout = Duration::from_millis(500);
    let broker = TestBroker::with_config(config).await;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_packet("stall", true, 0, None)).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    assert!(
        raw.next_within(Duration::from_millis(1200)).await.is_err(),
        "an idle connection with keepalive 0 stays open past the frame timeout"
    );
    let started = Instant::now();
    // PUBLISH QoS 0, remaining length 10: the topic length and one byte of it, then nothing.
    raw.send_bytes(&[0x30, 10, 0, 3, b'a']).await;
    assert!(raw.closed().await.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}, want about 500 ms"
    );
}

/// A packet trickled a byte every 50 ms (it would take 10 s) is closed after
/// `mqtt.frame_timeout` although bytes keep coming: the timeout runs from the frame's first
/// byte, not from the last one.
#[tokio::test]
async fn a_trickled_packet_is_closed_after_frame_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = test_config();
    config.mqtt.frame_timeout = Duration::from_millis(500);
    let broker = TestBroker::with_config(config).await;
    let (raw, _) = Raw::connected(broker.mqtt, connect_packet("trickle", true, 0, None)).await;
    let (mut read, mut write) = raw.stream.into_split();
    let mut frame = bytes::BytesMut::new();
    let payload = "x".repeat(200);
    arbor_actors::codec::encode(
        &publish_packet("t", QoS::AtMostOnce, 0, false, &payload),
        arbor_actors::codec::ProtocolLevel::V311,
        &mut frame,
    );
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        // Pacing, not synchronisation: the slow sender is the behaviour under test.
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        for byte in frame {
            tick.tick().await;
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    let mut sink = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    trickle.abort();
    let took = started.elapsed();
    assert!(closed.is_ok(), "still open after 5 s of trickling");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}, want about 500 ms"
    );
}

/// MQTT 3.1 (`MQIsdp`, level 3): CONNECT accepted with 0x00 and no session-present flag;
/// SUBSCRIBE, PUBLISH at QoS 1 and 2 work, and messages cross between 3.1 and 3.1.1 clients.
#[tokio::test]
async fn mqtt_3_1_mqisdp_connect_publish_and_subscribe_work() {
    let broker = TestBroker::start().await;
    let mut connect31 = connect_packet("v31-client", true, 30, None);
    connect31.level = ProtocolLevel::V31;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect31).await;
    assert_eq!(
        (ack.code, ack.session_present),
        (ConnectReturnCode::Accepted, false)
    );
    let suback = raw.subscribe("v31/#", QoS::ExactlyOnce).await;
    assert_eq!(suback.return_codes, [SubackCode::Success(QoS::ExactlyOnce)]);
    // QoS 1 to itself: a PUBACK and the message, in either order.
    raw.send(&publish_packet("v31/a", QoS::AtLeastOnce, 1, false, "one"))
        .await;
    let mut got_ack = false;
    let mut got_msg = false;
    while !(got_ack && got_msg) {
        match raw.next().await {
            Some(Packet::PubAck(ack)) if ack.pkid.get() == 1 => got_ack = true,
            Some(Packet::Publish(p)) if !got_msg => {
                assert_eq!((&p.payload[..], p.qos), (&b"one"[..], QoS::AtLeastOnce));
                raw.send(&Packet::PubAck(Ack::new(p.pkid.expect("QoS 1")))).await;
                got_msg = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // QoS 2 from a 3.1.1 client to the 3.1 one, and from the 3.1 one to a 3.1.1 subscriber.
    let mut modern = connect(&broker, "v311-client", true, None).await;
    subscribe_qos(&mut modern, "v311/t", rumqttc::QoS::ExactlyOnce).await;
    publish_acked(&mut modern, "v31/b", rumqttc::QoS::ExactlyOnce, false, "two").await;
    let p = raw.expect_publish().await;
    assert_eq!((&p.payload[..], p.qos), (&b"two"[..], QoS::ExactlyOnce));
    let pkid = p.pkid.expect("QoS 2");
    raw.send(&Packet::PubRec(Ack::new(pkid))).await;
    assert_eq!(raw.next().await, Some(Packet::PubRel(Ack::new(pkid))));
    raw.send(&Packet::PubComp(Ack::new(pkid))).await;
    raw.send(&publish_packet("v311/t", QoS::ExactlyOnce, 2, false, "three"))
        .await;
    let rec = raw.next().await;
    assert!(
        matches!(&rec, Some(Packet::PubRec(ack)) if ack.pkid.get() == 2),
        "{rec:?}"
    );
    raw.send(&Packet::PubRel(Ack::new(
        arbor_actors::codec::PacketId::new(2).expect("non-zero"),
    )))
    .await;
    assert!(matches!(raw.next().await, Some(Packet::PubComp(ack)) if ack.pkid.get() == 2));
    let p = receive(&mut modern).await;
    assert_eq!(
        (&p.payload[..], p.qos),
        (&b"three"[..], rumqttc::QoS::ExactlyOnce)
    );
}

/// MQTT 3.1 has no server-assigned client ids and allows 1 to 23 characters: an empty id (with
/// or without clean session) or one of 24 characters gets CONNACK 0x02 and the close; 23
/// characters are fine. (3.1.1 assigns an id instead: see `mqtt_session.rs`.)
#[tokio::test]
async fn mqtt_3_1_client_id_empty_or_over_23_characters_gets_0x02() {
    let broker = TestBroker::start().await;
    let v31 = |id: &str, clean: bool| {
        let mut connect = connect_packet(id, clean, 30, None);
        connect.level = ProtocolLevel::V31;
        connect
    };
    for (id, clean) in [("", true), ("", false), (&"x".repeat(24)[..], true)] {
        let (mut raw, ack) = Raw::connected(broker.mqtt, v31(id, clean)).await;
        assert_eq!(
            (ack.code, ack.session_present),
            (ConnectReturnCode::IdentifierRejected, false),
            "3.1 id {id:?} (clean {clean})"
        );
        assert!(raw.closed().await.is_empty(), "closed after the refusal");
    }
    let (_raw, ack) = Raw::connected(broker.mqtt, v31(&"y".repeat(23), true)).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted, "23 characters are allowed");
    let (_raw, ack) = Raw::connected(broker.mqtt, connect_packet("", true, 30, None)).await;
    assert_eq!(
        ack.code,
        ConnectReturnCode::Accepted,
        "3.1.1 assigns one [MQTT-3.1.3-6]"
    );
}

/// A client that sends a server-only packet (CONNACK, SUBACK, PINGRESP) after CONNECT is
/// closed: a protocol violation [MQTT-4.8.0-1].
#[tokio::test]
async fn server_only_packet_from_client_closes() {
    let broker = TestBroker::start().await;
    for (i, bytes) in [
        vec![0x20, 0x02, 0x00, 0x00],
        vec![0x90, 0x03, 0x00, 0x01, 0x00],
        vec![0xD0, 0x00],
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("server-only-{i}");
        let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet(&id, true, 30, None)).await;
        raw.send_bytes(&bytes).await;
        let seen = raw.closed().await;
        assert!(seen.is_empty(), "{bytes:02x?}: {seen:?}");
    }
}
