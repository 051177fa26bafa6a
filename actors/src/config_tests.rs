//! Tests of the configuration types.
use super::*;
use crate::esockd::access::{Access, Target};

fn invalid_key(edit: impl FnOnce(&mut BrokerConfig)) -> String {
    let mut config = BrokerConfig::defaults();
    edit(&mut config);
    config.validate().expect_err("edit should be invalid").key
}

#[test]
fn embedded_defaults_parse_and_validate() {
    let config: BrokerConfig = toml::from_str(DEFAULT_TOML).expect("default.toml parses");
    assert_eq!(config, BrokerConfig::defaults());
    config.validate().expect("defaults are valid");
    let tcp = &config.listeners["tcp"];
    assert_eq!(tcp.bind, "0.0.0.0:1883".parse().expect("addr"));
    assert_eq!(tcp.acceptors, 16);
    assert_eq!(tcp.access.len(), 1);
    assert_eq!(tcp.access[0].access, Access::Allow);
    assert_eq!(tcp.access[0].target, Target::All);
    assert_eq!(tcp.rate_limit, None);
    assert_eq!(config.admin.token, None);
    assert_eq!(config.mqtt.connect_timeout, Duration::from_secs(15));
    assert_eq!(config.mqtt.frame_timeout, Duration::from_secs(30));
    assert_eq!(config.session.expiry_interval, Duration::from_secs(7200));
    assert_eq!(config.session.publisher_wait, Duration::from_secs(1));
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(config.log.level.as_str(), "info");
    assert_eq!(config.auth.password_file, None);
    let acceptor_sup = &config.supervisors.acceptor_sup;
    assert_eq!(
        (acceptor_sup.max_restarts, acceptor_sup.max_seconds),
        (1000, 3600)
    );
    assert_eq!(config.supervisors.iter().count(), 8);
}

#[test]
fn every_default_key_has_a_comment_line_above_it() {
    let mut previous = "";
    for line in DEFAULT_TOML.lines() {
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') && !line.starts_with('[') {
            assert!(previous.starts_with('#'), "no comment above `{line}`");
        }
        previous = line;
    }
}

#[test]
fn typed_values_reject_bad_input_with_a_reason() {
    let with = |section: &str, from: &str, to: &str| {
        let text = DEFAULT_TOML.replacen(from, to, 1);
        assert_ne!(text, DEFAULT_TOML, "{from} not found");
        toml::from_str::<BrokerConfig>(&text)
            .expect_err(section)
            .to_string()
    };
    let err = with("format", r#"format = "text""#, r#"format = "xml""#);
    assert!(err.contains(r#"expected `text` or `json`, found "xml""#), "{err}");
    let err = with("rate", r#"rate_limit = """#, r#"rate_limit = "10""#);
    assert!(err.contains(r#"invalid rate limit "10""#), "{err}");
    let err = with("access", r#"["allow all"]"#, r#"["allow 10.0.0.0/40"]"#);
    assert!(err.contains("not a CIDR block"), "{err}");
    let err = with("timeout", r#"timeout = "15s""#, r#"timeout = "15""#);
    assert!(err.contains("expected a duration"), "{err}");
}

#[test]
fn rate_limit_parses_burst_then_rate() {
    let limit: RateLimit = "1024, 512".parse().expect("rate limit");
    assert_eq!(
        limit,
        RateLimit {
            burst: 1024,
            bytes_per_sec: 512
        }
    );
    for bad in ["10", "0,5", "5,0", "a,b", "1,2,3", ",", "-1,5"] {
        assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
    }
}

#[test]
fn validate_names_the_offending_key() {
    assert_eq!(invalid_key(|c| c.listeners.clear()), "listeners");
    let acceptors = |c: &mut BrokerConfig| {
        c.listeners.get_mut("tcp").expect("tcp").acceptors = 0;
    };
    assert_eq!(invalid_key(acceptors), "listeners.tcp.acceptors");
    let rename = |c: &mut BrokerConfig| {
        let tcp = c.listeners.remove("tcp").expect("tcp");
        c.listeners.insert("My-Listener".into(), tcp);
    };
    assert_eq!(invalid_key(rename), "listeners.My-Listener");
    let same_bind = |c: &mut BrokerConfig| {
        let tcp = c.listeners["tcp"].clone();
        c.listeners.insert("tcp2".into(), tcp);
    };
    assert_eq!(invalid_key(same_bind), "listeners.tcp2.bind");
    let open_admin = |c: &mut BrokerConfig| {
        c.admin.bind = "0.0.0.0:18083".parse().expect("addr");
    };
    assert_eq!(invalid_key(open_admin), "admin.token");
    let frame = |c: &mut BrokerConfig| c.mqtt.max_packet_size = MAX_MQTT_FRAME + 1;
    assert_eq!(invalid_key(frame), "mqtt.max_packet_size");
    let frame_timeout = |c: &mut BrokerConfig| c.mqtt.frame_timeout = Duration::ZERO;
    assert_eq!(invalid_key(frame_timeout), "mqtt.frame_timeout");
    let interval = |c: &mut BrokerConfig| c.sys.interval = Duration::ZERO;
    assert_eq!(invalid_key(interval), "sys.interval");
    let window = |c: &mut BrokerConfig| c.supervisors.sm_sup.max_seconds = 0;
    assert_eq!(invalid_key(window), "supervisors.sm_sup.max_seconds");
    let no_dir = |c: &mut BrokerConfig| c.storage.dir = std::path::PathBuf::new();
    assert_eq!(invalid_key(no_dir), "storage.dir");
}

#[test]
fn storage_words_are_checked_by_name() {
    let bad = toml::from_str::<crate::config::StorageConfig>(
        "backend = \"tape\"\ndir = \"d\"\ndurability = \"sync\"",
    );
    let err = bad.expect_err("an unknown backend").to_string();
    assert!(err.contains("disk") && err.contains("memory"), "{err}");
}

#[test]
fn a_non_loopback_admin_with_a_token_is_valid() {
    let mut config = BrokerConfig::defaults();
    config.admin.bind = "0.0.0.0:18083".parse().expect("addr");
    config.admin.token = Some("s3cret".parse().expect("infallible"));
    config.validate().expect("valid");
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn listeners_on_port_zero_may_share_an_address() {
    let mut config = BrokerConfig::defaults();
    let mut tcp = config.listeners["tcp"].clone();
    tcp.bind = "127.0.0.1:0".parse().expect("addr");
    config.listeners.insert("tcp".into(), tcp.clone());
    config.listeners.insert("tcp2".into(), tcp);
    config.validate().expect("valid");
}

#[test]
fn pool_size_zero_means_one_worker_per_core() {
    assert!(SmConfig { pool_size: 0 }.workers() >= 1);
    assert_eq!(SmConfig { pool_size: 3 }.workers(), 3);
}
