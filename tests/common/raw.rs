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
        }
    }

    /// Opens a connection and completes CONNECT; returns it with the CONNACK.
    pub async fn connected(addr: SocketAddr, connect: Connect) -> (Self, ConnAck) {
        let mut raw = Self::open(addr).await;
        raw.send(&Packet::Connect(Box::new(connect))).await;
        match raw.next().await {
            Some(Packet::ConnAck(ack)) => (raw, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Sends a packet.
    pub async fn send(&mut self, packet: &Packet) {
        let mut out = BytesMut::new();
        codec::encode(packet, ProtocolLevel::V311, &mut out);
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
                if let Ok(Some(packet)) = codec::decode(&mut self.buf, 1 << 20, None) {
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
