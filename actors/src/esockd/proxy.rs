//! The PROXY protocol, v1 (text) and v2 (binary), as HAProxy and cloud load balancers send it
//! (`proxy_protocol = true` on a listener): the real client's address, ahead of everything else
//! on the connection.
//!
//! Read by the connection's reader before the TLS handshake or the WebSocket upgrade, within
//! the same deadline. The header is read through a small buffer that stays under the stream, so
//! nothing the client sent after it is lost. `LOCAL` (v2) and `UNKNOWN` (v1) headers, a proxy's
//! own health checks, keep the socket's address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 line, CRLF included (the specification's bound).
const V1_MAX: u64 = 107;

/// Reads the PROXY header from `stream`; the address it names, if any.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
) -> Result<Option<SocketAddr>, String> {
    let mut first = [0u8; 12];
    stream
        .read_exact(&mut first[..1])
        .await
        .map_err(|e| e.to_string())?;
    if first[0] == b'P' {
        let mut line = vec![first[0]];
        (&mut *stream)
            .take(V1_MAX - 1)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| e.to_string())?;
        return parse_v1(&line);
    }
    stream
        .read_exact(&mut first[1..])
        .await
        .map_err(|e| e.to_string())?;
    if &first != V2_SIGNATURE {
        return Err("no PROXY protocol header".into());
    }
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(|e| e.to_string())?;
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    parse_v2(head[0], head[1], &body)
}

/// `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN…\r\n`.
fn parse_v1(line: &[u8]) -> Result<Option<SocketAddr>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "PROXY v1 header is not text".to_string())?;
    let text = text
        .strip_suffix("\r\n")
        .ok_or_else(|| "PROXY v1 header without CRLF within 107 bytes".to_string())?;
    let fields: Vec<&str> = text.split(' ').collect();
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", "TCP4" | "TCP6", src, _dst, sport, _dport] => {
            let ip: IpAddr = src
                .parse()
                .map_err(|_| format!("PROXY v1: bad source address {src:?}"))?;
            let port: u16 = sport
                .parse()
                .map_err(|_| format!("PROXY v1: bad source port {sport:?}"))?;
            Ok(Some(SocketAddr::new(ip, port)))
        }
        _ => Err(format!("malformed PROXY v1 header {text:?}")),
    }
}

/// v2's version/command byte, family byte and address block.
fn parse_v2(ver_cmd: u8, family: u8, body: &[u8]) -> Result<Option<SocketAddr>, String> {
    if ver_cmd >> 4 != 2 {
        return Err(format!("PROXY v2: version {} is not 2", ver_cmd >> 4));
    }
    match ver_cmd & 0x0f {
        0 => return Ok(None), // LOCAL: the proxy's own connection
        1 => {}
        other => return Err(format!("PROXY v2: unknown command {other}")),
    }
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    match family >> 4 {
        1 if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Ok(Some(SocketAddr::new(ip.into(), port(8))))
        }
        2 if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            Ok(Some(SocketAddr::new(Ipv6Addr::from(octets).into(), port(32))))
        }
        // AF_UNSPEC or AF_UNIX: no IP address to show.
        0 | 3 => Ok(None),
        _ => Err("PROXY v2: address block too short for its family".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (Result<Option<SocketAddr>, String>, Vec<u8>) {
        let mut stream = BufReader::new(bytes);
        let header = read_header(&mut stream).await;
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        (header, rest)
    }

    #[tokio::test]
    async fn v1_gives_the_source_and_keeps_what_follows() {
        let (addr, rest) = read(b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n\x10\x0c").await;
        assert_eq!(addr, Ok(Some("203.0.113.7:51000".parse().expect("addr"))));
        assert_eq!(rest, b"\x10\x0c");
        let (addr, _) = read(b"PROXY TCP6 2001:db8::1 ::1 4000 1883\r\n").await;
        assert_eq!(addr, Ok(Some("[2001:db8::1]:4000".parse().expect("addr"))));
        assert_eq!(read(b"PROXY UNKNOWN\r\n").await.0, Ok(None));
    }

    #[tokio::test]
    async fn v2_gives_the_source_and_keeps_what_follows() {
        let mut header = V2_SIGNATURE.to_vec();
        header.extend_from_slice(&[
            0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x07, 0x5b,
        ]);
        header.extend_from_slice(b"\x10\x0c");
        let (addr, rest) = read(&header).await;
        assert_eq!(addr, Ok(Some("198.51.100.9:8080".parse().expect("addr"))));
        assert_eq!(rest, b"\x10\x0c");
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(read(&local).await.0, Ok(None));
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        assert!(read(b"\x10\x0c\x00\x04MQTT").await.0.is_err());
        assert!(read(b"PROXY TCP4 nonsense\r\n").await.0.is_err());
        assert!(read(&[b'P'; 200]).await.0.is_err());
    }
}
