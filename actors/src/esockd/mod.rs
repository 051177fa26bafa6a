//! The esockd layer: listeners, acceptors, admission into `connection_sup`, access rules and the
//! rate limit.
//!
//! A listener binds its socket and starts its acceptors; an acceptor accepts and asks
//! [`admission`] to let the peer in (access rules, `max_connections`), which starts the
//! connection actor. Each listener's admission table ([`table`]) is owned by its `listener_sup`.
//! What a listener speaks ([`transport`]: TCP, TLS, WebSocket, secure WebSocket) changes only
//! the handshake a connection's reader runs first ([`tls`], [`ws`]).

pub mod acceptor;
pub mod access;
pub mod admission;
pub mod listen_error;
pub mod listener;
pub mod proxy;
pub mod rate_limit;
pub mod table;
pub mod tls;
pub mod transport;
pub mod ws;
