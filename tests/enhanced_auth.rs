//! SCRAM-SHA-256 credentials with a running broker: `arbor passwd --scram` writes an entry that
//! a plain CONNECT password and the SCRAM-SHA-256 method both accept, argon2id entries keep
//! working beside it, and a reload swaps the method's credentials with the file. The exchange
//! is driven through the broker's own `AccessControl`, with the same calls and the same bytes
//! the connection's AUTH flow carries (CONNECT's and AUTH's authentication data).

mod common;

use std::path::{Path, PathBuf};

use arbor_actors::auth::enhanced::{AuthFailure, AuthStep};
use arbor_actors::auth::scram::client::ScramClient;
use arbor_actors::codec::ConnectReturnCode;
use common::raw::{connect_packet, Raw};
use common::{test_config, TestBroker};

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-enhanced-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `arbor passwd [args] FILE USER` with the password on standard input.
fn arbor_passwd(args: &[&str], file: &Path, user: &str, password: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_arbor"))
        .arg("passwd")
        .args(args)
        .arg("--password-stdin")
        .arg(file)
        .arg(user)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A 3.1.1 CONNECT with a user name and password; the CONNACK's code.
async fn connack(broker: &TestBroker, user: &str, password: &str) -> ConnectReturnCode {
    let mut connect = connect_packet("scram-plain", true, 30, None);
    connect.username = Some(user.to_string());
    connect.password = Some(bytes::Bytes::from(password.to_string()));
    Raw::connected(broker.mqtt, connect).await.1.code
}

/// A whole SCRAM-SHA-256 exchange against the broker's methods in force, as the connection
/// runs it: CONNECT's data begins it, each AUTH 0x18 steps it [MQTT-4.12.0-2]; a success's data
/// (server-final) is checked by the client. Ok(user) or the failure the CONNACK would carry.
fn scram(broker: &TestBroker, user: &str, password: &str) -> Result<String, AuthFailure> {
    let access = broker.handle.api.access();
    let mut client = ScramClient::new(user, password);
    let (mut exchange, step) = access
        .methods()
        .begin("SCRAM-SHA-256", Some(&client.client_first()))?;
    let AuthStep::Continue(server_first) = step else {
        panic!("SCRAM answers CONNECT with server-first: {step:?}")
    };
    let client_final = client.client_final(&server_first).expect("a valid server-first");
    match exchange.step(&client_final)? {
        AuthStep::Success { username, data } => {
            client
                .verify_server_final(&data.expect("server-final in the CONNACK"))
                .expect("the server knows the ServerKey");
            Ok(username)
        }
        step => panic!("SCRAM ends after client-final: {step:?}"),
    }
}

/// A SCRAM entry made by `arbor passwd --scram` serves both a plain CONNECT password (right →
/// 0x00, wrong → 0x04 [MQTT-3.2.2-5]) and SCRAM-SHA-256 (wrong password or unknown user →
/// 0x87 [MQTT-4.12.0-4]); an argon2id entry in the same file keeps working for CONNECT but
/// cannot serve SCRAM; an unknown method is 0x8C [MQTT-4.12.0-1].
#[tokio::test]
async fn arbor_passwd_scram_entries_serve_connect_passwords_and_scram() {
    let file = temp_file("passwd");
    let _ = std::fs::remove_file(&file);
    let made = arbor_passwd(&["-c", "--scram"], &file, "dana", "pencil");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert!(arbor_passwd(&[], &file, "eve", "argon").status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("dana:$scram-sha-256$4096$"), "{text}");
    // Not printable ASCII: refused (no SASLprep), and the file is left as it was.
    let refused = arbor_passwd(&["--scram"], &file, "fay", "pëncil");
    assert!(!refused.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    let mut config = test_config();
    config.auth.password_file = Some(file);
    config.auth.allow_anonymous = false;
    let broker = TestBroker::with_config(config).await;
    assert_eq!(
        connack(&broker, "dana", "pencil").await,
        ConnectReturnCode::Accepted
    );
    assert_eq!(
        connack(&broker, "dana", "pencil!").await,
        ConnectReturnCode::BadUsernameOrPassword
    );
    assert_eq!(
        connack(&broker, "eve", "argon").await,
        ConnectReturnCode::Accepted
    );

    assert_eq!(scram(&broker, "dana", "pencil"), Ok("dana".to_string()));
    for (user, password) in [("dana", "pencil!"), ("eve", "argon"), ("nobody", "pencil")] {
        let err = scram(&broker, user, password).unwrap_err();
        assert_eq!(
            err.connack_code(),
            ConnectReturnCode::NotAuthorized,
            "{user}: {err}"
        );
    }
    let access = broker.handle.api.access();
    let Err(err) = access.methods().begin("SCRAM-SHA-1", Some(b"n,,n=dana,r=abc")) else {
        panic!("an unknown method began")
    };
    assert_eq!(err.connack_code(), ConnectReturnCode::BadAuthenticationMethod);
}

/// A reload (`ctl acl reload`, SIGHUP) that changes the password file changes what SCRAM
/// accepts; an exchange begun before it finishes with the credentials it began with.
#[tokio::test]
async fn a_reload_swaps_the_scram_credentials() {
    let file = temp_file("reload");
    let _ = std::fs::remove_file(&file);
    assert!(arbor_passwd(&["-c", "--scram"], &file, "gus", "old")
        .status
        .success());
    let mut config = test_config();
    config.auth.password_file = Some(file.clone());
    let broker = TestBroker::with_config(config).await;
    assert!(scram(&broker, "gus", "old").is_ok());

    let mut client = ScramClient::new("gus", "old");
    let access = broker.handle.api.access();
    let (mut begun, step) = access
        .methods()
        .begin("SCRAM-SHA-256", Some(&client.client_first()))
        .unwrap();

    assert!(arbor_passwd(&["--scram"], &file, "gus", "new").status.success());
    broker.handle.api.reload_access().unwrap();
    assert!(scram(&broker, "gus", "new").is_ok());
    assert!(matches!(
        scram(&broker, "gus", "old"),
        Err(AuthFailure::NotAuthorized(_))
    ));

    let AuthStep::Continue(server_first) = step else {
        panic!("{step:?}")
    };
    let last = begun.step(&client.client_final(&server_first).unwrap());
    assert!(matches!(last, Ok(AuthStep::Success { .. })), "{last:?}");
}

/// SCRAM-SHA-256 over the wire, as an MQTT 5 client runs it: CONNECT with the method and
/// client-first, AUTH 0x18 with server-first from the broker, AUTH 0x18 with client-final,
/// then CONNACK 0x00 with server-final [MQTT-4.12.0-2]..[MQTT-4.12.0-4]; the ACL then sees the
/// user the exchange named. A wrong password gets CONNACK 0x87, and a packet other than AUTH
/// during the exchange is a protocol error.
#[tokio::test]
async fn scram_sha_256_over_the_wire_with_auth_packets() {
    use arbor_actors::codec::{Auth, Packet, Properties, ReasonCode};
    use common::raw::connect_v5;

    let file = temp_file("passwd-wire");
    let _ = std::fs::remove_file(&file);
    assert!(arbor_passwd(&["-c", "--scram"], &file, "wire", "secret")
        .status
        .success());
    let mut config = test_config();
    config.auth.password_file = Some(file);
    config.auth.allow_anonymous = false;
    let broker = TestBroker::with_config(config).await;

    let exchange = |password: &'static str| {
        let broker_addr = broker.mqtt;
        async move {
            let mut client = ScramClient::new("wire", password);
            let props = Properties {
                authentication_method: Some("SCRAM-SHA-256".into()),
                authentication_data: Some(client.client_first().into()),
                ..Properties::default()
            };
            let mut raw = Raw::open(broker_addr).await;
            raw.level = arbor_actors::codec::ProtocolLevel::V5;
            raw.send(&Packet::Connect(Box::new(connect_v5("scram-wire", true, props))))
                .await;
            let Some(Packet::Auth(challenge)) = raw.next().await else {
                panic!("AUTH 0x18 with server-first expected")
            };
            assert_eq!(challenge.reason, ReasonCode::CONTINUE_AUTHENTICATION);
            let p = challenge.properties.expect("properties");
            assert_eq!(p.authentication_method.as_deref(), Some("SCRAM-SHA-256"));
            let client_final = client
                .client_final(&p.authentication_data.expect("server-first"))
                .unwrap();
            raw.send(&Packet::Auth(Auth {
                reason: ReasonCode::CONTINUE_AUTHENTICATION,
                properties: Some(Box::new(Properties {
                    authentication_method: Some("SCRAM-SHA-256".into()),
                    authentication_data: Some(client_final.into()),
                    ..Properties::default()
                })),
            }))
            .await;
            let Some(Packet::ConnAck(ack)) = raw.next().await else {
                panic!("CONNACK expected")
            };
            (client, raw, ack)
        }
    };
    let (client, _raw, ack) = exchange("secret").await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    let props = ack.properties.expect("CONNACK properties");
    assert_eq!(props.authentication_method.as_deref(), Some("SCRAM-SHA-256"));
    client
        .verify_server_final(&props.authentication_data.expect("server-final"))
        .expect("the broker proved it knows the ServerKey");
    let info = broker
        .handle
        .api
        .registry()
        .client("scram-wire")
        .expect("connected");
    assert_eq!(info.username.as_deref(), Some("wire"));

    let (_, mut raw, ack) = exchange("wrong").await;
    assert_eq!(ack.code, ConnectReturnCode::NotAuthorized);
    assert_eq!(raw.next().await, None);
}
