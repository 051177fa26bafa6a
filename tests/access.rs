//! Admission and access control with real clients: listener rules at run time, max_connections,
//! the rate limit, passwords (argon2id and a real `mosquitto_passwd` file), the ACL with `%c`,
//! reload, and a connection flood.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use arbor_actors::auth::acl::{Permission, RuleConfig};
use arbor_actors::codec::{ConnectReturnCode, Packet, PacketId, Publish, QoS, TopicName};
use common::client::{connect, receive, subscribe};
use common::raw::{connect_packet, Raw};
use common::{eventually, test_config, TestBroker};

/// Connects and reports whether the broker answered with a CONNACK (refused peers are closed
/// right after accept, with nothing sent).
async fn admitted(broker: &TestBroker, id: &str) -> Option<Raw> {
    let mut raw = Raw::open(broker.mqtt).await;
    raw.send(&Packet::Connect(Box::new(connect_packet(id, true, 30, None))))
        .await;
    match raw.next().await {
        Some(Packet::ConnAck(ack)) if ack.code == ConnectReturnCode::Accepted => Some(raw),
        _ => None,
    }
}

#[tokio::test]
async fn deny_then_allow_at_run_time() {
    let broker = TestBroker::start().await;
    let l = broker.listener();
    l.add_rule("deny 127.0.0.1".parse().unwrap());
    assert!(admitted(&broker, "denied").await.is_none());
    assert_eq!(l.info().shutdown_counts.get("access_denied"), Some(&1));
    l.add_rule("allow 127.0.0.0/8".parse().unwrap());
    assert_eq!(l.rules(), ["allow 127.0.0.0/8", "deny 127.0.0.1", "allow all"]);
    assert!(admitted(&broker, "allowed").await.is_some());
}

#[tokio::test]
async fn the_connection_past_max_connections_is_refused_and_a_later_one_admitted() {
    let mut config = test_config();
    config.listeners.get_mut("tcp").unwrap().max_connections = 3;
    let broker = TestBroker::with_config(config).await;
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(
            admitted(&broker, &format!("max-{i}"))
                .await
                .expect("under the limit"),
        );
    }
    assert!(
        admitted(&broker, "max-over").await.is_none(),
        "the 4th is refused"
    );
    let l = broker.listener();
    assert_eq!(l.info().shutdown_counts.get("max_connections"), Some(&1));
    drop(held.pop());
    eventually("a slot is free", || l.info().current_connections == 2).await;
    assert!(admitted(&broker, "max-later").await.is_some());
}

/// A publisher faster than `rate_limit` is throttled to it (±20 % over 5 s) and stays up.
#[tokio::test]
async fn rate_limit_throttles_a_fast_publisher_and_keeps_it_connected() {
    let mut config = test_config();
    config.listeners.get_mut("tcp").unwrap().rate_limit = Some(arbor_actors::config::RateLimit {
        burst: 10_000,
        bytes_per_sec: 100_000,
    });
    let broker = TestBroker::with_config(config).await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("flood", true, 60, None)).await;
    let topic = TopicName::new("rl/t").unwrap();
    let publish = Packet::Publish(Publish::at_most_once(topic, vec![0u8; 1000].into()));
    let mut frame = bytes::BytesMut::new();
    arbor_actors::codec::encode(&publish, arbor_actors::codec::ProtocolLevel::V311, &mut frame);
    let received = &broker.handle.api.metrics().bytes_received;
    let start_bytes = received.load(Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    let writer = async {
        loop {
            raw.send_bytes(&frame).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    let elapsed = started.elapsed().as_secs_f64();
    let rate = (received.load(Ordering::Relaxed) - start_bytes) as f64 / elapsed;
    assert!(
        (80_000.0..=120_000.0).contains(&rate),
        "read {rate:.0} B/s against a limit of 100000"
    );
    // Still connected: registered, and the socket is not closed (what it wrote is still being
    // read at the limited rate, megabytes behind, so no reply could be awaited here).
    assert!(
        broker.handle.api.registry().client("flood").is_some(),
        "the throttled client stays connected"
    );
    assert!(
        raw.next_within(Duration::from_millis(200)).await.is_err(),
        "no close"
    );
}

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

async fn connack(broker: &TestBroker, user: Option<&str>, password: Option<&str>) -> ConnectReturnCode {
    let mut connect = connect_packet("auth-client", true, 30, None);
    connect.username = user.map(str::to_string);
    connect.password = password.map(|p| bytes::Bytes::from(p.to_string()));
    Raw::connected(broker.mqtt, connect).await.1.code
}

/// Passwords: right → 0x00, wrong → 0x04, anonymous when not allowed → 0x05 [MQTT-3.2.2-5];
/// a file made by `mosquitto_passwd` (PBKDF2-SHA512) works; failures are counted.
#[tokio::test]
async fn passwords_from_argon2_and_mosquitto_passwd_files() {
    let file = temp_file("passwd");
    let hash = arbor_actors::auth::passwd::hash_password(b"s3cret").unwrap();
    std::fs::write(&file, format!("alice:{hash}\n")).unwrap();
    // The mosquitto_passwd half needs mosquitto's tool; the argon2 half always runs.
    let with_mosquitto = common::interop::require_program(
        "mosquitto_passwd",
        "a password file made by mosquitto_passwd (the argon2 half still ran)",
    )
    .map(|tool| {
        let made = std::process::Command::new(tool)
            .arg("-b")
            .arg(&file)
            .args(["bob", "hunter2"])
            .status();
        assert!(made.is_ok_and(|s| s.success()), "mosquitto_passwd -b failed");
    })
    .is_some();
    let mut config = test_config();
    config.auth.allow_anonymous = false;
    config.auth.password_file = Some(file);
    let broker = TestBroker::with_config(config).await;
    assert_eq!(
        connack(&broker, Some("alice"), Some("s3cret")).await,
        ConnectReturnCode::Accepted
    );
    if with_mosquitto {
        assert_eq!(
            connack(&broker, Some("bob"), Some("hunter2")).await,
            ConnectReturnCode::Accepted
        );
    }
    assert_eq!(
        connack(&broker, Some("alice"), Some("nope")).await,
        ConnectReturnCode::BadUsernameOrPassword
    );
    assert_eq!(
        connack(&broker, Some("mallory"), Some("x")).await,
        ConnectReturnCode::BadUsernameOrPassword
    );
    assert_eq!(
        connack(&broker, None, None).await,
        ConnectReturnCode::NotAuthorized
    );
    assert_eq!(
        broker.handle.api.metrics().auth_failures.load(Ordering::Relaxed),
        3
    );
}

/// ACL with `%c`: a client may publish and subscribe only under `clients/<its id>/`; a denied
/// SUBSCRIBE filter gets 0x80, a denied PUBLISH is acknowledged and dropped.
#[tokio::test]
async fn acl_with_client_id_substitution() {
    let mut config = test_config();
    config.acl.no_match = Permission::Deny;
    config.acl.rules = vec![RuleConfig {
        permission: Permission::Allow,
        who: "all".into(),
        action: "all".into(),
        topics: vec!["clients/%c/#".into()],
    }];
    let broker = TestBroker::with_config(config).await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("c1", true, 30, None)).await;
    let pkid = PacketId::new(1).unwrap();
    let filters = vec![
        ("clients/c1/#".to_string(), QoS::AtLeastOnce.into()),
        ("clients/c2/#".to_string(), QoS::AtLeastOnce.into()),
    ];
    raw.send(&Packet::Subscribe(arbor_actors::codec::Subscribe {
        pkid,
        filters,
        properties: None,
    }))
    .await;
    match raw.next().await {
        Some(Packet::SubAck(ack)) => assert_eq!(
            ack.return_codes,
            [
                arbor_actors::codec::SubackCode::Success(QoS::AtLeastOnce),
                arbor_actors::codec::SubackCode::FAILURE
            ]
        ),
        other => panic!("{other:?}"),
    }
    for (topic, n) in [("clients/c2/x", 2u16), ("clients/c1/x", 3)] {
        let publish = Publish {
            qos: QoS::AtLeastOnce,
            pkid: PacketId::new(n),
            ..Publish::at_most_once(TopicName::new(topic).unwrap(), topic.as_bytes().to_vec().into())
        };
        raw.send(&Packet::Publish(publish)).await;
    }
    let mut acks = 0;
    let mut delivered = Vec::new();
    while acks < 2 || delivered.is_empty() {
        match raw.next().await {
            Some(Packet::PubAck(_)) => acks += 1,
            Some(Packet::Publish(p)) => delivered.push(p.topic.to_string()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        delivered,
        ["clients/c1/x"],
        "the denied publish was dropped, still acknowledged"
    );
    assert!(
        broker
            .handle
            .api
            .metrics()
            .messages_dropped
            .load(Ordering::Relaxed)
            >= 1
    );
}

/// Reload swaps the password file without dropping connections; a malformed file fails the
/// reload, names file and line, and keeps the old rules.
#[tokio::test]
async fn reload_keeps_connections_and_a_failed_reload_keeps_the_old_rules() {
    let file = temp_file("reload-passwd");
    let hash = |p: &[u8]| arbor_actors::auth::passwd::hash_password(p).unwrap();
    std::fs::write(&file, format!("u:{}\n", hash(b"old"))).unwrap();
    let mut config = test_config();
    config.auth.password_file = Some(file.clone());
    let broker = TestBroker::with_config(config).await;
    let mut watcher = connect(&broker, "reload-watcher", true, None).await;
    subscribe(&mut watcher, "r/t").await;
    std::fs::write(&file, format!("u:{}\n", hash(b"new"))).unwrap();
    broker.handle.api.reload_access().unwrap();
    assert_eq!(
        connack(&broker, Some("u"), Some("new")).await,
        ConnectReturnCode::Accepted
    );
    assert_eq!(
        connack(&broker, Some("u"), Some("old")).await,
        ConnectReturnCode::BadUsernameOrPassword
    );
    std::fs::write(&file, "u:$9$broken\n").unwrap();
    let err = broker.handle.api.reload_access().unwrap_err();
    assert!(err.contains(&format!("{} line 1", file.display())), "{err}");
    assert_eq!(
        connack(&broker, Some("u"), Some("new")).await,
        ConnectReturnCode::Accepted,
        "old rules kept"
    );
    let p = connect(&broker, "reload-pub", true, None).await;
    p.client
        .publish("r/t", rumqttc::QoS::AtLeastOnce, false, "still here")
        .await
        .unwrap();
    assert_eq!(
        &receive(&mut watcher).await.payload[..],
        b"still here",
        "connections survived"
    );
}

/// A flood of connects past max_connections leaves the broker responsive and the counts exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_past_the_limit_keeps_counts_exact() {
    let mut config = test_config();
    config.listeners.get_mut("tcp").unwrap().max_connections = 200;
    let broker = TestBroker::with_config(config).await;
    let l = broker.listener();
    let attempts = 3000;
    let started = tokio::time::Instant::now();
    let mut held = Vec::new();
    for wave in 0..(attempts / 500) {
        let opens = (0..500).map(|_| tokio::net::TcpStream::connect(broker.mqtt));
        for stream in futures::future::join_all(opens).await.into_iter().flatten() {
            held.push(stream);
        }
        let _ = wave;
    }
    let took = started.elapsed();
    eventually("every attempt accounted for", || {
        let info = l.info();
        let refused = info.shutdown_counts.get("max_connections").copied().unwrap_or(0);
        l.accepted_total() == attempts as u64 && info.current_connections as u64 + refused == attempts as u64
    })
    .await;
    assert_eq!(l.info().current_connections, 200);
    println!(
        "flood: {attempts} connects in {took:?} ({:.0}/s)",
        attempts as f64 / took.as_secs_f64()
    );
    drop(held);
    eventually("all slots free after the flood", || {
        l.info().current_connections == 0
    })
    .await;
    assert!(admitted(&broker, "after-flood").await.is_some(), "responsive");
}

/// `arbor ctl listeners rules|allow|deny` and `arbor ctl acl reload`, through the admin API.
#[tokio::test]
async fn ctl_changes_listener_rules_and_reloads_the_acl() {
    use arbor::cli::{AclCommand, CtlCommand, ListenersCommand};
    let broker = TestBroker::start().await;
    let rules = |action| CtlCommand::Listeners {
        action: Some(action),
        json: false,
    };
    let shown = broker
        .ctl(rules(ListenersCommand::Rules {
            listener: "tcp".into(),
        }))
        .await
        .unwrap();
    assert!(shown.contains("allow all"), "{shown}");
    let denied = broker
        .ctl(rules(ListenersCommand::Deny {
            listener: "tcp".into(),
            cidr: "127.0.0.1".into(),
        }))
        .await
        .unwrap();
    assert!(denied.contains("deny 127.0.0.1"), "{denied}");
    assert!(admitted(&broker, "ctl-denied").await.is_none());
    broker
        .ctl(rules(ListenersCommand::Allow {
            listener: "tcp".into(),
            cidr: "127.0.0.0/8".into(),
        }))
        .await
        .unwrap();
    assert!(admitted(&broker, "ctl-allowed").await.is_some());
    let bad = broker
        .ctl(rules(ListenersCommand::Allow {
            listener: "tcp".into(),
            cidr: "999.1.1.1".into(),
        }))
        .await;
    assert!(bad.is_err(), "a bad rule is refused");
    let unknown = broker
        .ctl(rules(ListenersCommand::Rules {
            listener: "nope".into(),
        }))
        .await;
    assert!(unknown.unwrap_err().to_string().contains("no listener `nope`"));
    let reloaded = broker
        .ctl(CtlCommand::Acl {
            action: AclCommand::Reload,
        })
        .await
        .unwrap();
    assert_eq!(reloaded, "access control reloaded\n");
}

/// `arbor passwd` writes a file the broker accepts.
#[tokio::test]
async fn arbor_passwd_writes_a_file_the_broker_accepts() {
    use std::io::Write;
    let file = temp_file("made-by-arbor");
    let _ = std::fs::remove_file(&file);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_arbor"))
        .args(["passwd", "-c", "--password-stdin"])
        .arg(&file)
        .arg("carol")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"open sesame\n").unwrap();
    assert!(child.wait().unwrap().success());
    let mut config = test_config();
    config.auth.password_file = Some(file);
    config.auth.allow_anonymous = false;
    let broker = TestBroker::with_config(config).await;
    assert_eq!(
        connack(&broker, Some("carol"), Some("open sesame")).await,
        ConnectReturnCode::Accepted
    );
    assert_eq!(
        connack(&broker, Some("carol"), Some("closed")).await,
        ConnectReturnCode::BadUsernameOrPassword
    );
}
