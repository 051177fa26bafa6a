//! Tests of the configuration loader.
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A TOML file in the temp dir, removed on drop; names are unique per test process.
struct TempToml(PathBuf);

impl TempToml {
    fn new(text: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("arbor-cfg-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).expect("write temp config");
        Self(path)
    }
}

impl Drop for TempToml {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn load_err(file: Option<&str>, vars: &[(&str, &str)]) -> (String, Option<PathBuf>) {
    let file = file.map(TempToml::new);
    let err = load(file.as_ref().map(|f| f.0.as_path()), env(vars)).expect_err("config should be rejected");
    (err.to_string(), file.as_ref().map(|f| f.0.clone()))
}

#[test]
fn no_file_and_no_env_gives_the_defaults() {
    let config = load(None, env(&[])).expect("defaults load");
    assert_eq!(config, BrokerConfig::defaults());
}

#[test]
fn a_file_overrides_only_the_keys_it_sets() {
    let file = TempToml::new("[sm]\npool_size = 4\n[listeners.tcp]\nbind = \"127.0.0.1:2883\"\n");
    let config = load(Some(&file.0), env(&[])).expect("loads");
    assert_eq!(config.sm.pool_size, 4);
    assert_eq!(config.listeners["tcp"].bind.to_string(), "127.0.0.1:2883");
    assert_eq!(config.listeners["tcp"].acceptors, 16);
    assert_eq!(config.mqtt, BrokerConfig::defaults().mqtt);
}

#[test]
fn a_file_list_replaces_the_default_list() {
    let file = TempToml::new("[listeners.tcp]\naccess = [\"deny 10.0.0.0/8\"]\n");
    let config = load(Some(&file.0), env(&[])).expect("loads");
    let access: Vec<String> = config.listeners["tcp"]
        .access
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(access, ["deny 10.0.0.0/8"]);
}

#[test]
fn env_overrides_the_file() {
    let file = TempToml::new("[sm]\npool_size = 4\n[admin]\nbind = \"127.0.0.1:1\"\n");
    let vars = [
        ("ARBOR__SM__POOL_SIZE", "8"),
        ("ARBOR__ADMIN__BIND", "127.0.0.1:28083"),
        ("ARBOR__LISTENERS__TCP__BIND", "127.0.0.1:2883"),
        ("ARBOR__LISTENERS__TCP__ACCESS", "deny 10.0.0.0/8, allow all"),
        ("ARBOR__MQTT__CONNECT_TIMEOUT", "100ms"),
        ("ARBOR__SESSION__MQUEUE_STORE_QOS0", "false"),
        ("ARBOR__NODE__NAME", "0123"),
        ("ARBOR_ADMIN", "http://127.0.0.1:9"),
        ("PATH", "/usr/bin"),
    ];
    let config = load(Some(&file.0), env(&vars)).expect("loads");
    assert_eq!(config.sm.pool_size, 8);
    assert_eq!(config.admin.bind.to_string(), "127.0.0.1:28083");
    let tcp = &config.listeners["tcp"];
    assert_eq!(tcp.bind.to_string(), "127.0.0.1:2883");
    let access: Vec<String> = tcp.access.iter().map(|r| r.to_string()).collect();
    assert_eq!(access, ["deny 10.0.0.0/8", "allow all"]);
    assert_eq!(config.mqtt.connect_timeout, std::time::Duration::from_millis(100));
    assert!(!config.session.mqueue_store_qos0);
    // Strings stay strings: no number parsing that would turn "0123" into "123".
    assert_eq!(config.node.name, "0123");

    let empty = [("ARBOR__LISTENERS__TCP__ACCESS", "")];
    let config = load(None, env(&empty)).expect("loads");
    assert!(config.listeners["tcp"].access.is_empty());
}

#[test]
fn a_new_listener_from_the_file_must_set_every_key() {
    let complete = "[listeners.ws]\nkind = \"tcp\"\nbind = \"127.0.0.1:8083\"\nacceptors = 2\n\
                    max_connections = 10\naccess = []\nrate_limit = \"4096,1024\"\nproxy_protocol = false\n";
    let file = TempToml::new(complete);
    let config = load(Some(&file.0), env(&[])).expect("loads");
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(config.listeners["ws"].rate_limit.map(|r| r.burst), Some(4096));

    let (message, path) = load_err(Some("[listeners.ws]\nbind = \"127.0.0.1:8083\"\n"), &[]);
    let path = path.expect("file").display().to_string();
    assert!(message.starts_with("missing key `listeners.ws."), "{message}");
    assert!(message.ends_with(&format!(" in {path}")), "{message}");

    let (message, _) = load_err(None, &[("ARBOR__LISTENERS__WS__BIND", "127.0.0.1:8083")]);
    assert!(message.starts_with("missing key `listeners.ws."), "{message}");
    assert!(
        message.ends_with(" in environment variable ARBOR__LISTENERS__WS__BIND"),
        "{message}"
    );
}

#[test]
fn listener_names_are_checked_and_keys_keep_their_case() {
    let upper = "[listeners.Ws]\nkind = \"tcp\"\nbind = \"127.0.0.1:8083\"\nacceptors = 2\n\
                 max_connections = 10\naccess = []\nrate_limit = \"\"\nproxy_protocol = false\n";
    let (message, path) = load_err(Some(upper), &[]);
    let path = path.expect("file").display().to_string();
    assert!(
        message.starts_with(&format!("invalid `listeners.Ws` in {path}: ")),
        "{message}"
    );
    let (message, _) = load_err(Some("[SM]\npool_size = 1\n"), &[]);
    assert!(message.starts_with("unknown key `SM` in "), "{message}");
}

#[test]
fn unknown_key_in_the_file_names_key_and_file() {
    let (message, path) = load_err(Some("[listeners.tcp]\nbnd = \"127.0.0.1:1\"\n"), &[]);
    let path = path.expect("file").display().to_string();
    assert!(
        message.starts_with(&format!(
            "unknown key `listeners.tcp.bnd` in {path} (expected one of `kind`"
        )),
        "{message}"
    );
    let (message, path) = load_err(Some("[supervisors.sm_sub]\nmax_restarts = 1\n"), &[]);
    let path = path.expect("file").display().to_string();
    assert!(
        message.starts_with(&format!("unknown key `supervisors.sm_sub` in {path}")),
        "{message}"
    );
}

#[test]
fn unknown_env_var_names_the_variable() {
    let (message, _) = load_err(None, &[("ARBOR__SM__POOLSIZE", "4")]);
    assert!(
        message.starts_with("unknown key `sm.poolsize` in environment variable ARBOR__SM__POOLSIZE"),
        "{message}"
    );
    let (message, _) = load_err(None, &[("ARBOR__NOPE", "1")]);
    assert!(
        message.starts_with("unknown key `nope` in environment variable ARBOR__NOPE"),
        "{message}"
    );
    for bad in ["ARBOR__", "ARBOR__SM____POOL_SIZE", "ARBOR__SM__POOL-SIZE"] {
        let (message, _) = load_err(None, &[(bad, "1")]);
        assert!(
            message.starts_with(&format!("environment variable {bad} does not name")),
            "{message}"
        );
    }
    let (message, _) = load_err(None, &[("ARBOR__SM", "1"), ("ARBOR__SM__POOL_SIZE", "2")]);
    assert_eq!(
        message,
        "environment variables ARBOR__SM and ARBOR__SM__POOL_SIZE both set `sm`"
    );
}

#[test]
fn wrong_type_names_key_expected_type_and_source() {
    let (message, path) = load_err(Some("[sm]\npool_size = \"four\"\n"), &[]);
    let path = path.expect("file").display().to_string();
    assert_eq!(
        message,
        format!("invalid value for `sm.pool_size` in {path}: expected an integer, found string \"four\"")
    );
    let (message, _) = load_err(None, &[("ARBOR__SM__POOL_SIZE", "four")]);
    assert_eq!(
        message,
        "invalid value for `sm.pool_size` in environment variable ARBOR__SM__POOL_SIZE: \
         expected an integer, found string \"four\""
    );
    let (message, _) = load_err(None, &[("ARBOR__SESSION__MAX_INFLIGHT", "70000")]);
    assert_eq!(
        message,
        "invalid value for `session.max_inflight` in environment variable \
         ARBOR__SESSION__MAX_INFLIGHT: expected an integer from 0 to 65535, found 70000"
    );
    let (message, _) = load_err(None, &[("ARBOR__LISTENERS__TCP__BIND", "localhost")]);
    assert!(
        message.contains("`listeners.tcp.bind` in environment variable ARBOR__LISTENERS__TCP__BIND"),
        "{message}"
    );
}

/// Every number of the configuration is a count, size or time: a negative one is named as such,
/// from a variable or a file, whatever the key's integer type.
#[test]
fn a_negative_number_says_expected_a_non_negative_integer() {
    for (var, key) in [
        ("ARBOR__SM__POOL_SIZE", "sm.pool_size"),
        ("ARBOR__SESSION__MAX_INFLIGHT", "session.max_inflight"),
        ("ARBOR__MQTT__MAX_PACKET_SIZE", "mqtt.max_packet_size"),
    ] {
        let (message, _) = load_err(None, &[(var, "-1")]);
        assert_eq!(
            message,
            format!(
                "invalid value for `{key}` in environment variable {var}: \
                 expected a non-negative integer, found -1"
            )
        );
    }
    let (message, path) = load_err(Some("[sm]\npool_size = -4\n"), &[]);
    let path = path.expect("file").display().to_string();
    assert_eq!(
        message,
        format!("invalid value for `sm.pool_size` in {path}: expected a non-negative integer, found -4")
    );
}

#[test]
fn number_reasons_from_the_config_crates_words() {
    use super::number_reason;
    let unsigned = "an unsigned 64 bit or less integer";
    assert_eq!(
        number_reason(unsigned, "64-bit integer `-1`").as_deref(),
        Some("expected a non-negative integer, found -1")
    );
    assert_eq!(
        number_reason("an integer", "string \"-12\"").as_deref(),
        Some("expected a non-negative integer, found -12")
    );
    assert_eq!(
        number_reason("an unsigned 8 bit integer", "64-bit unsigned integer `300`").as_deref(),
        Some("expected an integer from 0 to 255, found 300")
    );
    assert_eq!(number_reason("an integer", "string \"four\""), None);
    assert_eq!(number_reason("a boolean", "64-bit integer `-1`"), None);
}

#[test]
fn a_bad_list_element_names_its_index_and_source() {
    let (message, _) = load_err(
        None,
        &[("ARBOR__LISTENERS__TCP__ACCESS", "allow all,deny 10.0.0.0/33")],
    );
    assert_eq!(
        message,
        "invalid value for `listeners.tcp.access[1]` in environment variable \
         ARBOR__LISTENERS__TCP__ACCESS: invalid access rule \"deny 10.0.0.0/33\": \
         `10.0.0.0/33` is not a CIDR block"
    );
    let (message, path) = load_err(Some("[log]\nformat = \"xml\"\n"), &[]);
    let path = path.expect("file").display().to_string();
    assert!(
        message.starts_with(&format!(
            "invalid value for `log.format` in {path}: expected `text` or `json`"
        )),
        "{message}"
    );
}

#[test]
fn validation_errors_name_the_key_and_the_layer_that_set_it() {
    let (message, path) = load_err(Some("[listeners.tcp]\nacceptors = 0\n"), &[]);
    let path = path.expect("file").display().to_string();
    assert_eq!(
        message,
        format!("invalid `listeners.tcp.acceptors` in {path}: must be at least 1")
    );
    let (message, _) = load_err(None, &[("ARBOR__SYS__INTERVAL", "0s")]);
    assert_eq!(
        message,
        "invalid `sys.interval` in environment variable ARBOR__SYS__INTERVAL: must be longer than zero"
    );
    let (message, _) = load_err(None, &[("ARBOR__ADMIN__BIND", "0.0.0.0:18083")]);
    assert!(
        message.starts_with("invalid `admin.token` in the built-in defaults"),
        "{message}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let path = std::env::temp_dir().join("arbor-cfg-does-not-exist.toml");
    let err = load(Some(&path), env(&[])).expect_err("missing file");
    assert_eq!(
        err.to_string(),
        format!("cannot read config file {}", path.display())
    );
    let ConfigError::ReadFile { source, .. } = &err else {
        panic!("expected ReadFile, got {err:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    // `main` prints the chain, which adds the OS's reason once.
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert!(
        chain.starts_with("cannot read config file ") && chain.contains(": "),
        "{chain}"
    );
}

#[test]
fn a_toml_syntax_error_names_file_and_line() {
    let (message, path) = load_err(Some("[sm]\npool_size = = 4\n"), &[]);
    let path = path.expect("file").display().to_string();
    assert!(
        message.starts_with(&format!("invalid TOML in {path}: ")),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn layer_sets_finds_keys_tables_and_dotted_names() {
    let layer = Layer::toml("[listeners.\"a.b\"]\nbind = 1\n[sm]\npool_size = 1\n").expect("toml");
    assert!(layer.sets("sm.pool_size"));
    assert!(layer.sets("sm"));
    assert!(layer.sets("listeners.a.b"));
    assert!(layer.sets("listeners.a.b.bind"));
    assert!(!layer.sets("listeners.tcp.bind"));
    assert!(!layer.sets("admin.bind"));
}

#[test]
fn the_tls_and_websocket_example_loads_and_a_kind_needs_its_table() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples/tls_ws.toml");
    let config = load(Some(&example), env(&[])).expect("the example loads");
    let kinds: Vec<String> = config.listeners.values().map(|l| l.kind.to_string()).collect();
    assert_eq!(kinds, ["tcp", "tls", "ws", "wss"]);
    assert_eq!(
        config.listeners["wss"].ws.as_ref().map(|w| w.path.as_str()),
        Some("/mqtt")
    );

    let no_table = "[listeners.ssl]\nkind = \"tls\"\nbind = \"127.0.0.1:8883\"\nacceptors = 2\n\
                    max_connections = 10\naccess = []\nrate_limit = \"\"\nproxy_protocol = false\n";
    let (message, _) = load_err(Some(no_table), &[]);
    assert!(
        message.starts_with("invalid `listeners.ssl.tls` in "),
        "{message}"
    );
    let (message, _) = load_err(None, &[("ARBOR__LISTENERS__TCP__KIND", "quic")]);
    assert!(message.contains("listeners.tcp.kind"), "{message}");
}
