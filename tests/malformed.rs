//! The malformed-input corpus (`arbor_actors::codec::corpus`) against a live broker: every
//! case closes its own connection (a CONNACK before the close is allowed, nothing else), and no
//! other client notices: a subscribed rumqttc client keeps receiving throughout.

mod common;

use std::time::Duration;

use arbor_actors::codec::corpus::{malformed_corpus, valid_connect, MalformedCase};
use arbor_actors::codec::{self, ConnectReturnCode, Packet};
use bytes::BytesMut;
use common::client::{connect, publish_acked, receive, subscribe_qos, Client};
use common::raw::Raw;
use common::TestBroker;
use rumqttc::QoS;

/// Cases run concurrently, this many at a time; the bystander is checked after each batch.
const BATCH: usize = 20;
/// How long a case may take to be closed.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// `valid_connect()` with a unique client id, so concurrent cases never take each other over
/// (a takeover would close a connection for the wrong reason).
fn valid_connect_as(client_id: &str) -> Vec<u8> {
    let mut buf = BytesMut::from(&valid_connect()[..]);
    let Ok(Some(Packet::Connect(mut connect))) = codec::decode(&mut buf, 1 << 20, None) else {
        panic!("valid_connect() decodes")
    };
    connect.client_id = client_id.to_string();
    let mut out = BytesMut::new();
    codec::encode(&Packet::Connect(connect), codec::ProtocolLevel::V311, &mut out);
    out.to_vec()
}

/// Runs one case on its own connection; returns an error naming the case when the broker
/// does not close the connection in time or answers anything but a CONNACK.
async fn run_case(broker: &TestBroker, case: &MalformedCase, client_id: String) -> Result<(), String> {
    let mut raw = Raw::open(broker.mqtt).await;
    if case.after_connect {
        raw.send_bytes(&valid_connect_as(&client_id)).await;
        match raw.next().await {
            Some(Packet::ConnAck(ack)) if ack.code == ConnectReturnCode::Accepted => {}
            other => return Err(format!("{}: valid CONNECT answered {other:?}", case.name)),
        }
    }
    raw.send_bytes(&case.bytes).await;
    let seen = raw.closed_within(CLOSE_WITHIN).await.map_err(|seen| {
        format!(
            "{}: connection still open after {CLOSE_WITHIN:?}, broker sent {seen:?}",
            case.name
        )
    })?;
    // Allowed before the close: one CONNACK (0x01 for a bad level, 0x00 when the case itself
    // starts with a valid CONNECT). A SUBACK, PUBACK, PINGRESP... means a bad frame was obeyed.
    match seen.as_slice() {
        [] | [Packet::ConnAck(_)] => Ok(()),
        other => Err(format!("{}: broker answered {other:?} before closing", case.name)),
    }
}

/// The bystander still gets a fresh message, published after `label`.
async fn bystander_alive(keeper: &mut Client, probe: &mut Client, label: &str) {
    publish_acked(probe, "alive", QoS::AtLeastOnce, false, label).await;
    assert_eq!(
        &receive(keeper).await.payload[..],
        label.as_bytes(),
        "the bystander keeps receiving ({label})"
    );
}

/// Every case of the corpus closes its connection while a subscribed client elsewhere keeps
/// working [MQTT-4.8.0-1]: the first packet not CONNECT [MQTT-3.1.0-1], a second CONNECT
/// [MQTT-3.1.0-2], reserved flags [MQTT-2.2.2-2], bad lengths, bad UTF-8 [MQTT-1.5.3-1], bad
/// topics and filters [MQTT-3.3.2-2, MQTT-4.7.1-1], packet id 0 [MQTT-2.3.1-1], oversize...
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_case_closes_its_connection_and_harms_no_other() {
    let broker = TestBroker::start().await;
    let mut keeper = connect(&broker, "keeper", true, None).await;
    subscribe_qos(&mut keeper, "alive", QoS::AtLeastOnce).await;
    let mut probe = connect(&broker, "keeper-probe", true, None).await;
    let cases = malformed_corpus();
    assert!(cases.len() >= 110, "corpus has only {} cases", cases.len());

    // Cases whose own bytes open with `valid_connect()` all use its client id `corpus`: run
    // those one at a time, after the others, so none is closed by another's takeover.
    let opener = valid_connect();
    let (serial, parallel): (Vec<&MalformedCase>, Vec<&MalformedCase>) =
        cases.iter().partition(|c| c.bytes.starts_with(&opener));

    let mut failures = Vec::new();
    let mut ran = 0;
    for (batch_no, batch) in parallel.chunks(BATCH).enumerate() {
        let runs = batch.iter().enumerate().map(|(i, case)| {
            let id = format!("corpus-{batch_no}-{i}");
            run_case(&broker, case, id)
        });
        for result in futures::future::join_all(runs).await {
            ran += 1;
            if let Err(e) = result {
                failures.push(e);
            }
        }
        bystander_alive(&mut keeper, &mut probe, &format!("after batch {batch_no}")).await;
    }
    for case in serial {
        ran += 1;
        if let Err(e) = run_case(&broker, case, "corpus-serial".into()).await {
            failures.push(e);
        }
    }
    bystander_alive(&mut keeper, &mut probe, "at the end").await;
    println!("malformed corpus: {ran} of {} cases ran", cases.len());
    assert_eq!(ran, cases.len());
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
