//! [`ListenError`]: why a socket could not be bound, as one short line a person can act on
//! (`cannot listen on 127.0.0.1:1883: address in use`).
//!
//! The operating system's text ("Address already in use (os error 98)") says the same in more
//! words; the common cases get plain words, anything else keeps the system's text. Used by
//! the MQTT listeners and by the binary's admin API, so every bind failure reads alike.

use std::io;
use std::net::SocketAddr;

/// A bind (or listen) on `addr` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot listen on {addr}: {reason}")]
pub struct ListenError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why, in a few words.
    pub reason: String,
}

impl ListenError {
    /// The error for `addr` failing with `err`.
    pub fn new(addr: SocketAddr, err: &io::Error) -> Self {
        let reason = match err.kind() {
            io::ErrorKind::AddrInUse => "address in use".to_string(),
            io::ErrorKind::AddrNotAvailable => "address not available on this machine".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => err.to_string(),
        };
        Self { addr, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_bind_failures_read_as_plain_words() {
        let addr: SocketAddr = "127.0.0.1:1883".parse().expect("addr");
        let in_use = io::Error::from(io::ErrorKind::AddrInUse);
        assert_eq!(
            ListenError::new(addr, &in_use).to_string(),
            "cannot listen on 127.0.0.1:1883: address in use"
        );
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(
            ListenError::new(addr, &denied).to_string(),
            "cannot listen on 127.0.0.1:1883: permission denied"
        );
        let other = io::Error::other("something odd");
        assert_eq!(
            ListenError::new(addr, &other).to_string(),
            "cannot listen on 127.0.0.1:1883: something odd"
        );
    }

    #[test]
    fn a_real_port_in_use_is_recognised() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        let err = std::net::TcpListener::bind(addr).expect_err("in use");
        assert_eq!(ListenError::new(addr, &err).reason, "address in use");
    }
}
