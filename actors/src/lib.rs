//! arbor-actors: the broker's actors, in one folder per subsystem of the supervision tree.
//!
//! [`tree`] assembles them into the tree of `docs/architecture.md`. The esockd side
//! ([`esockd`]: listener, acceptors, admission) takes sockets in and starts a [`connection`] for
//! each; the emqttd side owns sessions ([`session`]: sessions, inflight, mqueue, the sm pool) and
//! routing ([`routing`]: topics, the route table, the router, retained messages).
//! [`observability`] counts and reports; [`auth`] says who may do what; [`codec`] turns bytes
//! into packets and back.

pub mod auth;
pub mod broker;
pub mod codec;
pub mod config;
pub mod connection;
pub mod esockd;
pub mod message;
pub mod observability;
pub mod routing;
pub mod session;
pub mod tree;
mod worker;
