//! TLS, WebSocket and secure WebSocket listeners beside TCP (issue 16): all four kinds in one
//! broker, real clients on each (rumqttc in-process; mosquitto_pub/sub over TLS and python
//! paho-mqtt over ws and wss through `common::interop`), and bad input on each: closed, counted
//! by reason, while other clients keep working.

mod common;

use std::net::SocketAddr;

use std::sync::Arc;
use std::time::Duration;

use arbor::cli::{ClientsCommand, CtlCommand, PageArgs};
use arbor_actors::auth::acl::{Permission, RuleConfig};
use arbor_actors::config::BrokerConfig;
use arbor_actors::esockd::tls::{PeerCertAsUsername, TlsConfig, Verify};
use arbor_actors::esockd::transport::Kind;
use arbor_actors::esockd::ws::WsConfig;
use common::certs::{self, CertFiles};
use common::client::{self, Client};
use common::{interop, TestBroker};
use rumqttc::{MqttOptions, QoS, SubscribeReasonCode, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn tls(
    files: &CertFiles,
    verify: Verify,
    fail_if_no_peer_cert: bool,
    as_user: PeerCertAsUsername,
) -> TlsConfig {
    TlsConfig {
        certfile: files.server_cert.clone(),
        keyfile: files.server_key.clone(),
        cacertfile: files.ca.clone(),
        verify,
        fail_if_no_peer_cert,
        versions: vec!["tlsv1.2".into(), "tlsv1.3".into()],
        ciphers: vec![],
        peer_cert_as_username: as_user,
    }
}

/// The test config with listeners `tls`, `ws` and `wss` beside `tcp`, all on 127.0.0.1:0.
fn four_kinds(files: &CertFiles, verify: Verify, as_user: PeerCertAsUsername) -> BrokerConfig {
    let mut config = common::test_config();
    let tcp = config.listeners["tcp"].clone();
    let ws = WsConfig {
        path: "/mqtt".into(),
        proxy_address_header: String::new(),
    };
    for (name, kind) in [("tls", Kind::Tls), ("ws", Kind::Ws), ("wss", Kind::Wss)] {
        let mut listener = tcp.clone();
        listener.kind = kind;
        listener.tls = kind.uses_tls().then(|| tls(files, verify, false, as_user));
        listener.ws = kind.uses_ws().then(|| ws.clone());
        config.listeners.insert(name.into(), listener);
    }
    config
}

fn addr(broker: &TestBroker, name: &str) -> SocketAddr {
    broker.handle.listener_addr(name).expect("listener bound")
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client config trusting the test CA, with a client certificate if given.
fn client_tls(
    files: &CertFiles,
    cert: Option<(&std::path::Path, &std::path::Path)>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&files.ca).expect("ca"))
        .expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(cert).expect("cert")],
                PrivateKeyDer::from_pem_file(key).expect("key"),
            )
            .expect("client auth"),
    };
    Arc::new(config)
}

/// rumqttc options for listener `name` of `broker`, over its kind's transport.
fn options(broker: &TestBroker, name: &str, id: &str, tls: Option<Arc<rustls::ClientConfig>>) -> MqttOptions {
    let port = addr(broker, name).port();
    let mut options = match name {
        "ws" => MqttOptions::new(id, format!("ws://127.0.0.1:{port}/mqtt"), port),
        "wss" => MqttOptions::new(id, format!("wss://localhost:{port}/mqtt"), port),
        _ => MqttOptions::new(id, "localhost", port),
    };
    options.set_keep_alive(Duration::from_secs(30));
    match (name, tls) {
        ("tls", Some(tls)) => options.set_transport(Transport::Tls(TlsConfiguration::Rustls(tls))),
        ("wss", Some(tls)) => options.set_transport(Transport::Wss(TlsConfiguration::Rustls(tls))),
        ("ws", _) => options.set_transport(Transport::Ws),
        _ => &mut options,
    };
    options
}

async fn connect(broker: &TestBroker, files: &CertFiles, name: &str, id: &str) -> Client {
    let tls = matches!(name, "tls" | "wss").then(|| client_tls(files, None));
    client::connect_with(options(broker, name, id, tls)).await.0
}

/// Waits until listener `name` counted `reason` at least once.
async fn counted(broker: &TestBroker, name: &str, reason: &str) {
    let table = broker.handle.api.listeners().find(name).expect("listener");
    common::eventually(&format!("{name} counts {reason}"), || {
        table.shutdown_counts().get(reason).copied().unwrap_or(0) > 0
    })
    .await;
}

/// All four kinds run side by side: each is a listener_sup in the tree and a row of
/// `ctl listeners` with its kind, and a message published on each reaches subscribers on
/// every other (rumqttc over TCP, TLS, WebSocket and secure WebSocket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_kinds_side_by_side_carry_messages_between_each_other() {
    let files = certs::make("alice");
    let broker = TestBroker::with_config(four_kinds(&files, Verify::None, PeerCertAsUsername::Off)).await;
    let names = ["tcp", "tls", "ws", "wss"];
    for name in names {
        let id = broker
            .handle
            .api
            .listeners()
            .find(name)
            .expect("listener")
            .id()
            .to_string();
        assert!(id.starts_with(&format!("mqtt:{name}:")), "{id}");
        broker.node(&format!("listeners_sup/listener_sup/{id}/acceptor_sup"));
    }
    let listed = broker
        .ctl(CtlCommand::Listeners {
            action: None,
            json: false,
        })
        .await
        .expect("ctl listeners");
    for name in names {
        assert!(listed.contains(&format!("mqtt:{name}:")), "{listed}");
    }
    assert!(listed.contains("KIND") && listed.contains(" wss "), "{listed}");
    let mut subscribers = Vec::new();
    for name in names {
        let mut c = connect(&broker, &files, name, &format!("sub-{name}")).await;
        client::subscribe(&mut c, "kinds/#").await;
        subscribers.push(c);
    }
    for name in names {
        let publisher = connect(&broker, &files, name, &format!("pub-{name}")).await;
        let payload = format!("from {name}");
        publisher
            .client
            .publish(format!("kinds/{name}"), QoS::AtLeastOnce, false, payload.clone())
            .await
            .expect("publish");
        for sub in &mut subscribers {
            let got = client::receive(sub).await;
            assert_eq!(got.payload, payload.as_bytes());
        }
    }
}

/// Bad input on each secure port is closed and counted by reason, and clients keep working:
/// plain MQTT on the TLS port (`tls_handshake`), an HTTP GET without upgrade on the ws port
/// (`ws_upgrade`), a text frame on a WebSocket [MQTT-6.0.0-1], and a TLS handshake that never
/// finishes (`timeout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_are_closed_and_counted_and_others_keep_working() {
    let files = certs::make("alice");
    let mut config = four_kinds(&files, Verify::None, PeerCertAsUsername::Off);
    config.mqtt.connect_timeout = Duration::from_millis(500);
    let broker = TestBroker::with_config(config).await;

    // A handshake that never finishes: a TCP connection that sends nothing.
    let mut silent = TcpStream::connect(addr(&broker, "tls")).await.expect("connect");
    // Plain MQTT (a CONNECT) on the TLS port.
    let mut plain = TcpStream::connect(addr(&broker, "tls")).await.expect("connect");
    let connect_bytes = [0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 30, 0, 0];
    plain.write_all(&connect_bytes).await.expect("write");
    closed(&mut plain).await;
    counted(&broker, "tls", "tls_handshake").await;
    // An HTTP GET without the upgrade on the ws port.
    let mut get = TcpStream::connect(addr(&broker, "ws")).await.expect("connect");
    get.write_all(b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    closed(&mut get).await;
    counted(&broker, "ws", "ws_upgrade").await;
    // The silent one is closed at the deadline.
    closed(&mut silent).await;
    counted(&broker, "tls", "timeout").await;

    // /metrics shows each listener's kind and the failures by reason.
    let metrics = reqwest::get(format!("{}/metrics", broker.admin))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    for (kind, reason) in [("tls", "tls_handshake"), ("tls", "timeout"), ("ws", "ws_upgrade")] {
        let line = format!("kind=\"{kind}\",reason=\"{reason}\"");
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("arbor_listener_shutdowns_total{") && l.contains(&line)),
            "{line} in {metrics}"
        );
    }

    // A WebSocket ping is answered with a pong; a text frame closes the connection.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/mqtt", addr(&broker, "ws")))
        .await
        .expect("upgrade");
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(client::WAIT, ws.next())
        .await
        .expect("an answer in time");
    assert!(
        matches!(pong, Some(Ok(Message::Pong(ref p))) if &p[..] == b"are you there"),
        "{pong:?}"
    );
    // A CONNECT split across two frames, then SUBSCRIBE and PINGREQ packed in one
    // [MQTT-6.0.0-2]: CONNACK, SUBACK and PINGRESP come back, in order.
    let (mut packed, _) = tokio_tungstenite::connect_async(format!("ws://{}/mqtt", addr(&broker, "ws")))
        .await
        .expect("upgrade");
    let split_connect = [
        0x10, 0x0e, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 30, 0, 2, b'w', b's',
    ];
    packed
        .send(Message::Binary(split_connect[..5].to_vec().into()))
        .await
        .expect("send");
    packed
        .send(Message::Binary(split_connect[5..].to_vec().into()))
        .await
        .expect("send");
    let subscribe_and_ping = [0x82, 0x08, 0, 1, 0, 3, b'a', b'/', b'b', 0, 0xc0, 0];
    packed
        .send(Message::Binary(subscribe_and_ping.to_vec().into()))
        .await
        .expect("send");
    let mut got = Vec::new();
    while got.len() < 4 + 5 + 2 {
        match tokio::time::timeout(client::WAIT, packed.next())
            .await
            .expect("answers in time")
        {
            Some(Ok(Message::Binary(data))) => got.extend_from_slice(&data),
            other => panic!("expected binary frames, got {other:?}"),
        }
    }
    assert_eq!(got, [0x20, 2, 0, 0, 0x90, 3, 0, 1, 0, 0xd0, 0]);

    ws.send(Message::Text("hello".into())).await.expect("send");
    let ended =
        tokio::time::timeout(client::WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
    assert!(ended.is_ok(), "a text frame closes the connection");

    // Everyone else still works, on every kind.
    for name in ["tcp", "tls", "ws", "wss"] {
        let mut c = connect(&broker, &files, name, &format!("after-{name}")).await;
        client::subscribe(&mut c, "still/here").await;
    }
}

/// Reads until the peer closes (EOF or reset), at most `client::WAIT`.
async fn closed(socket: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let ended = tokio::time::timeout(client::WAIT, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the broker closes the connection");
}

/// With `verify = "peer"`: an expired client certificate and one from another CA fail the
/// handshake (counted `tls_handshake`); a valid one connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_peer_refuses_expired_and_wrong_ca_client_certificates() {
    let files = certs::make("alice");
    let broker = TestBroker::with_config(four_kinds(&files, Verify::Peer, PeerCertAsUsername::Off)).await;
    for (cert, key) in [
        (&files.expired_cert, &files.expired_key),
        (&files.stranger_cert, &files.stranger_key),
    ] {
        let tls = client_tls(&files, Some((cert, key)));
        let (client, eventloop) = rumqttc::AsyncClient::new(options(&broker, "tls", "refused", Some(tls)), 8);
        let mut events = client::spawn_events(eventloop);
        client::wait_for(&mut events, |e| {
            matches!(e, rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect))
        })
        .await;
        drop(client);
    }
    let table = broker.handle.api.listeners().find("tls").expect("tls");
    common::eventually("two handshake failures", || {
        table.shutdown_counts().get("tls_handshake").copied().unwrap_or(0) >= 2
    })
    .await;
    let tls = client_tls(&files, Some((&files.client_cert, &files.client_key)));
    let (_ok, connack) = client::connect_with(options(&broker, "tls", "valid", Some(tls))).await;
    assert_eq!(connack.code, rumqttc::ConnectReturnCode::Success);
}

/// `peer_cert_as_username = "cn"`: the client certificate's CN is the username the ACL sees,
/// whatever CONNECT says; a client without a certificate is someone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_cert_cn_is_the_username_the_acl_applies_to() {
    cert_name_is_the_username(PeerCertAsUsername::Cn, "alice").await;
}

/// `peer_cert_as_username = "dn"`: the whole subject DN is the username instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_cert_dn_is_the_username_the_acl_applies_to() {
    cert_name_is_the_username(PeerCertAsUsername::Dn, "CN=alice, O=arbor tests").await;
}

/// With `mode`, a client certificate for `alice` makes `user` the username: the ACL lets only
/// `user` use `alice/#`, whatever CONNECT's username says.
async fn cert_name_is_the_username(mode: PeerCertAsUsername, user: &str) {
    let files = certs::make("alice");
    let mut config = four_kinds(&files, Verify::Peer, mode);
    config.acl.no_match = Permission::Deny;
    config.acl.rules = vec![RuleConfig {
        permission: Permission::Allow,
        who: format!("user:{user}"),
        action: "all".into(),
        topics: vec!["alice/#".into()],
    }];
    let broker = TestBroker::with_config(config).await;
    let with_cert = client_tls(&files, Some((&files.client_cert, &files.client_key)));
    let mut options_alice = options(&broker, "tls", "c1", Some(with_cert));
    options_alice.set_credentials("mallory", "");
    let (mut alice, _) = client::connect_with(options_alice).await;
    let codes = client::subscribe_qos(&mut alice, "alice/#", QoS::AtLeastOnce).await;
    assert_eq!(codes, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
    let info = broker.handle.api.registry().client("c1").expect("connected");
    assert_eq!(info.username.as_deref(), Some(user));
    let (mut anonymous, _) =
        client::connect_with(options(&broker, "tls", "c2", Some(client_tls(&files, None)))).await;
    let codes = client::subscribe_qos(&mut anonymous, "alice/#", QoS::AtLeastOnce).await;
    assert_eq!(codes, vec![SubscribeReasonCode::Failure]);
}

/// `ctl listeners reload` re-reads the certificate files: a connection up stays, new ones get
/// the new certificate; a broken file is refused with its name and the old one stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_certificates_without_dropping_connections() {
    let files = certs::make("alice");
    let broker = TestBroker::with_config(four_kinds(&files, Verify::None, PeerCertAsUsername::Off)).await;
    let mut before = connect(&broker, &files, "tls", "before").await;
    let old = certs::read(&files.server_cert);
    // A new server certificate from the same CA.
    let fresh = certs::make("alice");
    std::fs::copy(&fresh.server_cert, &files.server_cert).expect("copy");
    std::fs::copy(&fresh.server_key, &files.server_key).expect("copy");
    std::fs::copy(&fresh.ca, &files.ca).expect("copy");
    assert_ne!(old, certs::read(&files.server_cert));
    let out = broker
        .ctl(CtlCommand::Listeners {
            action: Some(arbor::cli::ListenersCommand::Reload),
            json: false,
        })
        .await
        .expect("reload");
    assert!(out.contains("mqtt:tls:") && out.contains("mqtt:wss:"), "{out}");
    // The old connection still works, and a new one trusts only the new CA.
    client::subscribe(&mut before, "reload/x").await;
    let _after = connect(&broker, &files, "tls", "after").await;
    std::fs::write(&files.server_key, "not a key").expect("write");
    let err = broker
        .ctl(CtlCommand::Listeners {
            action: Some(arbor::cli::ListenersCommand::Reload),
            json: false,
        })
        .await
        .expect_err("a broken key is refused");
    assert!(err.to_string().contains("server.key"), "{err:#}");
    let _still = connect(&broker, &files, "tls", "still").await;
}

/// mosquitto_sub and mosquitto_pub over TLS with `--cafile`, and with `--cert/--key` under
/// `verify = "peer"` and `peer_cert_as_username` (the ACL lets only `alice` use `alice/#`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_over_tls_with_and_without_client_certificates() {
    if !interop::require_programs(&["mosquitto_pub", "mosquitto_sub"], "mosquitto clients over TLS") {
        return;
    }
    let files = certs::make("alice");
    let mut config = four_kinds(&files, Verify::Peer, PeerCertAsUsername::Cn);
    config.acl.no_match = Permission::Allow;
    config.acl.rules = vec![RuleConfig {
        permission: Permission::Deny,
        who: "all".into(),
        action: "publish".into(),
        topics: vec!["alice/#".into()],
    }];
    config.acl.rules.insert(
        0,
        RuleConfig {
            permission: Permission::Allow,
            who: "user:alice".into(),
            action: "publish".into(),
            topics: vec!["alice/#".into()],
        },
    );
    let broker = TestBroker::with_config(config).await;
    let port = addr(&broker, "tls").port().to_string();
    let ca = files.ca.display().to_string();
    let (cert, key) = (
        files.client_cert.display().to_string(),
        files.client_key.display().to_string(),
    );
    let base = |tool: &str, id: &str| {
        let mut c = Command::new(tool);
        c.args([
            "-h",
            "localhost",
            "-p",
            &port,
            "--cafile",
            &ca,
            "-q",
            "1",
            "-i",
            id,
        ]);
        c
    };
    let mut sub = base("mosquitto_sub", "tls-sub");
    sub.args([
        "-t", "alice/#", "-t", "open/#", "-C", "2", "-W", "15", "-F", "%t %p",
    ]);
    let sub = tokio::spawn(async move { interop::finish(&mut sub, "mosquitto_sub over TLS").await });
    common::eventually("mosquitto_sub subscribed", || {
        broker
            .handle
            .api
            .routes()
            .filters()
            .iter()
            .any(|(f, _)| f == "open/#")
    })
    .await;
    // Without a certificate: may publish to open/, not to alice/ (dropped by the ACL).
    let mut anon = base("mosquitto_pub", "tls-anon");
    anon.args(["-t", "alice/x", "-m", "from anonymous"]);
    assert!(interop::finish(&mut anon, "mosquitto_pub anon")
        .await
        .status
        .success());
    let mut open = base("mosquitto_pub", "tls-open");
    open.args(["-t", "open/x", "-m", "open"]);
    assert!(interop::finish(&mut open, "mosquitto_pub open")
        .await
        .status
        .success());
    // With alice's certificate: alice/ is hers.
    let mut alice = base("mosquitto_pub", "tls-alice");
    alice.args([
        "--cert",
        &cert,
        "--key",
        &key,
        "-t",
        "alice/x",
        "-m",
        "from alice",
    ]);
    let published = interop::finish(&mut alice, "mosquitto_pub alice").await;
    assert!(published.status.success(), "{published:?}");
    let got = sub.await.expect("sub");
    assert!(got.status.success(), "{got:?}");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "open/x open\nalice/x from alice"
    );
}

const PAHO_WS: &str = r#"
import sys, ssl, threading
import paho.mqtt.client as mqtt
port, secure, ca = int(sys.argv[1]), sys.argv[2] == "wss", sys.argv[3]
got, done, subscribed = [], threading.Event(), threading.Event()
kwargs = {"client_id": "paho-" + sys.argv[2], "transport": "websockets"}
if hasattr(mqtt, "CallbackAPIVersion"):
    kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
c = mqtt.Client(**kwargs)
c.ws_set_options(path="/mqtt")
if secure:
    c.tls_set(ca_certs=ca)
def on_connect(client, userdata, flags, rc):
    assert rc == 0, rc
    client.subscribe("paho/#", qos=1)
def on_subscribe(client, userdata, mid, granted):
    subscribed.set()
def on_message(client, userdata, msg):
    got.append((msg.topic, len(msg.payload)))
    if len(got) == 2:
        done.set()
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect("localhost", port, keepalive=30)
c.loop_start()
assert subscribed.wait(10), "no SUBACK"
c.publish("paho/small", "x", qos=1).wait_for_publish(10)
c.publish("paho/large", "y" * 300000, qos=1).wait_for_publish(10)
assert done.wait(10), got
c.disconnect(); c.loop_stop()
assert sorted(got) == [("paho/large", 300000), ("paho/small", 1)], got
print("ok")
"#;

/// python paho-mqtt with `transport="websockets"` over ws and wss: subscribe, publish to
/// itself a small message and one of 300 kB (many frames' worth), receive both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_ws_and_wss_round_trips() {
    if !interop::require_python_module("paho.mqtt", "python paho-mqtt over ws and wss") {
        return;
    }
    let files = certs::make("alice");
    let broker = TestBroker::with_config(four_kinds(&files, Verify::None, PeerCertAsUsername::Off)).await;
    for name in ["ws", "wss"] {
        let mut python = Command::new("python3");
        python.args([
            "-c",
            PAHO_WS,
            &addr(&broker, name).port().to_string(),
            name,
            &files.ca.display().to_string(),
        ]);
        let out = interop::finish(&mut python, &format!("paho over {name}")).await;
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
            "paho over {name}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Behind a proxy: a PROXY v1 header on a `proxy_protocol` listener and `X-Forwarded-For` on a
/// WebSocket listener that trusts it name the client; the clients list shows that address, and
/// the access rules are checked against it (denied: closed and counted `access_denied`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_clients_are_seen_and_checked_at_their_real_address() {
    let files = certs::make("alice");
    let mut config = four_kinds(&files, Verify::None, PeerCertAsUsername::Off);
    let mut proxied = config.listeners["tcp"].clone();
    proxied.proxy_protocol = true;
    // Its own address: listener ids are kind and bind, and `tcp` is on 127.0.0.1:0.
    proxied.bind = "127.0.0.2:0".parse().expect("addr");
    proxied.access = vec![
        "deny 203.0.113.9".parse().expect("rule"),
        "allow all".parse().expect("rule"),
    ];
    config.listeners.insert("proxied".into(), proxied);
    if let Some(ws) = config.listeners.get_mut("ws").and_then(|l| l.ws.as_mut()) {
        ws.proxy_address_header = "X-Forwarded-For".into();
    }
    let broker = TestBroker::with_config(config).await;

    let connect_packet = |id: &[u8]| {
        let mut p = vec![
            0x10,
            10 + 2 + id.len() as u8,
            0,
            4,
            b'M',
            b'Q',
            b'T',
            b'T',
            4,
            2,
            0,
            30,
            0,
            id.len() as u8,
        ];
        p.extend_from_slice(id);
        p
    };
    let mut via_proxy = TcpStream::connect(addr(&broker, "proxied"))
        .await
        .expect("connect");
    via_proxy
        .write_all(b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n")
        .await
        .expect("header");
    via_proxy
        .write_all(&connect_packet(b"proxied"))
        .await
        .expect("connect");
    let mut connack = [0u8; 4];
    tokio::time::timeout(client::WAIT, via_proxy.read_exact(&mut connack))
        .await
        .expect("CONNACK in time")
        .expect("CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0]);

    let mut denied = TcpStream::connect(addr(&broker, "proxied"))
        .await
        .expect("connect");
    denied
        .write_all(b"PROXY TCP4 203.0.113.9 10.0.0.1 51001 1883\r\n")
        .await
        .expect("header");
    closed(&mut denied).await;
    counted(&broker, "proxied", "access_denied").await;

    let mut request = format!("ws://{}/mqtt", addr(&broker, "ws"))
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "X-Forwarded-For",
        "198.51.100.4, 10.0.0.2".parse().expect("header"),
    );
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
    use futures::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        connect_packet(b"forwarded").into(),
    ))
    .await
    .expect("connect");
    let answer = tokio::time::timeout(client::WAIT, ws.next())
        .await
        .expect("CONNACK in time");
    assert!(
        matches!(answer, Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(ref b))) if b[..] == [0x20, 2, 0, 0]),
        "{answer:?}"
    );

    let list = broker
        .ctl(CtlCommand::Clients(ClientsCommand::List {
            page: PageArgs::default(),
            username: None,
            peer: None,
        }))
        .await
        .expect("clients");
    let line = |id: &str| {
        list.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("proxied").contains("203.0.113.7:51000"), "{list}");
    assert!(line("forwarded").contains("198.51.100.4:"), "{list}");
}

/// `trusted_proxies`: a PROXY header from a peer outside the list closes the connection
/// (counted `proxy_protocol`); from a peer inside it, the address it names is the client's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_trusted_proxies_name_the_client() {
    let files = certs::make("alice");
    let mut config = four_kinds(&files, Verify::None, PeerCertAsUsername::Off);
    let listener = |bind: &str, trusted: &str| {
        let mut l = config.listeners["tcp"].clone();
        l.proxy_protocol = true;
        l.bind = bind.parse().expect("addr");
        l.trusted_proxies = vec![trusted.to_string().try_into().expect("a network")];
        l
    };
    let (trusting, untrusting) = (
        listener("127.0.0.2:0", "127.0.0.0/8"),
        listener("127.0.0.3:0", "10.0.0.0/8"),
    );
    config.listeners.insert("trusting".into(), trusting);
    config.listeners.insert("untrusting".into(), untrusting);
    let broker = TestBroker::with_config(config).await;
    let header = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n";
    let mut untrusted = TcpStream::connect(addr(&broker, "untrusting"))
        .await
        .expect("connect");
    untrusted.write_all(header).await.expect("header");
    closed(&mut untrusted).await;
    counted(&broker, "untrusting", "proxy_protocol").await;
    let mut trusted = TcpStream::connect(addr(&broker, "trusting"))
        .await
        .expect("connect");
    trusted.write_all(header).await.expect("header");
    // CONNECT, level 4, clean session, keepalive 30, client id "t".
    let connect = [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 30, 0, 1, b't'];
    trusted.write_all(&connect).await.expect("connect");
    let mut connack = [0u8; 4];
    tokio::time::timeout(client::WAIT, trusted.read_exact(&mut connack))
        .await
        .expect("CONNACK in time")
        .expect("CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0]);
    let registry = broker.handle.api.registry();
    common::eventually("the client is registered", || registry.client("t").is_some()).await;
    let client = registry.client("t").expect("connected");
    assert_eq!(client.peer.to_string(), "203.0.113.7:51000");
    let bad: Result<arbor_actors::esockd::access::TrustedProxy, _> = "all".to_string().try_into();
    assert!(bad.is_err(), "a trusted proxy is a network, not `all`");
}
