//! Routing: topic rules, the route table and its one writer (the router), the publish path,
//! and retained messages with their one writer (the retainer).

pub mod load;
pub mod retained;
pub mod retainer;
pub mod router;
pub mod topic;
pub mod trie;
