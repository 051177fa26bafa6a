//! arbor-actors: the broker's actors, in one folder per subsystem of the supervision tree.
//!
//! [`tree`] assembles them into the tree of `docs/architecture.md`, and is the only module that
//! knows its shape and where each table is created. The esockd side ([`esockd`]: listeners,
//! acceptors, admission) takes sockets in and starts a [`connection`] for each; the emqttd side
//! owns sessions ([`session`]: sessions, inflight, mqueue, the sm pool and its registry) and
//! routing ([`routing`]: topics, the route table and its writer, the publish path, retained
//! messages). [`store`] keeps persistent sessions, their messages and retained messages on disk
//! (docs/durability.md). [`observability`] counts and reports; [`auth`] says who may connect and what they
//! may do; [`codec`] turns bytes into packets and back. [`api::BrokerApi`] is what the binary
//! sees of a running broker.
//!
//! Imports go one way, top to bottom: tree and api → esockd → connection → session → routing
//! → store → codec, with observability, auth, config and message beside them.

pub mod api;
pub mod auth;
pub mod codec;
pub mod config;
pub mod connection;
pub mod esockd;
pub mod lazy_map;
pub mod message;
pub mod observability;
pub mod routing;
pub mod session;
pub mod store;
pub mod timeouts;
pub mod tree;
