//! What a listener speaks (`kind = "tcp" | "tls" | "ws" | "wss"`) and the handshake that turns
//! an admitted TCP socket into a byte stream carrying MQTT.
//!
//! Every kind is the same esockd subtree; only this step differs. TCP has none: the connection
//! splits its socket as it always did, so the plain path stays free of any of this. For the
//! others the TLS handshake and/or the WebSocket upgrade run at the start of the connection's
//! reader task ([`upgrade`]), never in the acceptor nor in the connection's start (which
//! connection_sup waits for), under the connection's CONNECT deadline, so a slow or hostile
//! handshake holds nothing but its own task. A failure is counted on the listener by reason
//! (`tls_handshake`, `ws_upgrade`, `timeout`) and closes that connection.
//!
//! The upgraded stream is split with `tokio::io::split`: the reader reads its half; the write
//! half becomes the session's [`Writer`], like TCP's.
//!
//! Behind a proxy (`proxy_protocol = true`, any kind, TCP included, which then takes this path
//! too; or a WebSocket listener's `proxy_address_header`), the address the proxy names is the
//! client's: the listener's access rules are checked again against it (refused: counted
//! `access_denied`), and the connection, its ACL `ip:` rules and the clients list use it. With
//! `trusted_proxies` set, only a peer inside those networks is believed: another's PROXY header
//! closes the connection (counted `proxy_protocol`), another's forwarding header is ignored.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::esockd::table::ListenerTable;
use crate::esockd::{access, proxy, tls, ws};
use crate::session::outbox::Writer;

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// MQTT over TCP.
    Tcp,
    /// MQTT over TLS.
    Tls,
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss,
}

impl Kind {
    /// The word in the config and in listener ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Tls => "tls",
            Kind::Ws => "ws",
            Kind::Wss => "wss",
        }
    }

    /// Whether it needs a `tls` table.
    pub fn uses_tls(self) -> bool {
        matches!(self, Kind::Tls | Kind::Wss)
    }

    /// Whether it needs a `ws` table.
    pub fn uses_ws(self) -> bool {
        matches!(self, Kind::Ws | Kind::Wss)
    }

    /// ALPN protocols offered besides `mqtt`.
    pub(super) fn alpn(self) -> &'static [&'static [u8]] {
        match self {
            Kind::Wss => &[b"http/1.1"],
            _ => &[],
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A byte stream MQTT runs over once the handshake is done.
pub trait Io: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> Io for T {}

/// The reader's half of an upgraded stream.
pub type StreamRead = tokio::io::ReadHalf<Box<dyn Io>>;

/// An upgraded connection.
pub struct Upgraded {
    /// The client's real address, when a PROXY header or a trusted forwarding header named it.
    pub peer: Option<SocketAddr>,
    /// What the reader reads.
    pub read: StreamRead,
    /// What the session will write.
    pub writer: Writer,
    /// The username the client certificate gives (`peer_cert_as_username`).
    pub cert_username: Option<String>,
}

/// Why a handshake failed; [`HandshakeError::reason`] is the listener's counter.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// The WebSocket upgrade failed.
    #[error("WebSocket upgrade failed: {0}")]
    Ws(String),
    /// The PROXY protocol header was missing or malformed.
    #[error("PROXY protocol: {0}")]
    Proxy(String),
    /// The real address the proxy named is denied by the listener's access rules.
    #[error("access denied to {0}, the address the proxy named")]
    Denied(SocketAddr),
    /// Either did not finish before the CONNECT deadline.
    #[error("handshake not finished within connect_timeout")]
    Timeout,
}

impl HandshakeError {
    /// The counter it goes under.
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::Tls(_) => "tls_handshake",
            HandshakeError::Ws(_) => "ws_upgrade",
            HandshakeError::Proxy(_) => "proxy_protocol",
            HandshakeError::Denied(_) => "access_denied",
            HandshakeError::Timeout => "timeout",
        }
    }
}

/// Runs `table`'s handshake on `socket`, finished by `deadline`; a failure is counted.
pub async fn upgrade(
    socket: TcpStream,
    table: &Arc<ListenerTable>,
    deadline: Instant,
) -> Result<Upgraded, HandshakeError> {
    let result = match tokio::time::timeout_at(deadline, handshake(socket, table)).await {
        Ok(result) => result,
        Err(_) => Err(HandshakeError::Timeout),
    };
    if let Err(e) = &result {
        table.count(e.reason());
    }
    result
}

async fn handshake(socket: TcpStream, table: &ListenerTable) -> Result<Upgraded, HandshakeError> {
    let _ = socket.set_nodelay(true);
    let socket_peer = socket.peer_addr().ok();
    // The PROXY header first, read through a small buffer that stays under the stream.
    let proxies = &table.config().trusted_proxies;
    let trusted = socket_peer.map_or(proxies.is_empty(), |p| access::proxy_trusted(proxies, p.ip()));
    if table.config().proxy_protocol && !trusted {
        return Err(HandshakeError::Proxy(format!(
            "{} is not a trusted proxy",
            socket_peer.map_or_else(|| "the peer".to_string(), |p| p.ip().to_string())
        )));
    }
    let (base, mut peer): (Box<dyn Io>, _) = if table.config().proxy_protocol {
        let mut buffered = BufReader::with_capacity(PROXY_BUFFER, socket);
        let peer = proxy::read_header(&mut buffered)
            .await
            .map_err(HandshakeError::Proxy)?;
        (Box::new(buffered), peer)
    } else {
        (Box::new(socket), None)
    };
    let ws = table.config().ws.as_ref();
    let upgrade = |stream| async move {
        let ws = ws.ok_or_else(|| HandshakeError::Ws("no [ws] table".into()))?;
        ws::accept(stream, ws).await.map_err(HandshakeError::Ws)
    };
    let (io, user, forwarded): (Box<dyn Io>, _, _) = match table.kind() {
        Kind::Tcp => (base, None, None),
        Kind::Ws => {
            let (ws, forwarded) = upgrade(base).await?;
            (Box::new(ws), None, forwarded)
        }
        Kind::Tls => {
            let (stream, user) = tls_accept(base, table).await?;
            (Box::new(stream), user, None)
        }
        Kind::Wss => {
            let (stream, user) = tls_accept(base, table).await?;
            let (ws, forwarded) = upgrade(Box::new(stream)).await?;
            (Box::new(ws), user, forwarded)
        }
    };
    // A forwarding header names the client's IP, not its port; believed from a trusted proxy.
    if let Some(ip) = forwarded.filter(|_| trusted) {
        let port = peer.or(socket_peer).map_or(0, |p| p.port());
        peer = Some(SocketAddr::new(ip, port));
    }
    if let Some(real) = peer {
        if !table.admits(real.ip()) {
            return Err(HandshakeError::Denied(real));
        }
    }
    Ok(split(io, user, peer))
}

/// The buffer under a PROXY-protocol stream: a v1 line or a v2 header with room to spare.
const PROXY_BUFFER: usize = 512;

async fn tls_accept(
    socket: Box<dyn Io>,
    table: &ListenerTable,
) -> Result<(tokio_rustls::server::TlsStream<Box<dyn Io>>, Option<String>), HandshakeError> {
    let loaded = table
        .tls()
        .ok_or_else(|| HandshakeError::Tls(std::io::Error::other("no TLS configuration")))?;
    let stream = TlsAcceptor::from(loaded.server)
        .accept(socket)
        .await
        .map_err(HandshakeError::Tls)?;
    let cert = stream.get_ref().1.peer_certificates().and_then(|c| c.first());
    let user = tls::peer_cert_username(loaded.peer_cert_as_username, cert);
    Ok((stream, user))
}

fn split(io: Box<dyn Io>, cert_username: Option<String>, peer: Option<SocketAddr>) -> Upgraded {
    let (read, write) = tokio::io::split(io);
    Upgraded {
        peer,
        read,
        writer: Box::new(write),
        cert_username,
    }
}
