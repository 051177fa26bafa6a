use super::*;
use crate::codec::topic_rules::validate_subscription;
use proptest::prelude::*;

/// (filter, topic, expected). Rows marked with a section come from that section's examples in
/// MQTT 3.1.1; the rest are edge cases.
const MATRIX: &[(&str, &str, bool)] = &[
    // 4.7.1.2 multi-level wildcard
    ("sport/tennis/player1/#", "sport/tennis/player1", true),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
    (
        "sport/tennis/player1/#",
        "sport/tennis/player1/score/wimbledon",
        true,
    ),
    ("sport/tennis/player1/#", "sport/tennis/player2", false),
    ("sport/tennis/player1/#", "sport/tennis", false),
    ("sport/#", "sport", true),
    ("sport/#", "sport/", true),
    ("sport/#", "sports", false),
    ("#", "sport", true),
    ("#", "sport/tennis/player1", true),
    ("#", "/", true),
    ("sport/tennis/#", "sport/tennis/player1", true),
    // 4.7.1.3 single-level wildcard
    ("sport/tennis/+", "sport/tennis/player1", true),
    ("sport/tennis/+", "sport/tennis/player2", true),
    ("sport/tennis/+", "sport/tennis/player1/ranking", false),
    ("sport/+", "sport", false),
    ("sport/+", "sport/", true),
    ("+", "sport", true),
    ("+/tennis/#", "sport/tennis/player1", true),
    ("+/tennis/#", "sport/tennis", true),
    ("+/tennis/#", "sport/golf", false),
    ("sport/+/player1", "sport/tennis/player1", true),
    ("sport/+/player1", "sport/tennis/player2", false),
    ("+/+", "/finance", true),
    ("/+", "/finance", true),
    ("+", "/finance", false),
    // 4.7.2 topics beginning with $
    ("#", "$SYS/monitor/Clients", false),
    ("+/monitor/Clients", "$SYS/monitor/Clients", false),
    ("$SYS/#", "$SYS/monitor/Clients", true),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
    ("$SYS/#", "$SYS", true),
    ("+", "$", false),
    ("#", "$", false),
    ("$SYS/monitor/Clients", "$SYS/monitor/Clients", true),
    // 4.7.3 no normalisation
    ("ACCOUNTS", "Accounts", false),
    ("Accounts payable", "Accounts payable", true),
    ("/", "/", true),
    ("/", "//", false),
    ("a/b", "a/b/", false),
    // empty levels are levels
    ("+", "", true),
    ("#", "", true),
    ("+/a", "/a", true),
    ("a/+/b", "a//b", true),
    ("a//b", "a/x/b", false),
    ("a/#", "a", true),
    ("+/#", "a", true),
    ("+/+", "a", false),
    // a `$` not first, and `$` rule only for the first level
    ("a/+", "a/$b", true),
    ("a/#", "a/$b/c", true),
    ("$share/g/a", "a", false),
    // multibyte characters, including as the first character
    ("+/日本", "é/日本", true),
    ("é/#", "é", true),
    ("日本", "日本", true),
    ("日/+", "本/x", false),
    ("+", "€", true),
    // invalid filters never match anything they should not
    ("a/#/b", "a/x/b", false),
    ("a/#/b", "a/#/b", false),
    ("a+", "ab", false),
    ("a+", "a+", true),
];

#[test]
fn matching_matrix_from_mqtt_4_7() {
    for &(filter, topic, expected) in MATRIX {
        assert_eq!(matches(filter, topic), expected, "matches({filter:?}, {topic:?})");
    }
    assert!(MATRIX.len() >= 40);
}

#[test]
fn is_wildcard_detects_plus_and_hash() {
    assert!(is_wildcard("a/+"));
    assert!(is_wildcard("#"));
    assert!(is_wildcard("a/b/#"));
    assert!(!is_wildcard("a/b"));
    assert!(!is_wildcard("$SYS/é"));
    assert!(!is_wildcard(""));
}

#[test]
fn parse_share_splits_group_and_filter() {
    assert_eq!(parse_share("$share/g/a/b"), Some(("g", "a/b")));
    assert_eq!(parse_share("$share/g/#"), Some(("g", "#")));
    assert_eq!(parse_share("$share/grp/+/x"), Some(("grp", "+/x")));
    assert_eq!(parse_share("$share/g//"), Some(("g", "/")));
}

#[test]
fn parse_share_rejects_malformed_forms() {
    for bad in [
        "a/b",
        "$share",
        "$share/",
        "$share/g",
        "$share/g/",
        "$share//a",
        "$share/+/a",
        "$share/#/a",
        "$share/g+/a",
        "$SHARE/g/a",
        "$queue/a",
    ] {
        assert_eq!(parse_share(bad), None, "{bad:?}");
    }
}

/// A reference matcher written differently from [`matches`]: by level counts instead of a walk.
fn reference(filter: &str, topic: &str) -> bool {
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    let first_wild = f.first().is_some_and(|l| *l == "+" || *l == "#");
    if topic.starts_with('$') && first_wild {
        return false;
    }
    let level_ok = |fl: &str, tl: &str| fl == "+" || fl == tl;
    match f.iter().position(|l| *l == "#") {
        Some(i) if i + 1 == f.len() => t.len() >= i && f[..i].iter().zip(&t).all(|(a, b)| level_ok(a, b)),
        Some(_) => false,
        None => t.len() == f.len() && f.iter().zip(&t).all(|(a, b)| level_ok(a, b)),
    }
}

/// Filters and topics over a small alphabet of levels, so that matches are frequent.
fn levels(alphabet: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(alphabet), 1..5).prop_map(|v| v.join("/"))
}

const FILTER_LEVELS: &[&str] = &["a", "b", "$sys", "", "+", "#", "é", "日本", "$", "a+"];
const TOPIC_LEVELS: &[&str] = &["a", "b", "$sys", "", "é", "日本", "$", "+", "#"];

#[test]
fn reference_agrees_with_matrix() {
    for &(filter, topic, expected) in MATRIX {
        assert_eq!(reference(filter, topic), expected, "{filter:?} {topic:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_never_panics_on_any_string(filter in ".{0,40}", topic in ".{0,40}") {
        let _ = matches(&filter, &topic);
        let _ = is_wildcard(&filter);
        let _ = parse_share(&filter);
        let _ = validate_subscription(&filter);
        let _ = crate::codec::validate_topic_name(&topic);
    }

    #[test]
    fn matches_agrees_with_reference(
        filter in levels(FILTER_LEVELS),
        topic in levels(TOPIC_LEVELS),
    ) {
        prop_assert_eq!(matches(&filter, &topic), reference(&filter, &topic));
    }

    #[test]
    fn validated_share_parses_to_a_valid_filter(group in "[a-z]{0,3}", filter in levels(FILTER_LEVELS)) {
        let shared = format!("$share/{group}/{filter}");
        if validate_subscription(&shared).is_ok() {
            let (g, real) = parse_share(&shared).expect("validate_subscription accepted it");
            prop_assert_eq!(g, group.as_str());
            prop_assert_eq!(validate_subscription(real), Ok(()));
        }
    }
}
