//! A minimal MQTT 3.1.1 and MQTT 5 client: the packets the scenarios send (CONNECT, SUBSCRIBE,
//! PUBLISH, PUBACK) and a frame splitter for what they receive.
//!
//! MQTT 5 ([`Version::V5`]) differs here only by the property blocks: an empty one is written
//! in CONNECT, SUBSCRIBE and PUBLISH (a persistent session's CONNECT carries its Session Expiry
//! Interval, [`Login::session_expiry`]), and the broker's (CONNACK, SUBACK, PUBLISH) are skipped
//! by their length. A PUBACK is written in its 2-byte form either way (MQTT 5 section 3.4.2.1:
//! reason code 0 and no properties may be left out) and the one DISCONNECT, of remaining
//! length 0, is a normal disconnection in both.
//!
//! Why not `arbor_actors::codec`: the harness measures Mosquitto with the same client, so it
//! should not share code with the broker under test, and it must keep building while the
//! broker changes. The codec also validates and copies every topic into an `Arc<str>`, which
//! is right for a broker and wasted work for a load generator that shares two cores with it.
//! Why not rumqttc: one event loop and a channel hop per message caps a client well below
//! what a broker can take. Here a subscriber splits frames in place ([`parse_frame`]), never
//! allocates per message, and answers a whole read's worth of QoS 1 messages in one write.
//!
//! Only the peer's frame boundaries and the fields we use are checked: a broker sending
//! something malformed shows up as an error on that connection, and the run reports it.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::Poll;

use anyhow::{bail, Context, Result};
use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

use crate::props::{property_block, receive_maximum, skip_properties};

/// CONNACK packet type.
pub const CONNACK: u8 = 2;
/// PUBLISH packet type.
pub const PUBLISH: u8 = 3;
/// PUBACK packet type.
pub const PUBACK: u8 = 4;
/// SUBACK packet type.
pub const SUBACK: u8 = 9;

/// Largest frame we accept from a broker; ours are far smaller.
const MAX_FRAME: usize = 1 << 20;

/// The protocol a client speaks: its CONNECT's protocol level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1.1, protocol level 4.
    V311,
    /// MQTT 5, protocol level 5.
    V5,
}

impl Version {
    /// From the command line's `--mqtt-version` (the protocol level).
    pub fn from_level(level: u8) -> Result<Version> {
        match level {
            4 => Ok(Version::V311),
            5 => Ok(Version::V5),
            other => bail!("mqtt version {other} is not supported (4 for 3.1.1, or 5)"),
        }
    }

    /// The protocol level byte of CONNECT.
    pub fn level(self) -> u8 {
        match self {
            Version::V311 => 4,
            Version::V5 => 5,
        }
    }
}

/// Delivery guarantee of a publish or subscription; the scenarios use 0 and 1 only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QoS {
    /// Fire and forget.
    AtMostOnce = 0,
    /// Acknowledged with PUBACK.
    AtLeastOnce = 1,
}

impl QoS {
    /// From the command line's `--qos`.
    pub fn from_level(level: u8) -> Result<QoS> {
        match level {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            other => bail!("qos {other} is not supported (0 or 1)"),
        }
    }
}

/// One frame borrowed from a read buffer.
pub struct Frame<'a> {
    /// Packet type, the high nibble of the first byte.
    pub kind: u8,
    /// Low nibble of the first byte.
    pub flags: u8,
    /// Everything after the fixed header.
    pub body: &'a [u8],
}

/// A PUBLISH as a subscriber sees it.
pub struct Incoming<'a> {
    /// QoS of this delivery.
    pub qos: u8,
    /// Packet id (0 at QoS 0).
    pub pkid: u16,
    /// The application payload.
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Reads the variable header of a PUBLISH (and skips its properties under MQTT 5).
    pub fn publish(&self, version: Version) -> Result<Incoming<'a>> {
        let qos = (self.flags >> 1) & 0b11;
        let body = self.body;
        let topic_len = match body {
            [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => bail!("publish without a topic length"),
        };
        let mut at = 2 + topic_len;
        let mut pkid = 0;
        if qos > 0 {
            let Some(id) = body.get(at..at + 2) else {
                bail!("publish without a packet id");
            };
            pkid = u16::from_be_bytes([id[0], id[1]]);
            at += 2;
        }
        if version == Version::V5 {
            at = skip_properties(body, at).context("publish properties")?;
        }
        let Some(payload) = body.get(at..) else {
            bail!("publish topic longer than the frame");
        };
        Ok(Incoming { qos, pkid, payload })
    }
}

/// Splits the frame at the front of `buf`: `Ok(None)` if it is not all there yet, else the
/// frame and its whole length (header included) for the caller to advance by.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>> {
    let Some((&first, rest)) = buf.split_first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    let mut header = 1;
    for (i, &byte) in rest.iter().take(4).enumerate() {
        len |= usize::from(byte & 0x7F) << (7 * i);
        header += 1;
        if byte & 0x80 == 0 {
            if len > MAX_FRAME {
                bail!("broker sent a {len}-byte frame");
            }
            let Some(body) = buf.get(header..header + len) else {
                return Ok(None);
            };
            let frame = Frame {
                kind: first >> 4,
                flags: first & 0x0F,
                body,
            };
            return Ok(Some((frame, header + len)));
        }
    }
    if rest.len() >= 4 {
        bail!("remaining length longer than 4 bytes");
    }
    Ok(None)
}

fn put_remaining_len(buf: &mut BytesMut, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if len == 0 {
            break;
        }
    }
}

fn put_str(buf: &mut BytesMut, s: &str) {
    // Our own topics and client ids, all far below 64 KiB.
    buf.put_u16(s.len() as u16);
    buf.put_slice(s.as_bytes());
}

/// The length of an empty property block: one byte, 0, under MQTT 5; nothing before it.
fn props_len(version: Version) -> usize {
    usize::from(version == Version::V5)
}

/// Writes an empty property block under MQTT 5.
fn put_no_props(buf: &mut BytesMut, version: Version) {
    if version == Version::V5 {
        buf.put_u8(0);
    }
}

/// CONNECT, no will, no credentials. A clean session (`session_expiry` None: 3.1.1 clean
/// session 1; MQTT 5 clean start and no properties, so session expiry 0), or a persistent one
/// (`Some(secs)`: 3.1.1 clean session 0; MQTT 5 clean start 0 and a Session Expiry Interval of
/// `secs`, its one property).
pub fn put_connect(
    buf: &mut BytesMut,
    client_id: &str,
    keep_alive: u16,
    version: Version,
    session_expiry: Option<u32>,
) {
    // MQTT 5 Session Expiry Interval: identifier 0x11, four-byte integer.
    let expiry_prop = match (version, session_expiry) {
        (Version::V5, Some(_)) => 5,
        _ => 0,
    };
    let body = 10 + props_len(version) + expiry_prop + 2 + client_id.len();
    buf.put_u8(0x10);
    put_remaining_len(buf, body);
    put_str(buf, "MQTT");
    buf.put_u8(version.level());
    buf.put_u8(if session_expiry.is_some() { 0x00 } else { 0x02 });
    buf.put_u16(keep_alive);
    match (version, session_expiry) {
        (Version::V5, Some(secs)) => {
            buf.put_u8(5);
            buf.put_u8(0x11);
            buf.put_u32(secs);
        }
        _ => put_no_props(buf, version),
    }
    put_str(buf, client_id);
}

/// SUBSCRIBE with one filter (MQTT 5: options are the QoS alone, no properties).
pub fn put_subscribe(buf: &mut BytesMut, pkid: u16, filter: &str, qos: QoS, version: Version) {
    buf.put_u8(0x82);
    put_remaining_len(buf, 2 + props_len(version) + 2 + filter.len() + 1);
    buf.put_u16(pkid);
    put_no_props(buf, version);
    put_str(buf, filter);
    buf.put_u8(qos as u8);
}

/// PUBLISH, not retained; `pkid` is written only at QoS 1.
pub fn put_publish(buf: &mut BytesMut, topic: &str, qos: QoS, pkid: u16, payload: &[u8], version: Version) {
    let id_len = if qos == QoS::AtMostOnce { 0 } else { 2 };
    buf.put_u8(0x30 | (qos as u8) << 1);
    put_remaining_len(buf, 2 + topic.len() + id_len + props_len(version) + payload.len());
    put_str(buf, topic);
    if qos != QoS::AtMostOnce {
        buf.put_u16(pkid);
    }
    put_no_props(buf, version);
    buf.put_slice(payload);
}

/// PUBACK.
pub fn put_puback(buf: &mut BytesMut, pkid: u16) {
    buf.put_u8(0x40);
    buf.put_u8(2);
    buf.put_u16(pkid);
}

/// Hands out source ports round-robin over the kernel's ephemeral range, for opening many
/// connections to one address.
///
/// Without it each `connect` makes the kernel search for a free port
/// (`__inet_hash_connect`), checking candidates against every connection already open to the
/// same destination: with 19,000 open that search took most of the load generator's CPU and
/// capped the idle scenario near 2,500 connects/s whatever the broker. `bind` to a port we
/// pick is one hash lookup; a port in use (`EADDRINUSE`) is skipped.
pub struct SourcePorts {
    next: AtomicU32,
    low: u16,
    count: u32,
}

impl SourcePorts {
    /// The range of `/proc/sys/net/ipv4/ip_local_port_range`, or Linux's default one.
    pub fn ephemeral() -> SourcePorts {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
        let mut ends = range.split_whitespace().filter_map(|p| p.parse::<u16>().ok());
        let (low, high) = match (ends.next(), ends.next()) {
            (Some(low), Some(high)) if low < high => (low, high),
            _ => (32768, 60999),
        };
        SourcePorts {
            next: AtomicU32::new(0),
            low,
            count: u32::from(high - low) + 1,
        }
    }

    /// Binds `socket` to the next free port of the range on `ip` (the destination's address:
    /// on loopback that is also the source).
    fn bind(&self, socket: &TcpSocket, ip: IpAddr) -> Result<()> {
        for _ in 0..self.count.min(4096) {
            let offset = self.next.fetch_add(1, Ordering::Relaxed) % self.count;
            // offset < count <= 65536 - low, so the sum fits.
            let port = self.low + offset as u16;
            match socket.bind(SocketAddr::new(ip, port)) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e).context("bind source port"),
            }
        }
        bail!("no free source port in the ephemeral range")
    }
}

/// What every CONNECT of a run says besides its client id.
#[derive(Clone, Copy, Debug)]
pub struct Login {
    /// The protocol level.
    pub version: Version,
    /// Keep alive in seconds; 0 turns it off [MQTT-3.1.2-10]. Clients send no PINGREQ, so a
    /// non-zero value must exceed the longest silence of a run (a QoS 0 subscriber says
    /// nothing after its SUBSCRIBE, an idle connection nothing during the hold).
    pub keep_alive: u16,
    /// `None`: a clean session, gone with the connection. `Some(secs)`: a persistent session
    /// (3.1.1 clean session 0; MQTT 5 clean start 0 with this Session Expiry Interval).
    pub session_expiry: Option<u32>,
}

impl Login {
    /// The same login for a persistent session that outlives its connection by `secs`.
    pub fn persistent(self, secs: u32) -> Login {
        Login {
            session_expiry: Some(secs),
            ..self
        }
    }
}

/// A client's TLS settings (`--tls-ca`): trust, and the name the server's certificate has.
pub type Tls = Arc<rustls::ClientConfig>;

/// Builds the TLS settings trusting the CA certificates in `ca` (PEM).
pub fn tls_trusting(ca: &std::path::Path) -> Result<Tls> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(ca).with_context(|| format!("{}", ca.display()))?
    {
        roots.add(cert.with_context(|| format!("{}", ca.display()))?)?;
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client's byte stream: TCP, or TLS over it.
pub enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS (boxed: far larger than a socket).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The read side of a split [`Stream`].
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write side of a split [`Stream`].
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

impl Stream {
    /// The TCP socket under it.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// Splits it for a reader task and a writer.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Stream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (Box::new(r), Box::new(w))
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connected client: the socket and whatever was read past the last handled frame.
pub struct Conn {
    /// The socket, split by the roles that need to.
    pub stream: Stream,
    /// Bytes read but not yet parsed.
    pub rbuf: BytesMut,
    /// The protocol it connected with.
    pub version: Version,
    /// The server's Receive Maximum (MQTT 5; 65,535 under 3.1.1): a QoS 1 publisher keeps
    /// at most this many unacknowledged, or an MQTT 5 broker may close the connection.
    pub receive_maximum: u16,
    /// CONNACK's Session Present flag: the broker resumed a session it kept for this id.
    pub session_present: bool,
}

impl Conn {
    /// Opens the TCP connection, sends CONNECT and waits for a CONNACK accepting it.
    /// `recv_buffer` shrinks SO_RCVBUF before connecting (the slow consumer uses it so the
    /// kernel does not absorb what the broker should be holding back).
    /// `source`, when given, picks the source port (see [`SourcePorts`]); `tls`, when given,
    /// runs a TLS handshake (server name `localhost`) before CONNECT.
    pub async fn connect(
        addr: SocketAddr,
        client_id: &str,
        login: Login,
        recv_buffer: Option<u32>,
        source: Option<&SourcePorts>,
        tls: Option<&Tls>,
    ) -> Result<Conn> {
        let Login {
            version,
            keep_alive,
            session_expiry,
        } = login;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .context("socket")?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).context("SO_RCVBUF")?;
        }
        if let Some(source) = source {
            source.bind(&socket, addr.ip())?;
        }
        let stream = socket.connect(addr).await.context("tcp connect")?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let stream = match tls {
            None => Stream::Tcp(stream),
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from("localhost").context("server name")?;
                let tls = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, stream)
                    .await
                    .context("TLS handshake")?;
                Stream::Tls(Box::new(tls))
            }
        };
        let mut conn = Conn {
            stream,
            rbuf: BytesMut::with_capacity(4096),
            version,
            receive_maximum: u16::MAX,
            session_present: false,
        };
        let mut out = BytesMut::with_capacity(64);
        put_connect(&mut out, client_id, keep_alive, version, session_expiry);
        conn.stream.write_all(&out).await.context("send CONNECT")?;
        let body = conn.read_until(CONNACK).await.context("await CONNACK")?;
        conn.receive_maximum = check_connack(&body, version)?;
        conn.session_present = body.first().is_some_and(|flags| flags & 1 == 1);
        Ok(conn)
    }

    /// Subscribes to one filter and waits for a SUBACK granting it.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<()> {
        let mut out = BytesMut::with_capacity(16 + filter.len());
        put_subscribe(&mut out, 1, filter, qos, self.version);
        self.stream.write_all(&out).await.context("send SUBSCRIBE")?;
        let body = self.read_until(SUBACK).await.context("await SUBACK")?;
        check_suback(&body, self.version).with_context(|| format!("SUBACK for {filter}"))
    }

    /// Sends DISCONNECT, waits (at most `wait`) for the broker to close the connection, then
    /// resets it: the broker closed first, so a reset leaves no TIME_WAIT socket on either side
    /// (100,000 sessions made one after the other would otherwise use up the ephemeral ports).
    /// Frames the broker sends meanwhile are dropped. Errors if the broker did not close.
    pub async fn close(mut self, wait: std::time::Duration) -> Result<()> {
        self.stream
            .write_all(&[0xE0, 0x00])
            .await
            .context("send DISCONNECT")?;
        let closed = tokio::time::timeout(wait, async {
            let mut sink = [0u8; 4096];
            loop {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        let _ = self.stream.tcp().set_zero_linger();
        closed.map_err(|_| {
            anyhow::anyhow!("the broker did not close the connection within {wait:?} of DISCONNECT")
        })
    }

    /// Reads until a frame of type `kind` arrives and returns its body; frames before it are
    /// skipped (none are expected during setup).
    async fn read_until(&mut self, kind: u8) -> Result<Vec<u8>> {
        loop {
            if let Some((frame, len)) = parse_frame(&self.rbuf)? {
                let found = (frame.kind == kind).then(|| frame.body.to_vec());
                self.rbuf.advance(len);
                if let Some(body) = found {
                    return Ok(body);
                }
                continue;
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                bail!("broker closed the connection");
            }
        }
    }
}

/// Accepts a CONNACK body that accepts the connection: return code (3.1.1) or reason code
/// (MQTT 5, followed by properties) 0. Returns the server's Receive Maximum: the most QoS 1
/// messages a client may have unacknowledged (MQTT 5 section 3.2.2.3.3; 65,535 when absent,
/// and under 3.1.1, which has no such limit).
/// A refusal is reported with its code before anything else is read, so that a broker that
/// answers an MQTT 5 CONNECT with a 3.1.1 refusal (two bytes, no properties) shows as refused.
fn check_connack(body: &[u8], version: Version) -> Result<u16> {
    match (body, version) {
        ([_, 0], Version::V311) => Ok(u16::MAX),
        ([_, 0, ..], Version::V5) => {
            let props = property_block(body, 2).context("malformed CONNACK")?;
            let max = receive_maximum(props).context("malformed CONNACK properties")?;
            Ok(max.unwrap_or(u16::MAX))
        }
        ([_, code], _) | ([_, code, _, ..], Version::V5) => {
            bail!("CONNACK refused with code {code:#04x}")
        }
        _ => bail!("malformed CONNACK ({} bytes)", body.len()),
    }
}

/// Accepts a SUBACK body that grants its one filter: packet id, (MQTT 5) properties, then a
/// code below 0x80.
fn check_suback(body: &[u8], version: Version) -> Result<()> {
    let at = match version {
        Version::V311 => 2,
        Version::V5 => skip_properties(body, 2).context("malformed SUBACK")?,
    };
    match body.get(at..) {
        Some([code]) if *code < 0x80 => Ok(()),
        Some([code]) => bail!("refused with code {code:#04x}"),
        _ => bail!("malformed SUBACK ({} bytes)", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_roundtrips_through_parse_frame() {
        let mut buf = BytesMut::new();
        let payload = vec![7u8; 300];
        put_publish(&mut buf, "a/b", QoS::AtLeastOnce, 42, &payload, Version::V311);
        put_puback(&mut buf, 9);
        let (frame, len) = parse_frame(&buf).unwrap().unwrap();
        assert_eq!(frame.kind, PUBLISH);
        let incoming = frame.publish(Version::V311).unwrap();
        assert_eq!((incoming.qos, incoming.pkid), (1, 42));
        assert_eq!(incoming.payload, &payload[..]);
        let (ack, _) = parse_frame(&buf[len..]).unwrap().unwrap();
        assert_eq!((ack.kind, ack.body), (PUBACK, &[0u8, 9][..]));
    }

    #[test]
    fn truncated_frames_are_incomplete() {
        let mut buf = BytesMut::new();
        put_publish(&mut buf, "t", QoS::AtMostOnce, 0, &[1; 200], Version::V311);
        for end in 0..buf.len() {
            assert!(
                parse_frame(&buf[..end]).unwrap().is_none(),
                "prefix of {end} bytes"
            );
        }
    }

    #[test]
    fn connect_and_subscribe_encode_as_the_spec_says() {
        let mut buf = BytesMut::new();
        put_connect(&mut buf, "c", 0, Version::V311, None);
        assert_eq!(&buf[..], b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x00\x00\x01c");
        buf.clear();
        // Persistent: clean session 0.
        put_connect(&mut buf, "c", 0, Version::V311, Some(3600));
        assert_eq!(&buf[..], b"\x10\x0d\x00\x04MQTT\x04\x00\x00\x00\x00\x01c");
        buf.clear();
        put_subscribe(&mut buf, 1, "#", QoS::AtLeastOnce, Version::V311);
        assert_eq!(&buf[..], b"\x82\x06\x00\x01\x00\x01#\x01");
    }

    #[test]
    fn v5_packets_carry_an_empty_property_block() {
        let mut buf = BytesMut::new();
        put_connect(&mut buf, "c", 0, Version::V5, None);
        // Level 5, clean start, keep alive 0, property length 0, client id "c".
        assert_eq!(&buf[..], b"\x10\x0e\x00\x04MQTT\x05\x02\x00\x00\x00\x00\x01c");
        buf.clear();
        // Persistent: clean start 0, Session Expiry Interval 3600 (0x11, four bytes).
        put_connect(&mut buf, "c", 0, Version::V5, Some(3600));
        assert_eq!(
            &buf[..],
            b"\x10\x13\x00\x04MQTT\x05\x00\x00\x00\x05\x11\x00\x00\x0e\x10\x00\x01c"
        );
        buf.clear();
        put_subscribe(&mut buf, 1, "#", QoS::AtLeastOnce, Version::V5);
        assert_eq!(&buf[..], b"\x82\x07\x00\x01\x00\x00\x01#\x01");
        buf.clear();
        put_publish(&mut buf, "t", QoS::AtLeastOnce, 7, b"hi", Version::V5);
        assert_eq!(&buf[..], b"\x32\x08\x00\x01t\x00\x07\x00hi");
    }

    #[test]
    fn v5_publish_connack_and_suback_properties_are_skipped() {
        // A QoS 1 PUBLISH with a 3-byte property block (topic alias 1).
        let body = b"\x00\x01t\x00\x07\x03\x23\x00\x01payload";
        let frame = Frame {
            kind: PUBLISH,
            flags: 0b0010,
            body,
        };
        let incoming = frame.publish(Version::V5).unwrap();
        assert_eq!(
            (incoming.qos, incoming.pkid, incoming.payload),
            (1, 7, &b"payload"[..])
        );
        // A property length running past the packet is an error, not a panic.
        let frame = Frame {
            kind: PUBLISH,
            flags: 0,
            body: b"\x00\x01t\x09\x00",
        };
        assert!(frame.publish(Version::V5).is_err());
        // CONNACK: flags, reason code, properties (receive maximum 32).
        // CONNACK: flags, reason code, properties (topic alias maximum 10, a reason string,
        // receive maximum 32): the receive maximum is the publishers' limit.
        let connack = b"\x00\x00\x0b\x22\x00\x0a\x1f\x00\x02ok\x21\x00\x20";
        assert_eq!(check_connack(connack, Version::V5).unwrap(), 32);
        assert_eq!(check_connack(b"\x00\x00\x00", Version::V5).unwrap(), u16::MAX);
        assert!(check_connack(b"\x00\x84\x00", Version::V5).is_err());
        // A 3.1.1 broker's refusal of a level-5 CONNECT: return code 1, no properties.
        let refusal = check_connack(b"\x00\x01", Version::V5).unwrap_err();
        assert!(
            refusal.to_string().contains("refused with code 0x01"),
            "{refusal}"
        );
        assert!(check_connack(b"\x00\x00", Version::V5).is_err());
        assert!(check_connack(b"\x00\x00\x02\x21\x00", Version::V5).is_err());
        assert_eq!(check_connack(b"\x00\x00", Version::V311).unwrap(), u16::MAX);
        // SUBACK: packet id, properties, one reason code.
        assert!(check_suback(b"\x00\x01\x00\x01", Version::V5).is_ok());
        assert!(check_suback(b"\x00\x01\x03\x1f\x00\x00\x00", Version::V5).is_ok());
        assert!(check_suback(b"\x00\x01\x05\x00", Version::V5).is_err());
        assert!(check_suback(b"\x00\x01\x00\x87", Version::V5).is_err());
        assert!(check_suback(b"\x00\x01\x01", Version::V311).is_ok());
    }
}
