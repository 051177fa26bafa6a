//! The retained-message table: the last retained message of each topic.
//!
//! Mirrors the table of emqttd's `emqttd_retainer`. Owned by `router_sup` and written only by
//! the `retainer` actor ([`RetainedStore::put`] is visible to the routing room only); read by sessions when a subscription is made, to
//! send the retained messages its filter matches. The message type is generic so this module
//! knows nothing of the broker's `Message`; the broker stores an `Arc<Message>`.
//!
//! # Rules
//! - One message per topic: putting a message replaces the previous one.
//! - `put(topic, None)` deletes. The broker maps a retained PUBLISH with an empty payload to a
//!   delete, which removes the stored message [MQTT-3.3.1-10] and stores nothing
//!   [MQTT-3.3.1-11].
//! - Matching follows [`crate::routing::topic::matches`], including the `$` rule: a filter starting with
//!   `+` or `#` does not match a `$` topic [MQTT-4.7.2-1].
//!
//! # Layout, and why
//! Two indexes under one `parking_lot::RwLock`:
//! - a hash map from topic to its node, so a put, a delete and an exact-filter lookup are one
//!   hash lookup;
//! - a trie of topic levels, so a wildcard filter visits only the subtrees its literal levels
//!   lead to instead of every stored topic (emqttd scans its whole table). `+` still visits every
//!   child of its node and `#` the whole subtree below it.
//!
//! Nodes live in an arena (a `Vec` plus a free list) with parent links, so every walk is
//! iterative (a topic of thirty thousand levels cannot overflow the stack) and a delete prunes
//! the nodes it leaves empty: every node other than the root holds a message or has children,
//! and an empty store holds the root alone. The lock is held only for the in-memory walk and the
//! clones of `Arc<str>` and `M`; messages are sent after it is released.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::routing::topic;

/// Index of the root node, which always exists, never holds a message and is never freed.
const ROOT: usize = 0;

/// One topic level.
struct Node<M> {
    /// The node one level up; the root's is itself.
    parent: usize,
    /// This node's key in its parent's `children`.
    level: Box<str>,
    children: HashMap<Box<str>, usize>,
    /// The message retained on the topic this node spells, with that topic.
    msg: Option<(Arc<str>, M)>,
}

impl<M> Node<M> {
    fn new(parent: usize, level: &str) -> Self {
        Node {
            parent,
            level: level.into(),
            children: HashMap::new(),
            msg: None,
        }
    }
}

/// The indexes behind the lock.
struct Inner<M> {
    /// `nodes[ROOT]` is the root; a freed slot is an empty node listed in `free`.
    nodes: Vec<Node<M>>,
    free: Vec<usize>,
    /// Topic to the node holding its message; exactly the nodes whose `msg` is set.
    by_topic: HashMap<Arc<str>, usize>,
}

impl<M: Clone> Inner<M> {
    fn new() -> Self {
        Inner {
            nodes: vec![Node::new(ROOT, "")],
            free: Vec::new(),
            by_topic: HashMap::new(),
        }
    }

    fn insert(&mut self, topic: &str, msg: M) {
        if let Some(&id) = self.by_topic.get(topic) {
            if let Some((_, stored)) = self.nodes.get_mut(id).and_then(|n| n.msg.as_mut()) {
                *stored = msg;
                return;
            }
        }
        let mut id = ROOT;
        for level in topic.split('/') {
            id = match self.nodes[id].children.get(level) {
                Some(&child) => child,
                None => {
                    let child = self.alloc(id, level);
                    self.nodes[id].children.insert(level.into(), child);
                    child
                }
            };
        }
        let topic: Arc<str> = topic.into();
        self.nodes[id].msg = Some((topic.clone(), msg));
        self.by_topic.insert(topic, id);
    }

    fn alloc(&mut self, parent: usize, level: &str) -> usize {
        match self.free.pop() {
            Some(id) => {
                self.nodes[id] = Node::new(parent, level);
                id
            }
            None => {
                self.nodes.push(Node::new(parent, level));
                self.nodes.len() - 1
            }
        }
    }

    fn remove(&mut self, topic: &str) {
        let Some(mut id) = self.by_topic.remove(topic) else {
            return;
        };
        if self.by_topic.is_empty() {
            // Nothing left: drop every node and the peak's capacity at once.
            *self = Inner::new();
            return;
        }
        self.nodes[id].msg = None;
        while id != ROOT && self.nodes[id].msg.is_none() && self.nodes[id].children.is_empty() {
            let node = std::mem::replace(&mut self.nodes[id], Node::new(ROOT, ""));
            self.free.push(id);
            let parent = &mut self.nodes[node.parent];
            parent.children.remove(&node.level);
            if parent.children.is_empty() {
                // A HashMap never shrinks by itself; give back the peak's buckets.
                parent.children = HashMap::new();
            }
            id = node.parent;
        }
    }

    /// Appends the messages under a wildcard `filter`. `+` and `#` are wildcards only as whole
    /// levels, and `#` only last, as in [`topic::matches`].
    fn walk(&self, filter: &str, out: &mut Vec<(Arc<str>, M)>) {
        // (node, the filter from the level below that node on)
        let mut stack: Vec<(usize, &str)> = vec![(ROOT, filter)];
        while let Some((id, rest)) = stack.pop() {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            let (level, next) = match rest.split_once('/') {
                Some((level, next)) => (level, Some(next)),
                None => (rest, None),
            };
            match level {
                "#" if next.is_none() => self.subtree(id, out),
                "#" => {}
                "+" => {
                    for (child_level, &child) in &node.children {
                        // [MQTT-4.7.2-1]: a first-level wildcard skips `$` topics.
                        if id == ROOT && child_level.starts_with('$') {
                            continue;
                        }
                        self.step(child, next, &mut stack, out);
                    }
                }
                literal => {
                    if let Some(&child) = node.children.get(literal) {
                        self.step(child, next, &mut stack, out);
                    }
                }
            }
        }
    }

    /// Moves the walk to `child`: collects its message if the filter ends here, else goes on.
    fn step<'f>(
        &self,
        child: usize,
        next: Option<&'f str>,
        stack: &mut Vec<(usize, &'f str)>,
        out: &mut Vec<(Arc<str>, M)>,
    ) {
        match next {
            Some(next) => stack.push((child, next)),
            None => {
                if let Some((topic, msg)) = self.nodes.get(child).and_then(|n| n.msg.as_ref()) {
                    out.push((topic.clone(), msg.clone()));
                }
            }
        }
    }

    /// Appends the messages of `id` and everything below it: a trailing `#` matches its parent
    /// level too [MQTT-4.7.1-2]. From the root, `$` topics are skipped [MQTT-4.7.2-1].
    fn subtree(&self, id: usize, out: &mut Vec<(Arc<str>, M)>) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            if let Some((topic, msg)) = &node.msg {
                out.push((topic.clone(), msg.clone()));
            }
            for (child_level, &child) in &node.children {
                if id == ROOT && child_level.starts_with('$') {
                    continue;
                }
                stack.push(child);
            }
        }
    }
}

/// The retained messages, one per topic; see the module doc. Share it in an `Arc`.
pub struct RetainedStore<M: Clone> {
    inner: RwLock<Inner<M>>,
}

impl<M: Clone> Default for RetainedStore<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Clone> RetainedStore<M> {
    /// An empty store.
    pub fn new() -> Self {
        RetainedStore {
            inner: RwLock::new(Inner::new()),
        }
    }

    /// Retains `msg` on `topic`, replacing what was there; `None` deletes the topic's message
    /// [MQTT-3.3.1-10] [MQTT-3.3.1-11].
    ///
    /// `topic` is expected to be a validated topic name, but any string is stored safely.
    pub(in crate::routing) fn put(&self, topic: &str, msg: Option<M>) {
        let mut inner = self.inner.write();
        match msg {
            Some(msg) => inner.insert(topic, msg),
            None => inner.remove(topic),
        }
    }

    /// Appends to `out` every retained message whose topic matches `filter`, with that topic.
    /// An exact filter is one hash lookup; a wildcard filter walks the level trie. The order of
    /// the messages is unspecified. `out` is not cleared, so one buffer can gather the messages
    /// of several filters.
    pub fn matching(&self, filter: &str, out: &mut Vec<(Arc<str>, M)>) {
        let inner = self.inner.read();
        if topic::is_wildcard(filter) {
            inner.walk(filter, out);
            return;
        }
        let stored = inner
            .by_topic
            .get(filter)
            .and_then(|&id| inner.nodes.get(id))
            .and_then(|node| node.msg.as_ref());
        if let Some((topic, msg)) = stored {
            out.push((topic.clone(), msg.clone()));
        }
    }

    /// Number of topics with a retained message.
    pub fn len(&self) -> usize {
        self.inner.read().by_topic.len()
    }

    /// Whether no message is retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[path = "retained_tests.rs"]
mod tests;
