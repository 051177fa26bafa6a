//! MQTT over WebSocket (kinds `ws` and `wss`): the HTTP upgrade on the configured path, and
//! [`WsIo`], which makes a WebSocket look like a byte stream to the reader and the session.
//!
//! MQTT over WebSocket is binary frames only [MQTT-6.0.0-1]; a packet may be split across
//! frames or several packets packed in one [MQTT-6.0.0-2], which a byte stream gives for free:
//! each binary frame's payload is read in order, the codec frames packets as on TCP, and each
//! write of the session goes out as one binary frame. A text frame closes the connection. Pings
//! are answered by tungstenite while the reader reads. The subprotocol answered is the first
//! the client offers of `mqtt` and `mqttv3.1` [MQTT-6.0.0-3]; a client offering others only is
//! refused, one offering none is served.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// `[listeners.<name>.ws]`: required by the kinds `ws` and `wss`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsConfig {
    /// The HTTP path clients upgrade on (emqttd's `/mqtt`).
    pub path: String,
    /// A header a trusted proxy in front puts the client's address in (`X-Forwarded-For`: the
    /// first address of the list); `""` trusts none.
    pub proxy_address_header: String,
}

/// The subprotocols served, in the order a tie is broken.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// Runs the server side of the upgrade on `stream`; the error says why it failed. Also returns
/// the client's address from `proxy_address_header`, when configured and present.
#[allow(clippy::result_large_err)] // the callback's error type is tungstenite's
pub async fn accept<S>(stream: S, config: &WsConfig) -> Result<(WsIo<S>, Option<IpAddr>), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut forwarded = None;
    let check = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        if !config.proxy_address_header.is_empty() {
            forwarded = request
                .headers()
                .get(config.proxy_address_header.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|first| first.trim().parse().ok());
        }
        if request.uri().path() != config.path {
            return Err(refusal(StatusCode::NOT_FOUND, "no MQTT endpoint on this path"));
        }
        let offered: Vec<&str> = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(str::trim))
            .collect();
        if !offered.is_empty() {
            let Some(chosen) = offered.iter().find(|p| SUBPROTOCOLS.contains(*p)) else {
                return Err(refusal(
                    StatusCode::BAD_REQUEST,
                    "subprotocol must be mqtt or mqttv3.1",
                ));
            };
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(if *chosen == "mqtt" { "mqtt" } else { "mqttv3.1" }),
            );
        }
        Ok(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async(stream, check)
        .await
        .map_err(|e| e.to_string())?;
    let io = WsIo {
        ws,
        pending: Bytes::new(),
    };
    Ok((io, forwarded))
}

fn refusal(status: StatusCode, why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(why.to_string()));
    *response.status_mut() = status;
    response
}

/// A WebSocket as a byte stream: reads are the binary frames' payloads in order, each write is
/// one binary frame.
pub struct WsIo<S> {
    ws: WebSocketStream<S>,
    /// What is left of the last binary frame read.
    pending: Bytes,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a text frame: MQTT over WebSocket is binary frames only [MQTT-6.0.0-1]",
                    )))
                }
                // The end of the stream, as a TCP EOF.
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                // Pings (answered by tungstenite), pongs.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let ws = &mut self.get_mut().ws;
        ready!(Pin::new(&mut *ws).poll_ready(cx)).map_err(io::Error::other)?;
        Pin::new(ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io::Error::other)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io::Error::other)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(io::Error::other)
    }
}
