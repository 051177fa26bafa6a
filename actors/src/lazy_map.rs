//! A map made on first use, for the small tables that every session or connection holds and
//! most leave empty (QoS 2 receipts, topic aliases, subscription identifiers): one word while
//! empty instead of a 48-byte `HashMap`, which adds up over every idle connection.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// A `HashMap` that is allocated on its first insert and dropped again when emptied by
/// [`LazyMap::retain`] or [`LazyMap::clear`].
#[derive(Debug)]
#[allow(clippy::box_collection)] // on purpose: one word, not a 48-byte map
pub struct LazyMap<K, V>(Option<Box<HashMap<K, V>>>);

impl<K, V> Default for LazyMap<K, V> {
    fn default() -> Self {
        Self(None)
    }
}

impl<K: Eq + Hash, V> LazyMap<K, V> {
    /// The value of `key`, if any.
    pub fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.0.as_ref()?.get(key)
    }

    /// Sets `key` to `value` (making the map if it is not there yet); the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.0.get_or_insert_default().insert(key, value)
    }

    /// Forgets `key`; its value, if it had one.
    pub fn remove<Q: Eq + Hash + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0.as_mut()?.remove(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the entries `keep` says to, dropping the map if none is left.
    pub fn retain(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        if let Some(m) = &mut self.0 {
            m.retain(keep);
            if m.is_empty() {
                self.0 = None;
            }
        }
    }

    /// Forgets everything, map included.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_on_first_insert_and_dropped_when_emptied() {
        let mut m: LazyMap<String, u32> = LazyMap::default();
        assert!(m.0.is_none() && m.is_empty() && m.get("a").is_none());
        assert_eq!(m.remove("a"), None, "removing from nothing makes nothing");
        assert!(m.0.is_none());
        m.insert("a".into(), 1);
        m.insert("b".into(), 2);
        assert_eq!((m.len(), m.get("a")), (2, Some(&1)));
        m.retain(|k, _| k == "a");
        assert_eq!(m.len(), 1);
        m.retain(|_, _| false);
        assert!(m.0.is_none(), "emptied by retain: no map left");
        m.insert("c".into(), 3);
        m.clear();
        assert!(m.0.is_none());
    }
}
