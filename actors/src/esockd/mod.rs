//! The esockd layer: listeners, acceptors and admission into `connection_sup`.
//!
//! A listener binds its socket and starts its acceptors; an acceptor accepts and asks
//! [`admission`] to let the peer in (access rules, `max_connections`), which starts the
//! connection actor. Each listener's admission table is owned by its `listener_sup`.

pub mod acceptor;
pub mod access;
pub mod admission;
pub mod listener;
