//! The entries stored under one filter of the route table, and the per-key dedup of a route.
//!
//! Part of [`crate::routing::trie`] (emqttd's `emqttd_router` route records); split out only to keep
//! files short. A filter's plain entries and each of its `$share/<group>/` groups hold one
//! entry per subscriber key; a group is dropped with its last member, so a group is never empty.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::Subscriber;

/// Entries at which a member list gets a key index, so subscribing to a crowded filter stays
/// O(1) while the common filter with one subscriber pays nothing for it.
const INDEX_FROM: usize = 16;

/// Up to this many candidates, the per-key dedup of a route is a quadratic scan
/// that allocates nothing; beyond it, a hash map.
const DEDUP_SCAN_MAX: usize = 16;

/// The subscribers of one filter, or of one shared group of it: one entry per key.
struct Members<S: Subscriber> {
    list: Vec<(S, u8)>,
    /// Key to position in `list`, present only while `list` is long (see [`INDEX_FROM`]).
    index: Option<HashMap<S::Key, usize>>,
}

impl<S: Subscriber> Members<S> {
    fn new() -> Self {
        Members {
            list: Vec::new(),
            index: None,
        }
    }

    fn position(&self, key: &S::Key) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.list.iter().position(|(s, _)| s.key() == key),
        }
    }

    /// Adds or replaces `sub`'s entry; true if it was added.
    fn upsert(&mut self, sub: S, qos: u8) -> bool {
        if let Some(entry) = self.position(sub.key()).and_then(|i| self.list.get_mut(i)) {
            *entry = (sub, qos);
            return false;
        }
        let at = self.list.len();
        match &mut self.index {
            Some(index) => {
                index.insert(sub.key().clone(), at);
            }
            None if at >= INDEX_FROM => {
                let mut index: HashMap<S::Key, usize> = HashMap::with_capacity(at * 2);
                for (i, (s, _)) in self.list.iter().enumerate() {
                    index.insert(s.key().clone(), i);
                }
                index.insert(sub.key().clone(), at);
                self.index = Some(index);
            }
            None => {}
        }
        self.list.push((sub, qos));
        true
    }

    /// Removes `key`'s entry; true if there was one.
    fn remove(&mut self, key: &S::Key) -> bool {
        let Some(i) = self.position(key) else {
            return false;
        };
        self.list.swap_remove(i);
        if let Some(index) = &mut self.index {
            index.remove(key);
            if let Some((moved, _)) = self.list.get(i) {
                index.insert(moved.key().clone(), i);
            }
            if self.list.len() < INDEX_FROM / 2 {
                self.index = None;
            }
        }
        true
    }
}

/// One `$share/<name>/<filter>` group of a filter.
struct Group<S: Subscriber> {
    name: Box<str>,
    /// Round-robin cursor, advanced by readers under the read lock.
    next: AtomicUsize,
    /// Never empty: the group is dropped with its last member.
    members: Members<S>,
}

/// Everything subscribed to one filter.
pub(super) struct Subs<S: Subscriber> {
    /// The filter as stored, shared with the shard map's key.
    pub(super) filter: Arc<str>,
    plain: Members<S>,
    groups: Vec<Group<S>>,
}

impl<S: Subscriber> Subs<S> {
    pub(super) fn new(filter: Arc<str>) -> Self {
        Subs {
            filter,
            plain: Members::new(),
            groups: Vec::new(),
        }
    }

    pub(super) fn upsert(&mut self, group: Option<&str>, sub: S, qos: u8) -> bool {
        let Some(name) = group else {
            return self.plain.upsert(sub, qos);
        };
        if let Some(g) = self.groups.iter_mut().find(|g| &*g.name == name) {
            return g.members.upsert(sub, qos);
        }
        let mut members = Members::new();
        members.upsert(sub, qos);
        self.groups.push(Group {
            name: name.into(),
            next: AtomicUsize::new(0),
            members,
        });
        true
    }

    pub(super) fn remove(&mut self, group: Option<&str>, key: &S::Key) -> bool {
        let Some(name) = group else {
            return self.plain.remove(key);
        };
        let Some(at) = self.groups.iter().position(|g| &*g.name == name) else {
            return false;
        };
        let removed = self.groups.get_mut(at).is_some_and(|g| g.members.remove(key));
        if self.groups.get(at).is_some_and(|g| g.members.list.is_empty()) {
            self.groups.swap_remove(at);
        }
        removed
    }

    /// Appends `(filter as subscribed, key)` for each entry whose subscriber is not alive.
    pub(super) fn dead(&self, out: &mut Vec<(String, S::Key)>) {
        for (s, _) in self.plain.list.iter().filter(|(s, _)| !s.alive()) {
            out.push((self.filter.to_string(), s.key().clone()));
        }
        for group in &self.groups {
            for (s, _) in group.members.list.iter().filter(|(s, _)| !s.alive()) {
                out.push((format!("$share/{}/{}", group.name, self.filter), s.key().clone()));
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.plain.list.is_empty() && self.groups.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        let shared: usize = self.groups.iter().map(|g| g.members.list.len()).sum();
        self.plain.list.len() + shared
    }

    /// Appends the plain entries and one member per group to `out`. Returns how many blocks of
    /// distinct keys it appended, so the caller knows whether a dedup pass can find anything.
    pub(super) fn collect(&self, out: &mut Vec<(S, u8)>) -> usize {
        let mut blocks = 0;
        if !self.plain.list.is_empty() {
            out.extend(self.plain.list.iter().cloned());
            blocks += 1;
        }
        for group in &self.groups {
            let turn = group.next.fetch_add(1, Ordering::Relaxed);
            let chosen = turn.checked_rem(group.members.list.len());
            if let Some(member) = chosen.and_then(|i| group.members.list.get(i)) {
                out.push(member.clone());
                blocks += 1;
            }
        }
        blocks
    }
}

/// Collapses entries of one key into the first, at the highest QoS, keeping first-seen order.
pub(super) fn dedup_keys<S: Subscriber>(out: &mut Vec<(S, u8)>) {
    let mut kept = 0;
    if out.len() <= DEDUP_SCAN_MAX {
        for i in 0..out.len() {
            let key = out[i].0.key();
            match out[..kept].iter().position(|(s, _)| s.key() == key) {
                Some(first) => out[first].1 = out[first].1.max(out[i].1),
                None => {
                    out.swap(kept, i);
                    kept += 1;
                }
            }
        }
    } else {
        let mut first_at: HashMap<S::Key, usize> = HashMap::with_capacity(out.len());
        for i in 0..out.len() {
            match first_at.get(out[i].0.key()).copied() {
                Some(first) => out[first].1 = out[first].1.max(out[i].1),
                None => {
                    first_at.insert(out[i].0.key().clone(), kept);
                    out.swap(kept, i);
                    kept += 1;
                }
            }
        }
    }
    out.truncate(kept);
}
