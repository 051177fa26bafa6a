//! Routing: which subscribers a message goes to, and the retained messages.
//!
//! Topic matching ([`topic`]), the route table ([`trie`]) and its one writer ([`router`]), the
//! publish path every publisher runs without an actor hop ([`publish`]) with the back-pressure a
//! subscriber puts on it ([`load`]), and the retained messages ([`retained`]) with their one
//! writer ([`retainer`]). Nothing here knows what a session is: deliveries go to any
//! [`publish::Inbox`].

pub mod load;
pub mod publish;
pub mod retained;
pub mod retainer;
pub mod router;
pub mod topic;
pub mod trie;
