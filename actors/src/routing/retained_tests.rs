use super::*;
use crate::routing::topic::matches;
use proptest::prelude::*;

/// The topics `filter` returns, sorted.
fn topics(store: &RetainedStore<u32>, filter: &str) -> Vec<String> {
    let mut out = Vec::new();
    store.matching(filter, &mut out);
    let mut topics: Vec<String> = out.iter().map(|(t, _)| t.to_string()).collect();
    topics.sort();
    topics
}

fn store_with(topics: &[&str]) -> RetainedStore<u32> {
    let store = RetainedStore::new();
    for (i, topic) in topics.iter().enumerate() {
        store.put(topic, Some(i as u32));
    }
    store
}

/// Nodes besides the root.
fn node_count<M: Clone>(store: &RetainedStore<M>) -> usize {
    let inner = store.inner.read();
    inner.nodes.len() - 1 - inner.free.len()
}

#[test]
fn put_then_exact_match_returns_message_and_topic() {
    let store = store_with(&["a/b"]);
    let mut out = Vec::new();
    store.matching("a/b", &mut out);
    assert_eq!(out, vec![(Arc::from("a/b"), 0)]);
    assert_eq!(store.len(), 1);
    out.clear();
    store.matching("a", &mut out);
    assert!(out.is_empty());
}

#[test]
fn put_replaces_previous_message() {
    let store = RetainedStore::new();
    store.put("a/b", Some(1));
    store.put("a/b", Some(2));
    let mut out = Vec::new();
    store.matching("a/b", &mut out);
    assert_eq!(out, vec![(Arc::from("a/b"), 2)]);
    assert_eq!(store.len(), 1);
}

#[test]
fn put_none_deletes_mqtt_3_3_1_10() {
    let store = store_with(&["a/b", "a"]);
    store.put("a/b", None);
    assert_eq!(topics(&store, "#"), vec!["a"]);
    assert_eq!(store.len(), 1);
    store.put("never/stored", None);
    assert_eq!(store.len(), 1);
    store.put("a", None);
    assert!(store.is_empty());
    assert_eq!(topics(&store, "#"), Vec::<String>::new());
}

#[test]
fn matching_appends_without_clearing() {
    let store = store_with(&["a", "b"]);
    let mut out = Vec::new();
    store.matching("a", &mut out);
    store.matching("b", &mut out);
    assert_eq!(out.len(), 2);
}

#[test]
fn wildcard_filters_match_as_topic_matches() {
    let store = store_with(&[
        "sport",
        "sport/",
        "sport/tennis",
        "sport/tennis/player1",
        "sport/golf",
        "/finance",
        "a//b",
    ]);
    assert_eq!(
        topics(&store, "sport/#"),
        vec![
            "sport",
            "sport/",
            "sport/golf",
            "sport/tennis",
            "sport/tennis/player1"
        ]
    );
    assert_eq!(
        topics(&store, "sport/+"),
        vec!["sport/", "sport/golf", "sport/tennis"]
    );
    assert_eq!(topics(&store, "sport/+/player1"), vec!["sport/tennis/player1"]);
    assert_eq!(topics(&store, "+/+"), {
        let mut v = vec!["/finance", "sport/", "sport/golf", "sport/tennis"];
        v.sort();
        v
    });
    assert_eq!(topics(&store, "+"), vec!["sport"]);
    assert_eq!(topics(&store, "/+"), vec!["/finance"]);
    assert_eq!(topics(&store, "a/+/b"), vec!["a//b"]);
    assert_eq!(topics(&store, "#").len(), 7);
}

#[test]
fn dollar_topics_skip_leading_wildcards_mqtt_4_7_2_1() {
    let store = store_with(&["$SYS/broker/uptime", "$", "a/$b"]);
    assert_eq!(topics(&store, "#"), vec!["a/$b"]);
    assert_eq!(topics(&store, "+"), Vec::<String>::new());
    assert_eq!(topics(&store, "+/broker/uptime"), Vec::<String>::new());
    assert_eq!(topics(&store, "$SYS/#"), vec!["$SYS/broker/uptime"]);
    assert_eq!(topics(&store, "$SYS/+/uptime"), vec!["$SYS/broker/uptime"]);
    assert_eq!(topics(&store, "$"), vec!["$"]);
    assert_eq!(topics(&store, "a/+"), vec!["a/$b"]);
}

#[test]
fn misplaced_hash_matches_nothing() {
    let store = store_with(&["a/x/b", "a/#/b"]);
    assert_eq!(topics(&store, "a/#/b"), Vec::<String>::new());
}

#[test]
fn deletes_prune_nodes_and_reuse_slots() {
    let store = RetainedStore::new();
    for round in 0..1000u32 {
        let topic = format!("r/{}/x/{}", round % 7, round);
        store.put(&topic, Some(round));
        store.put("keep/me", Some(0));
        store.put(&topic, None);
    }
    assert_eq!(store.len(), 1);
    assert_eq!(node_count(&store), 2);
    assert!(store.inner.read().nodes.len() <= 8);
    store.put("keep/me", None);
    assert_eq!(node_count(&store), 0);
}

#[test]
fn deep_topic_does_not_overflow_the_stack() {
    let store = RetainedStore::new();
    let topic = vec!["l"; 30_000].join("/");
    store.put(&topic, Some(1));
    assert_eq!(topics(&store, "#"), vec![topic.clone()]);
    let filter = vec!["+"; 30_000].join("/");
    assert_eq!(topics(&store, &filter), vec![topic.clone()]);
    store.put(&topic, None);
    assert_eq!(node_count(&store), 0);
}

const LEVELS: &[&str] = &["a", "b", "$sys", ""];
const FILTER_LEVELS: &[&str] = &["a", "b", "$sys", "", "+", "#"];

fn joined(alphabet: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(alphabet), 1..4).prop_map(|v| v.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn matching_agrees_with_topic_matches(
        ops in prop::collection::vec((joined(LEVELS), any::<bool>()), 0..40),
        filters in prop::collection::vec(joined(FILTER_LEVELS), 1..10),
    ) {
        let store = RetainedStore::new();
        let mut model: HashMap<String, u32> = HashMap::new();
        for (i, (topic, keep)) in ops.iter().enumerate() {
            if *keep {
                store.put(topic, Some(i as u32));
                model.insert(topic.clone(), i as u32);
            } else {
                store.put(topic, None);
                model.remove(topic);
            }
        }
        prop_assert_eq!(store.len(), model.len());
        for filter in &filters {
            let mut out = Vec::new();
            store.matching(filter, &mut out);
            let mut got: Vec<(String, u32)> = out.iter().map(|(t, m)| (t.to_string(), *m)).collect();
            got.sort();
            let mut want: Vec<(String, u32)> = model
                .iter()
                .filter(|(t, _)| matches(filter, t))
                .map(|(t, m)| (t.clone(), *m))
                .collect();
            want.sort();
            prop_assert_eq!(got, want, "filter {:?}", filter);
        }
        for topic in model.keys() {
            store.put(topic, None);
        }
        prop_assert_eq!(node_count(&store), 0);
    }
}
