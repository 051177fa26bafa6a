//! arbor-actors: the broker's actors, one file per emqttd/esockd module.
//!
//! [`tree`] assembles them into the supervision tree of DESIGN.md §2. The esockd side
//! ([`listener`], [`acceptor`], [`connection_sup`], [`connection`]) takes sockets in; the emqttd
//! side ([`sm`], [`router`], [`retainer`], [`metrics`], [`sys`]) owns sessions and routing. The
//! tables that must outlive a worker's crash live in [`broker::Broker`], owned by the supervisor
//! specs that build their writers.

pub mod acceptor;
pub mod access;
pub mod acl;
pub mod auth;
pub mod broker;
pub mod client_id;
pub mod close_log;
pub mod codec;
pub mod config;
pub mod connection;
pub mod connection_sup;
pub mod frame_clock;
pub mod listen_error;
pub mod listener;
pub mod load;
pub mod message;
pub mod metrics;
pub mod mqueue;
pub mod outbox;
pub mod passwd;
pub mod protocol;
pub mod retained_store;
pub mod retainer;
pub mod router;
pub mod session;
pub mod sm;
pub mod sys;
pub mod topic;
pub mod tree;
pub mod trie;
mod worker;
