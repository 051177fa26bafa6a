//! The route table: which subscribers a published topic goes to.
//!
//! Mirrors emqttd's `emqttd_trie` (the wildcard trie) together with the route table of
//! `emqttd_router` (exact topics and who subscribed to what). Owned by `router_sup` and written
//! only by the `router` actor, which serialises SUBSCRIBE and UNSUBSCRIBE; read by every
//! connection that publishes, directly, with no actor hop (docs/architecture.md §4 and §6), just as
//! emqttd reads its ETS tables from the publisher's process.
//!
//! # Concurrency
//! One writer, many readers, and a publish must neither queue behind other publishes nor wait
//! long for a subscribe. So the table is split by what a publish needs:
//! - **Exact filters** (no wildcard, the vast majority) live in [`SHARDS`] hash maps, each behind
//!   its own `parking_lot::RwLock`, the shard chosen by hashing the topic. A publish to an exact
//!   topic takes one shard's read lock for one lookup. Each shard sits on its own cache lines, so
//!   readers of different shards do not even share the lock word, which a single table-wide
//!   `RwLock` would make every publisher write to.
//! - **Wildcard filters** (few in practice) live in one trie behind its own `RwLock`. A publish
//!   takes that read lock only when the trie holds a filter, which it learns from an atomic
//!   counter, so a broker with no wildcard subscriptions never touches it.
//! - No lock is held across anything but the in-memory operation: no I/O, no `.await`, no
//!   callback, and never two locks at once, so there is no lock order to get wrong. Subscribers
//!   are cloned out (cheap handles) and delivered after the lock is released. parking_lot's lock
//!   is fair enough that readers arriving while the writer waits queue behind it, so the writer
//!   is never starved and readers wait at most one short write section.
//!
//! Rejected alternatives: copy-on-write snapshots (RCU, `arc-swap`) make every subscribe copy the
//! whole table, which a connect storm of thousands of clients turns into quadratic work; routing
//! through the router actor (rumqttd's single router thread) makes every publish wait for one
//! mailbox.
//!
//! # Routing rules
//! - A subscriber's key (the client id) subscribes to a filter at most once: subscribing again
//!   replaces the entry and its QoS [MQTT-3.8.4-3].
//! - `$share/<group>/<filter>` stores the entry under `<filter>` in that group. Per message, each
//!   matching (filter, group) pair delivers to exactly one member, round robin.
//! - A key whose subscriptions overlap gets one copy, at the highest QoS among its matching
//!   entries (the non-normative comment of [MQTT-3.3.5-1]; emqttd does the same). A shared group's
//!   chosen member takes part in this.
//! - Filters starting with `+` or `#` do not match topics starting with `$` [MQTT-4.7.2-1].
//!
//! # Invariants
//! - Stored filters passed [`validate_subscription`], so `#` is only ever last.
//!
//! # One writer
//! Reading is public; writing ([`RouteTable::subscribe`], [`RouteTable::unsubscribe`],
//! [`RouteTable::remove_all`], [`RouteTable::remove_dead`]) is visible to the routing room only,
//! where the `router` actor is its one caller: a session subscribes by asking the router.
//! - The trie holds no empty node: removing the last entry under a node prunes it and every
//!   ancestor it leaves empty. Its nodes live in an arena (a `Vec` plus a free list), which keeps
//!   every walk iterative: a filter of thirty thousand levels cannot overflow the stack.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::codec::topic_rules::{validate_subscription, TopicError};
use crate::routing::topic;

mod subs;

use subs::{dedup_keys, Subs};

/// Number of exact-filter shards: enough that concurrent publishers rarely share one.
pub const SHARDS: usize = 32;

/// Something the route table delivers to: the broker uses a session handle, keyed by client id.
pub trait Subscriber: Clone + Send + Sync + 'static {
    /// Identifies one subscriber: one entry per key per filter, one copy per key per message.
    type Key: Eq + Hash + Clone + Send + Sync + fmt::Debug;
    /// This subscriber's key.
    fn key(&self) -> &Self::Key;
    /// Whether it can still receive: a dead subscriber's entries are swept by
    /// [`RouteTable::remove_dead`].
    fn alive(&self) -> bool {
        true
    }
}

/// Index of the root node, which always exists and is never freed.
const ROOT: usize = 0;

/// A trie node: the path from the root spells a filter's levels.
struct Node<S: Subscriber> {
    /// Literal next levels. Never holds `+` or `#`: they have their own slots.
    children: HashMap<Box<str>, usize>,
    /// The `+` next level.
    plus: Option<usize>,
    /// Filters ending at this node.
    here: Option<Subs<S>>,
    /// The filter made of this node's path followed by `#` (`#` alone at the root).
    hash: Option<Subs<S>>,
}

impl<S: Subscriber> Node<S> {
    fn new() -> Self {
        Node {
            children: HashMap::new(),
            plus: None,
            here: None,
            hash: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.plus.is_none() && self.here.is_none() && self.hash.is_none()
    }
}

/// The wildcard filters, as a trie of levels in an arena.
struct Trie<S: Subscriber> {
    /// `nodes[ROOT]` is the root; a freed slot is an empty node listed in `free`.
    nodes: Vec<Node<S>>,
    free: Vec<usize>,
}

/// What a trie or shard update changed, for the table's counters.
#[derive(Clone, Copy)]
struct Change {
    /// A filter appeared or disappeared.
    filter: bool,
    /// An entry appeared or disappeared.
    entry: bool,
}

impl<S: Subscriber> Trie<S> {
    fn new() -> Self {
        Trie {
            nodes: vec![Node::new()],
            free: Vec::new(),
        }
    }

    fn node_count(&self) -> usize {
        self.nodes.len() - 1 - self.free.len()
    }

    fn alloc(&mut self) -> usize {
        match self.free.pop() {
            Some(id) => id,
            None => {
                self.nodes.push(Node::new());
                self.nodes.len() - 1
            }
        }
    }

    /// The child of `id` for `level`, created if missing.
    fn child_or_insert(&mut self, id: usize, level: &str) -> usize {
        let existing = if level == "+" {
            self.nodes[id].plus
        } else {
            self.nodes[id].children.get(level).copied()
        };
        if let Some(child) = existing {
            return child;
        }
        let child = self.alloc();
        let node = &mut self.nodes[id];
        if level == "+" {
            node.plus = Some(child);
        } else {
            node.children.insert(level.into(), child);
        }
        child
    }

    fn upsert(&mut self, filter: &str, group: Option<&str>, sub: S, qos: u8) -> Change {
        let mut id = ROOT;
        let mut hash = false;
        for level in filter.split('/') {
            if level == "#" {
                hash = true;
                break;
            }
            id = self.child_or_insert(id, level);
        }
        let node = &mut self.nodes[id];
        let slot = if hash { &mut node.hash } else { &mut node.here };
        let new_filter = slot.is_none();
        let subs = slot.get_or_insert_with(|| Subs::new(filter.into()));
        let new_entry = subs.upsert(group, sub, qos);
        Change {
            filter: new_filter,
            entry: new_entry,
        }
    }

    fn remove(&mut self, filter: &str, group: Option<&str>, key: &S::Key) -> Change {
        let unchanged = Change {
            filter: false,
            entry: false,
        };
        // (parent, level) for each step down, to prune back up.
        let mut path: Vec<(usize, &str)> = Vec::new();
        let mut id = ROOT;
        let mut hash = false;
        for level in filter.split('/') {
            if level == "#" {
                hash = true;
                break;
            }
            let node = &self.nodes[id];
            let next = if level == "+" {
                node.plus
            } else {
                node.children.get(level).copied()
            };
            let Some(next) = next else {
                return unchanged;
            };
            path.push((id, level));
            id = next;
        }
        let node = &mut self.nodes[id];
        let slot = if hash { &mut node.hash } else { &mut node.here };
        let Some(subs) = slot else {
            return unchanged;
        };
        if !subs.remove(group, key) {
            return unchanged;
        }
        let emptied = subs.is_empty();
        if emptied {
            *slot = None;
        }
        while let Some((parent, level)) = path.pop() {
            if !self.nodes[id].is_empty() {
                break;
            }
            let up = &mut self.nodes[parent];
            if level == "+" {
                up.plus = None;
            } else {
                up.children.remove(level);
                if up.children.is_empty() {
                    // A HashMap never shrinks by itself; give back the peak's buckets.
                    up.children = HashMap::new();
                }
            }
            self.nodes[id] = Node::new();
            self.free.push(id);
            id = parent;
        }
        if self.nodes[ROOT].is_empty() {
            // Nothing left: drop the arena's peak capacity too.
            *self = Trie::new();
        }
        Change {
            filter: emptied,
            entry: true,
        }
    }

    /// Appends to `out` what matches `topic`; returns the number of blocks as [`Subs::collect`].
    ///
    /// Walks the levels with an explicit stack, pushed only where a node has both a literal and
    /// a `+` way on, so a trie without `+` filters routes without allocating.
    fn collect(&self, topic: &str, out: &mut Vec<(S, u8)>) -> usize {
        let dollar = topic.starts_with('$');
        let mut blocks = 0;
        let mut stack: Vec<(usize, Option<&str>)> = Vec::new();
        // `rest` is the topic from the current level on; None once every level is consumed.
        let mut current = Some((ROOT, Some(topic)));
        while let Some((id, rest)) = current.take().or_else(|| stack.pop()) {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            // [MQTT-4.7.2-1]: no wildcard in the first level for a `$` topic.
            let wild_ok = !(dollar && id == ROOT);
            if let (true, Some(subs)) = (wild_ok, &node.hash) {
                blocks += subs.collect(out);
            }
            let Some(rest) = rest else {
                if let Some(subs) = &node.here {
                    blocks += subs.collect(out);
                }
                continue;
            };
            let (level, next) = match rest.split_once('/') {
                Some((level, next)) => (level, Some(next)),
                None => (rest, None),
            };
            let plus = node.plus.filter(|_| wild_ok).map(|p| (p, next));
            let literal = node.children.get(level).map(|&c| (c, next));
            current = match (literal, plus) {
                (Some(l), Some(p)) => {
                    stack.push(p);
                    Some(l)
                }
                (l, p) => l.or(p),
            };
        }
        blocks
    }

    fn filters(&self, out: &mut Vec<(String, usize)>) {
        for node in &self.nodes {
            for subs in node.here.iter().chain(node.hash.iter()) {
                out.push((subs.filter.to_string(), subs.len()));
            }
        }
    }
}

/// One exact-filter shard, aligned so that no two shards' locks share a cache line.
#[repr(align(128))]
struct Shard<S: Subscriber>(RwLock<HashMap<Arc<str>, Subs<S>>>);

/// The broker's route table: topic filter to subscribers, see the module doc.
///
/// Every method takes `&self`; share it in an `Arc`. Writes are meant to come from one actor,
/// though concurrent writers would still be safe.
pub struct RouteTable<S: Subscriber> {
    hasher: RandomState,
    shards: [Shard<S>; SHARDS],
    wild: RwLock<Trie<S>>,
    /// Wildcard filters in `wild`, so publishers skip its lock while it is empty.
    wild_filters: AtomicUsize,
    topics: AtomicUsize,
    subscriptions: AtomicUsize,
}

impl<S: Subscriber> Default for RouteTable<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Subscriber> RouteTable<S> {
    /// An empty table.
    pub fn new() -> Self {
        RouteTable {
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Shard(RwLock::new(HashMap::new()))),
            wild: RwLock::new(Trie::new()),
            wild_filters: AtomicUsize::new(0),
            topics: AtomicUsize::new(0),
            subscriptions: AtomicUsize::new(0),
        }
    }

    fn shard(&self, topic: &str) -> &RwLock<HashMap<Arc<str>, Subs<S>>> {
        // Truncating the hash is fine: only its low bits pick the shard.
        let at = (self.hasher.hash_one(topic) as usize) % SHARDS;
        &self.shards[at].0
    }

    /// Subscribes `sub` to `filter` with the granted `qos`, replacing the entry `sub`'s key
    /// already had for that filter [MQTT-3.8.4-3]. `$share/<group>/<filter>` joins `group` of
    /// `<filter>`.
    ///
    /// `qos` is the QoS granted in SUBACK (0, 1 or 2), stored as given. Refuses a filter that
    /// [`validate_subscription`] refuses and changes nothing then.
    pub(in crate::routing) fn subscribe(&self, filter: &str, sub: S, qos: u8) -> Result<(), TopicError> {
        validate_subscription(filter)?;
        let (group, real) = split_share(filter);
        let change = if topic::is_wildcard(real) {
            let mut trie = self.wild.write();
            let change = trie.upsert(real, group, sub, qos);
            if change.filter {
                self.wild_filters.fetch_add(1, Ordering::Release);
            }
            change
        } else {
            let mut shard = self.shard(real).write();
            match shard.get_mut(real) {
                Some(subs) => Change {
                    filter: false,
                    entry: subs.upsert(group, sub, qos),
                },
                None => {
                    let mut subs = Subs::new(real.into());
                    subs.upsert(group, sub, qos);
                    shard.insert(subs.filter.clone(), subs);
                    Change {
                        filter: true,
                        entry: true,
                    }
                }
            }
        };
        if change.filter {
            self.topics.fetch_add(1, Ordering::Relaxed);
        }
        if change.entry {
            self.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Removes `key`'s subscription to `filter` (`$share/...` included); true if there was one.
    /// A filter that [`validate_subscription`] refuses was never stored, so it removes nothing.
    pub(in crate::routing) fn unsubscribe(&self, filter: &str, key: &S::Key) -> bool {
        if validate_subscription(filter).is_err() {
            return false;
        }
        let (group, real) = split_share(filter);
        let change = if topic::is_wildcard(real) {
            let mut trie = self.wild.write();
            let change = trie.remove(real, group, key);
            if change.filter {
                self.wild_filters.fetch_sub(1, Ordering::Release);
            }
            change
        } else {
            let mut shard = self.shard(real).write();
            let Some(subs) = shard.get_mut(real) else {
                return false;
            };
            let entry = subs.remove(group, key);
            let filter = subs.is_empty();
            if filter {
                shard.remove(real);
            }
            Change { filter, entry }
        };
        if change.filter {
            self.topics.fetch_sub(1, Ordering::Relaxed);
        }
        if change.entry {
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        change.entry
    }

    /// Removes `key` from each of `filters`, as when its session ends.
    pub(in crate::routing) fn remove_all(&self, key: &S::Key, filters: &[String]) {
        for filter in filters {
            self.unsubscribe(filter, key);
        }
    }

    /// Removes every entry whose subscriber is no longer [`Subscriber::alive`]; returns how many.
    /// The router runs it when it (re)starts: a session that ended while no router was there to
    /// hear of it leaves nothing behind.
    pub(in crate::routing) fn remove_dead(&self) -> usize {
        let mut dead = Vec::new();
        for shard in &self.shards {
            for subs in shard.0.read().values() {
                subs.dead(&mut dead);
            }
        }
        for node in &self.wild.read().nodes {
            for subs in node.here.iter().chain(node.hash.iter()) {
                subs.dead(&mut dead);
            }
        }
        dead.iter()
            .filter(|(filter, key)| self.unsubscribe(filter, key))
            .count()
    }

    /// Fills `out` (cleared first) with the subscribers `topic` goes to, each key once at the
    /// highest QoS of its matching entries, one member per matching shared group, and the `$`
    /// rule applied (see the module doc). When a key has several matching entries, the handle
    /// kept is the first one found.
    ///
    /// Allocates nothing beyond growing `out`, except a small walk stack when the topic meets a
    /// `+` branch of the trie, and a dedup map when more than 16 candidates
    /// come from more than one filter or group.
    pub fn route(&self, topic: &str, out: &mut Vec<(S, u8)>) {
        out.clear();
        let mut blocks = 0;
        if let Some(subs) = self.shard(topic).read().get(topic) {
            blocks += subs.collect(out);
        }
        if self.wild_filters.load(Ordering::Acquire) > 0 {
            blocks += self.wild.read().collect(topic, out);
        }
        // Within one block keys are distinct; only several blocks can repeat a key.
        if blocks > 1 {
            dedup_keys(out);
        }
    }

    /// Every stored filter (shared ones under their inner filter) with its number of entries,
    /// sorted by filter: the admin API's `routes` listing.
    pub fn filters(&self) -> Vec<(String, usize)> {
        let mut out = Vec::with_capacity(self.topics_count());
        for shard in &self.shards {
            let shard = shard.0.read();
            out.extend(shard.values().map(|s| (s.filter.to_string(), s.len())));
        }
        self.wild.read().filters(&mut out);
        out.sort_unstable();
        out
    }

    /// Number of distinct filters stored (a shared filter counts under its inner filter).
    pub fn topics_count(&self) -> usize {
        self.topics.load(Ordering::Relaxed)
    }

    /// Number of entries: one per (key, filter, group) subscribed.
    pub fn subscriptions_count(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// Number of nodes in the wildcard trie besides its root; 0 when no wildcard filter is
    /// stored. For tests and diagnostics: it shows that churn leaves nothing behind.
    pub fn node_count(&self) -> usize {
        self.wild.read().node_count()
    }
}

/// `(group, inner filter)` of a validated filter.
fn split_share(filter: &str) -> (Option<&str>, &str) {
    match topic::parse_share(filter) {
        Some((group, real)) => (Some(group), real),
        None => (None, filter),
    }
}

#[cfg(test)]
#[path = "trie_tests.rs"]
mod tests;
