use super::*;
use crate::routing::topic::{matches, parse_share};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A subscriber handle: `key` plays the client id, `tag` tells two handles of one key apart.
#[derive(Clone, Debug, PartialEq)]
struct Sub {
    key: u32,
    tag: u32,
}

impl Subscriber for Sub {
    type Key = u32;
    fn key(&self) -> &u32 {
        &self.key
    }
    /// Tag 666 plays a subscriber that has died.
    fn alive(&self) -> bool {
        self.tag != 666
    }
}

#[test]
fn remove_dead_sweeps_exact_wildcard_and_shared_entries() {
    let table = table_with(&[("a/b", 1, 0), ("a/+", 1, 1), ("a/b", 2, 0)]);
    let dead = Sub { key: 3, tag: 666 };
    for filter in ["a/b", "a/#", "$share/g/a/b", "$share/g/+/b"] {
        table.subscribe(filter, dead.clone(), 1).expect("valid filter");
    }
    assert_eq!(table.subscriptions_count(), 7);
    assert_eq!(table.remove_dead(), 4);
    assert_eq!(table.subscriptions_count(), 3);
    assert_eq!(routed(&table, "a/b"), vec![(1, 1), (2, 0)]);
    assert_eq!(table.remove_dead(), 0, "nothing left to sweep");
    assert_eq!(table.topics_count(), 2);
}

fn sub(key: u32) -> Sub {
    Sub { key, tag: 0 }
}

/// `(key, qos)` routed for `topic`, sorted by key.
fn routed(table: &RouteTable<Sub>, topic: &str) -> Vec<(u32, u8)> {
    let mut out = Vec::new();
    table.route(topic, &mut out);
    let mut keys: Vec<(u32, u8)> = out.iter().map(|(s, q)| (s.key, *q)).collect();
    keys.sort();
    keys
}

fn table_with(subs: &[(&str, u32, u8)]) -> RouteTable<Sub> {
    let table = RouteTable::new();
    for &(filter, key, qos) in subs {
        table.subscribe(filter, sub(key), qos).expect("valid filter");
    }
    table
}

#[test]
fn exact_and_wildcard_filters_route_to_their_subscribers() {
    let table = table_with(&[("a/b", 1, 0), ("a/+", 2, 1), ("x/#", 3, 2)]);
    assert_eq!(routed(&table, "a/b"), vec![(1, 0), (2, 1)]);
    assert_eq!(routed(&table, "a/c"), vec![(2, 1)]);
    assert_eq!(routed(&table, "x"), vec![(3, 2)]);
    assert_eq!(routed(&table, "x/y/z"), vec![(3, 2)]);
    assert_eq!(routed(&table, "b"), vec![]);
}

#[test]
fn resubscribe_replaces_entry_and_qos_mqtt_3_8_4_3() {
    let table = table_with(&[("a/b", 1, 0), ("a/+", 1, 0)]);
    table.subscribe("a/b", Sub { key: 1, tag: 7 }, 2).expect("valid");
    table.subscribe("a/+", Sub { key: 1, tag: 7 }, 1).expect("valid");
    assert_eq!(table.subscriptions_count(), 2);
    assert_eq!(table.topics_count(), 2);
    let mut out = Vec::new();
    table.route("a/b", &mut out);
    assert_eq!(out, vec![(Sub { key: 1, tag: 7 }, 2)]);
    assert_eq!(routed(&table, "a/c"), vec![(1, 1)]);
}

#[test]
fn overlapping_subscriptions_deliver_one_copy_at_max_qos_mqtt_3_3_5_1() {
    let table = table_with(&[("a/b", 1, 0), ("a/+", 1, 2), ("#", 1, 1), ("+/b", 2, 1)]);
    assert_eq!(routed(&table, "a/b"), vec![(1, 2), (2, 1)]);
    assert_eq!(routed(&table, "z/b"), vec![(1, 1), (2, 1)]);
}

#[test]
fn dedup_of_many_candidates_uses_the_map_path() {
    let table = RouteTable::new();
    for key in 0..40 {
        table.subscribe("a/b", sub(key), 0).expect("valid");
        table.subscribe("a/+", sub(key), (key % 3) as u8).expect("valid");
    }
    let want: Vec<(u32, u8)> = (0..40).map(|k| (k, (k % 3) as u8)).collect();
    assert_eq!(routed(&table, "a/b"), want);
}

#[test]
fn hash_matches_parent_and_empty_levels_are_levels_mqtt_4_7_1_2() {
    let table = table_with(&[("sport/#", 1, 0), ("+/+", 2, 0), ("/+", 3, 0), ("+", 4, 0)]);
    assert_eq!(routed(&table, "sport"), vec![(1, 0), (4, 0)]);
    assert_eq!(routed(&table, "sport/"), vec![(1, 0), (2, 0)]);
    assert_eq!(routed(&table, "/finance"), vec![(2, 0), (3, 0)]);
    assert_eq!(routed(&table, ""), vec![(4, 0)]);
}

#[test]
fn dollar_topics_skip_leading_wildcards_mqtt_4_7_2_1() {
    let table = table_with(&[
        ("#", 1, 0),
        ("+/monitor/Clients", 2, 0),
        ("$SYS/#", 3, 0),
        ("$SYS/monitor/+", 4, 0),
        ("$share/g/#", 5, 0),
    ]);
    assert_eq!(routed(&table, "$SYS/monitor/Clients"), vec![(3, 0), (4, 0)]);
    assert_eq!(routed(&table, "x/monitor/Clients"), vec![(1, 0), (2, 0), (5, 0)]);
}

#[test]
fn shared_group_delivers_each_message_to_one_member_round_robin() {
    let table = table_with(&[
        ("$share/g/a/+", 1, 0),
        ("$share/g/a/+", 2, 0),
        ("$share/g/a/+", 3, 0),
    ]);
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for _ in 0..30 {
        let got = routed(&table, "a/x");
        assert_eq!(got.len(), 1);
        *seen.entry(got[0].0).or_default() += 1;
    }
    assert_eq!(seen, BTreeMap::from([(1, 10), (2, 10), (3, 10)]));
}

#[test]
fn shared_groups_are_per_group_and_filter() {
    let table = table_with(&[
        ("$share/g1/a/b", 1, 0),
        ("$share/g2/a/b", 2, 0),
        ("$share/g1/a/+", 3, 0),
        ("a/b", 4, 0),
    ]);
    assert_eq!(routed(&table, "a/b"), vec![(1, 0), (2, 0), (3, 0), (4, 0)]);
    assert_eq!(table.topics_count(), 2);
    assert_eq!(table.subscriptions_count(), 4);
}

#[test]
fn shared_member_dedups_with_its_own_plain_subscription() {
    let table = table_with(&[("$share/g/a/b", 1, 2), ("a/#", 1, 0)]);
    assert_eq!(routed(&table, "a/b"), vec![(1, 2)]);
}

#[test]
fn unsubscribe_reports_whether_something_was_removed() {
    let table = table_with(&[("a/b", 1, 0), ("a/+", 1, 0), ("$share/g/a/b", 2, 0)]);
    assert!(!table.unsubscribe("a/b", &9));
    assert!(!table.unsubscribe("a/c", &1));
    assert!(!table.unsubscribe("$share/h/a/b", &2));
    assert!(!table.unsubscribe("a/#/b", &1));
    assert!(table.unsubscribe("$share/g/a/b", &2));
    assert!(!table.unsubscribe("$share/g/a/b", &2));
    assert!(table.unsubscribe("a/+", &1));
    assert_eq!(routed(&table, "a/b"), vec![(1, 0)]);
    assert!(table.unsubscribe("a/b", &1));
    assert_eq!(routed(&table, "a/b"), vec![]);
    assert_eq!((table.topics_count(), table.subscriptions_count()), (0, 0));
    assert_eq!(table.node_count(), 0);
}

#[test]
fn subscribe_refuses_invalid_filters_and_stores_nothing() {
    let table: RouteTable<Sub> = RouteTable::new();
    for bad in ["", "a/#/b", "a+", "$share//a", "$share/g", "a\0"] {
        assert!(table.subscribe(bad, sub(1), 0).is_err(), "{bad:?}");
    }
    assert_eq!((table.topics_count(), table.subscriptions_count()), (0, 0));
    assert_eq!(table.filters(), vec![]);
}

#[test]
fn remove_all_unsubscribes_every_listed_filter() {
    let table = table_with(&[("a/b", 1, 0), ("a/+", 1, 0), ("$share/g/#", 1, 0), ("a/b", 2, 0)]);
    let filters: Vec<String> = ["a/b", "a/+", "$share/g/#", "not/there"]
        .map(String::from)
        .to_vec();
    table.remove_all(&1, &filters);
    assert_eq!(routed(&table, "a/b"), vec![(2, 0)]);
    assert_eq!(table.subscriptions_count(), 1);
    assert_eq!(table.node_count(), 0);
}

#[test]
fn filters_lists_each_filter_with_its_entry_count() {
    let table = table_with(&[
        ("a/b", 1, 0),
        ("a/b", 2, 0),
        ("$share/g/a/b", 3, 0),
        ("a/+", 1, 0),
        ("#", 4, 0),
    ]);
    assert_eq!(
        table.filters(),
        vec![("#".into(), 1), ("a/+".into(), 1), ("a/b".into(), 3)]
    );
}

#[test]
fn route_clears_out_first() {
    let table = table_with(&[("a", 1, 0)]);
    let mut out = vec![(sub(9), 2)];
    table.route("a", &mut out);
    assert_eq!(out, vec![(sub(1), 0)]);
    table.route("b", &mut out);
    assert!(out.is_empty());
}

#[test]
fn crowded_filter_keeps_one_entry_per_key_through_its_index() {
    let table = RouteTable::new();
    for key in 0..100 {
        table.subscribe("room", sub(key), 0).expect("valid");
        table.subscribe("room/+", sub(key), 0).expect("valid");
    }
    for key in (0..100).step_by(2) {
        assert!(table.unsubscribe("room", &key));
        assert!(table.unsubscribe("room/+", &key));
    }
    for key in 0..100 {
        table.subscribe("room", sub(key), 1).expect("valid");
    }
    assert_eq!(routed(&table, "room").len(), 100);
    assert!(routed(&table, "room").iter().all(|&(_, q)| q == 1));
    let odd: Vec<(u32, u8)> = (1..100).step_by(2).map(|k| (k, 0)).collect();
    assert_eq!(routed(&table, "room/x"), odd);
    assert_eq!(table.subscriptions_count(), 150);
}

#[test]
fn deep_filters_do_not_overflow_the_stack() {
    let table = RouteTable::new();
    let plus = vec!["+"; 20_000].join("/");
    let topic = vec!["l"; 20_000].join("/");
    let literal_then_hash = format!("{topic}/#");
    table.subscribe(&plus, sub(1), 0).expect("valid");
    table.subscribe(&literal_then_hash, sub(2), 0).expect("valid");
    assert_eq!(routed(&table, &topic), vec![(1, 0), (2, 0)]);
    assert!(table.unsubscribe(&plus, &1));
    assert!(table.unsubscribe(&literal_then_hash, &2));
    assert_eq!(table.node_count(), 0);
}

#[test]
fn churn_leaves_no_trie_nodes_behind() {
    let table = RouteTable::new();
    let filters: Vec<String> = (0..10)
        .flat_map(|i| {
            [
                format!("a/{i}/+/#"),
                format!("+/{i}"),
                format!("$share/g{i}/b/+/{i}"),
                format!("x/{i}/y"),
                "#".to_string(),
            ]
        })
        .collect();
    let mut cycles = 0;
    while cycles < 100_000 {
        for (i, filter) in filters.iter().enumerate() {
            table.subscribe(filter, sub(i as u32 % 7), 1).expect("valid");
        }
        for (i, filter) in filters.iter().enumerate().rev() {
            table.unsubscribe(filter, &(i as u32 % 7));
        }
        cycles += filters.len();
    }
    assert_eq!(table.node_count(), 0);
    assert_eq!(table.wild.read().nodes.len(), 1);
    assert_eq!((table.topics_count(), table.subscriptions_count()), (0, 0));
    assert_eq!(table.filters(), vec![]);
}

#[test]
fn churn_beside_a_permanent_filter_reuses_freed_nodes() {
    let table = table_with(&[("keep/+", 1, 0)]);
    for i in 0..20_000u32 {
        let filter = format!("c/{}/+/{}", i % 5, i);
        table.subscribe(&filter, sub(2), 0).expect("valid");
        assert!(table.unsubscribe(&filter, &2));
    }
    assert_eq!(table.node_count(), 2);
    assert!(table.wild.read().nodes.len() <= 8);
}

#[test]
fn one_writer_four_readers_never_block_or_lose_a_stable_route() {
    let table = Arc::new(table_with(&[
        ("a/+/c", 0, 1),
        ("a/b/c", 1, 0),
        ("$share/g/a/b/#", 2, 0),
    ]));
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel::<(&'static str, u64)>();
    let writer = {
        let (table, stop, done) = (table.clone(), stop.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = 10 + (n % 7) as u32;
                let filters = [
                    format!("a/{}/c", n % 50),
                    format!("a/+/{}", n % 3),
                    "#".to_string(),
                    "a/b/c".to_string(),
                    "$share/g/a/b/#".to_string(),
                ];
                for f in &filters {
                    table.subscribe(f, sub(key), (n % 3) as u8).expect("valid");
                }
                for f in &filters {
                    table.unsubscribe(f, &key);
                }
                n += 1;
            }
            let _ = done.send(("writer", n));
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (table, stop, done) = (table.clone(), stop.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    table.route("a/b/c", &mut out);
                    let keys: HashSet<u32> = out.iter().map(|(s, _)| s.key).collect();
                    assert_eq!(keys.len(), out.len(), "one copy per key");
                    assert!(keys.contains(&0) && keys.contains(&1), "{keys:?}");
                    assert!(out.iter().any(|(s, q)| s.key == 0 && *q >= 1));
                    n += 1;
                }
                let _ = done.send(("reader", n));
            })
        })
        .collect();
    drop(done_tx);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..5 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (who, n) = done_rx
            .recv_timeout(left)
            .expect("a thread panicked or is deadlocked");
        assert!(n > 0, "{who} made no progress");
    }
    writer.join().expect("writer");
    for reader in readers {
        reader.join().expect("reader");
    }
    assert_eq!(table.subscriptions_count(), 3);
    assert_eq!(table.topics_count(), 3);
}

// ---- property test against a brute-force oracle ----

const FILTER_LEVELS: &[&str] = &["a", "b", "$sys", "", "+"];
const TOPIC_LEVELS: &[&str] = &["a", "b", "$sys", ""];

fn filter_strategy() -> impl Strategy<Value = String> {
    let levels = prop::collection::vec(prop::sample::select(FILTER_LEVELS), 0..3);
    (levels, any::<bool>(), prop::option::of(0..2u8)).prop_map(|(mut levels, hash, share)| {
        if hash || levels.is_empty() {
            levels.push("#");
        }
        let mut filter = levels.join("/");
        if filter.is_empty() {
            // [MQTT-4.7.3-1]: `[""]` joins to the empty filter, which is invalid.
            filter.push('#');
        }
        match share {
            Some(g) => format!("$share/g{g}/{filter}"),
            None => filter,
        }
    })
}

fn topic_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOPIC_LEVELS), 1..4).prop_map(|v| v.join("/"))
}

#[derive(Debug, Clone)]
enum Op {
    Subscribe(String, u32, u8),
    Unsubscribe(String, u32),
    Route(String),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (filter_strategy(), 0..4u32, 0..3u8).prop_map(|(f, k, q)| Op::Subscribe(f, k, q)),
        2 => (filter_strategy(), 0..4u32).prop_map(|(f, k)| Op::Unsubscribe(f, k)),
        3 => topic_strategy().prop_map(Op::Route),
    ]
}

/// Checks `route(topic)` against the model `(filter as subscribed, key) -> qos`. Without shared
/// groups the answer is exact; with them, each matching group adds one member of its own.
fn check_route(
    table: &RouteTable<Sub>,
    model: &BTreeMap<(String, u32), u8>,
    topic: &str,
) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    table.route(topic, &mut out);
    let got: BTreeMap<u32, u8> = out.iter().map(|(s, q)| (s.key, *q)).collect();
    prop_assert_eq!(got.len(), out.len(), "duplicate key in {:?}", out);
    let mut plain: BTreeMap<u32, u8> = BTreeMap::new();
    let mut groups: BTreeMap<(&str, &str), Vec<(u32, u8)>> = BTreeMap::new();
    for ((filter, key), &qos) in model {
        let (group, real) = parse_share(filter).map_or((None, filter.as_str()), |(g, f)| (Some(g), f));
        if !matches(real, topic) {
            continue;
        }
        match group {
            None => {
                let q = plain.entry(*key).or_insert(qos);
                *q = (*q).max(qos);
            }
            Some(g) => groups.entry((g, real)).or_default().push((*key, qos)),
        }
    }
    if groups.is_empty() {
        prop_assert_eq!(got, plain);
        return Ok(());
    }
    for (key, qos) in &plain {
        prop_assert!(got.get(key).is_some_and(|q| q >= qos), "plain {} missing", key);
    }
    for (group, members) in &groups {
        let delivered = members.iter().any(|(k, q)| got.get(k).is_some_and(|g| g >= q));
        prop_assert!(delivered, "group {:?} got no member", group);
    }
    let mut group_only = 0;
    for (key, qos) in &got {
        let in_groups = groups.values().flatten().filter(|(k, _)| k == key);
        let best = in_groups.map(|(_, q)| *q).chain(plain.get(key).copied()).max();
        prop_assert!(best.is_some_and(|b| *qos <= b), "key {} unexplained", key);
        group_only += usize::from(!plain.contains_key(key));
    }
    prop_assert!(group_only <= groups.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn route_agrees_with_brute_force_oracle(ops in prop::collection::vec(op_strategy(), 1..60)) {
        let table = RouteTable::new();
        let mut model: BTreeMap<(String, u32), u8> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Subscribe(f, k, q) => {
                    table.subscribe(f, sub(*k), *q).expect("generated filters are valid");
                    model.insert((f.clone(), *k), *q);
                }
                Op::Unsubscribe(f, k) => {
                    let removed = table.unsubscribe(f, k);
                    prop_assert_eq!(removed, model.remove(&(f.clone(), *k)).is_some());
                }
                Op::Route(t) => check_route(&table, &model, t)?,
            }
            let real_filters: HashSet<&str> = model
                .keys()
                .map(|(f, _)| parse_share(f).map_or(f.as_str(), |(_, r)| r))
                .collect();
            prop_assert_eq!(table.subscriptions_count(), model.len());
            prop_assert_eq!(table.topics_count(), real_filters.len());
        }
        for t in ["a", "b", "$sys", "", "a/b", "$sys/a", "/", "a//b"] {
            check_route(&table, &model, t)?;
        }
        for (f, k) in model.keys() {
            prop_assert!(table.unsubscribe(f, k));
        }
        prop_assert_eq!(table.node_count(), 0);
        prop_assert_eq!(table.topics_count(), 0);
    }
}
