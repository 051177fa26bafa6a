//! A byte-level MQTT client over a plain TcpStream, built on our codec, for tests that must send
//! exactly what they mean (malformed frames, a will then a dropped socket, no PINGREQ).

use std::net::SocketAddr;
use std::time::Duration;

use arbor_actors::codec::{self, ConnAck, Connect, Packet, ProtocolLevel, QoS, TopicName, Will};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const WAIT: Duration = Duration::from_secs(10);

/// A raw connection.
pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
    /// The level packets are encoded and decoded at (the CONNECT's, once sent).
    pub level: ProtocolLevel,
}

/// A CONNECT with the given id, clean flag, keepalive and optional will (topic, payload, retain).
pub fn connect_packet(id: &str, clean: bool, keep_alive: u16, will: Option<(&str, &str, bool)>) -> Connect {
    Connect {
        level: ProtocolLevel::V311,
        client_id: id.to_string(),
        clean_session: clean,
        keep_alive,
        will: will.map(|(topic, payload, retain)| Will {
            topic: TopicName::new(topic).expect("will topic"),
            payload: Bytes::from(payload.to_string()),
            qos: QoS::AtLeastOnce,
            retain,
            properties: None,
        }),
        username: None,
        password: None,
        properties: None,
    }
}

impl Raw {
    /// Opens a TCP connection.
    pub async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self {
            stream,
            buf: BytesMut::new(),
            level: ProtocolLevel::V311,
        }
    }

    /// Opens a connection and completes CONNECT; returns it with the CONNACK.
    pub async fn connected(addr: SocketAddr, connect: Connect) -> (Self, ConnAck) {
        let mut raw = Self::open(addr).await;
        raw.level = connect.level;
        raw.send(&Packet::Connect(Box::new(connect))).await;
        match raw.next().await {
            Some(Packet::ConnAck(ack)) => (raw, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Sends a packet.
    pub async fn send(&mut self, packet: &Packet) {
        let mut out = BytesMut::new();
        let level = match packet {
            Packet::Connect(c) => c.level,
            _ => self.level,
        };
        codec::encode(packet, level, &mut out);
        self.send_bytes(&out).await;
    }

    /// Sends raw bytes (a write error is ignored: the broker may already have closed).
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next packet, or `None` when the broker closed the connection. Panics after 10 s.
    pub async fn next(&mut self) -> Option<Packet> {
        self.next_within(WAIT)
            .await
            .expect("a packet or a close within 10 s")
    }

    /// The next packet within `limit`: `Err` on timeout, `Ok(None)` on close.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Option<Packet>, ()> {
        tokio::time::timeout(limit, async {
            loop {
                let level = (self.level == ProtocolLevel::V5).then_some(ProtocolLevel::V5);
                if let Ok(Some(packet)) = codec::decode(&mut self.buf, 1 << 20, level) {
                    return Some(packet);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .map_err(|_| ())
    }

    /// Waits for the broker to close the connection, skipping packets; returns them.
    pub async fn closed(&mut self) -> Vec<Packet> {
        let mut seen = Vec::new();
        while let Some(packet) = self.next().await {
            seen.push(packet);
        }
        seen
    }
}

impl Raw {
    /// Subscribes to one filter (packet id 1) and returns the SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> codec::SubAck {
        let pkid = codec::PacketId::new(1).expect("non-zero");
        self.send(&Packet::Subscribe(codec::Subscribe {
            pkid,
            filters: vec![(filter.to_string(), qos.into())],
            properties: None,
        }))
        .await;
        match self.next().await {
            Some(Packet::SubAck(ack)) => ack,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// The next packet, which must be a PUBLISH.
    pub async fn expect_publish(&mut self) -> codec::Publish {
        match self.next().await {
            Some(Packet::Publish(p)) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Waits up to `limit` for the broker to close the connection: `Ok` with the packets it
    /// sent before closing, or `Err` with those it sent while staying open.
    pub async fn closed_within(&mut self, limit: Duration) -> Result<Vec<Packet>, Vec<Packet>> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Ok(Some(packet)) => seen.push(packet),
                Ok(None) => return Ok(seen),
                Err(()) => return Err(seen),
            }
        }
    }
}

/// A QoS 1 or 2 PUBLISH with packet id `pkid`, or QoS 0 without one.
pub fn publish_packet(topic: &str, qos: QoS, pkid: u16, retain: bool, payload: &str) -> Packet {
    Packet::Publish(codec::Publish {
        dup: false,
        qos,
        retain,
        topic: TopicName::new(topic).expect("valid topic"),
        pkid: match qos {
            QoS::AtMostOnce => None,
            _ => Some(codec::PacketId::new(pkid).expect("non-zero packet id")),
        },
        payload: Bytes::from(payload.to_string()),
        properties: None,
    })
}

/// An MQTT 5 CONNECT with the given id, Clean Start and properties (keepalive 30).
pub fn connect_v5(id: &str, clean_start: bool, properties: codec::Properties) -> Connect {
    Connect {
        level: ProtocolLevel::V5,
        client_id: id.to_string(),
        clean_session: clean_start,
        keep_alive: 30,
        will: None,
        username: None,
        password: None,
        properties: Some(Box::new(properties)),
    }
}

impl Raw {
    /// Subscribes (packet id `pkid`) with MQTT 5 options and an optional Subscription Identifier;
    /// returns the SUBACK.
    pub async fn subscribe_v5(
        &mut self,
        pkid: u16,
        filters: &[(&str, codec::SubOptions)],
        id: Option<u32>,
    ) -> codec::SubAck {
        self.send(&Packet::Subscribe(codec::Subscribe {
            pkid: codec::PacketId::new(pkid).expect("non-zero"),
            filters: filters.iter().map(|(f, o)| (f.to_string(), *o)).collect(),
            properties: id.map(|id| {
                Box::new(codec::Properties {
                    subscription_ids: vec![id],
                    ..codec::Properties::default()
                })
            }),
        }))
        .await;
        match self.next().await {
            Some(Packet::SubAck(ack)) => ack,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// The next packet, which must be a DISCONNECT from the server; returns its reason.
    pub async fn expect_disconnect(&mut self) -> codec::ReasonCode {
        match self.next().await {
            Some(Packet::Disconnect(d)) => d.reason,
            other => panic!("expected DISCONNECT, got {other:?}"),
        }
    }
}

/// A PUBLISH as [`publish_packet`], with MQTT 5 properties.
pub fn publish_v5(
    topic: &str,
    qos: QoS,
    pkid: u16,
    retain: bool,
    payload: &str,
    properties: codec::Properties,
) -> Packet {
    let mut packet = publish_packet(topic, qos, pkid, retain, payload);
    if let Packet::Publish(p) = &mut packet {
        p.properties = Some(Box::new(properties));
    }
    packet
}
