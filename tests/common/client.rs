//! A rumqttc client for tests: connect, subscribe, and wait for what arrives, always under a
//! timeout (no sleeps).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::mpsc::UnboundedReceiver;

use super::TestBroker;

pub const WAIT: Duration = Duration::from_secs(10);

/// A connected rumqttc client and its events.
pub struct Client {
    pub client: AsyncClient,
    pub events: UnboundedReceiver<Event>,
}

pub async fn connect(broker: &TestBroker, id: &str, clean: bool, will: Option<LastWill>) -> Client {
    let mut options = MqttOptions::new(id, broker.mqtt.ip().to_string(), broker.mqtt.port());
    options
        .set_clean_session(clean)
        .set_keep_alive(Duration::from_secs(30));
    if let Some(will) = will {
        options.set_last_will(will);
    }
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(event) => {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Event::Outgoing(rumqttc::Outgoing::Disconnect));
                    tracing::debug!("client event loop ended: {e}");
                    return;
                }
            }
        }
    });
    wait_for(&mut events, |e| matches!(e, Event::Incoming(Packet::ConnAck(_)))).await;
    Client { client, events }
}

pub async fn wait_for(events: &mut UnboundedReceiver<Event>, mut want: impl FnMut(&Event) -> bool) -> Event {
    tokio::time::timeout(WAIT, async {
        while let Some(event) = events.recv().await {
            if want(&event) {
                return event;
            }
        }
        panic!("client ended before the awaited event");
    })
    .await
    .expect("awaited event in time")
}

pub async fn subscribe(c: &mut Client, filter: &str) {
    c.client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    wait_for(&mut c.events, |e| matches!(e, Event::Incoming(Packet::SubAck(_)))).await;
}

pub async fn receive(c: &mut Client) -> rumqttc::Publish {
    match wait_for(&mut c.events, |e| {
        matches!(e, Event::Incoming(Packet::Publish(_)))
    })
    .await
    {
        Event::Incoming(Packet::Publish(p)) => p,
        _ => unreachable!(),
    }
}

/// The connection's end, as rumqttc reports it (the event loop errors out).
pub async fn closed(c: &mut Client) {
    wait_for(&mut c.events, |e| {
        matches!(e, Event::Outgoing(rumqttc::Outgoing::Disconnect))
    })
    .await;
}

/// Options for a client of `broker`: id `id`, keepalive 30 s, clean session.
pub fn options(broker: &TestBroker, id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(id, broker.mqtt.ip().to_string(), broker.mqtt.port());
    options.set_keep_alive(Duration::from_secs(30));
    options
}

/// Drives `eventloop` on a task and forwards its events; when the connection ends the channel
/// gets `Outgoing::Disconnect` (what [`closed`] waits for) and the task stops (no reconnect).
pub fn spawn_events(mut eventloop: rumqttc::EventLoop) -> UnboundedReceiver<Event> {
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if tx.send(event).is_err() {
                return;
            }
        }
        let _ = tx.send(Event::Outgoing(rumqttc::Outgoing::Disconnect));
    });
    events
}

/// Connects with `options` and waits for the CONNACK, which it returns beside the client.
pub async fn connect_with(options: MqttOptions) -> (Client, rumqttc::ConnAck) {
    let (client, eventloop) = AsyncClient::new(options, 64);
    let mut events = spawn_events(eventloop);
    let connack = match wait_for(&mut events, |e| matches!(e, Event::Incoming(Packet::ConnAck(_)))).await {
        Event::Incoming(Packet::ConnAck(ack)) => ack,
        _ => unreachable!("wait_for returns what matched"),
    };
    (Client { client, events }, connack)
}

/// Subscribes to `filter` at `qos`; returns the SUBACK's return codes.
pub async fn subscribe_qos(c: &mut Client, filter: &str, qos: QoS) -> Vec<rumqttc::SubscribeReasonCode> {
    c.client.subscribe(filter, qos).await.expect("request queued");
    match wait_for(&mut c.events, |e| matches!(e, Event::Incoming(Packet::SubAck(_)))).await {
        Event::Incoming(Packet::SubAck(ack)) => ack.return_codes,
        _ => unreachable!("wait_for returns what matched"),
    }
}

/// Publishes one message and, at QoS 1 and 2, waits until the broker acknowledged it (PUBACK,
/// PUBCOMP), so it has been routed before this returns.
pub async fn publish_acked(c: &mut Client, topic: &str, qos: QoS, retain: bool, payload: impl Into<Vec<u8>>) {
    c.client
        .publish(topic, qos, retain, payload)
        .await
        .expect("request queued");
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => {
            wait_for(&mut c.events, |e| matches!(e, Event::Incoming(Packet::PubAck(_)))).await;
        }
        QoS::ExactlyOnce => {
            wait_for(&mut c.events, |e| {
                matches!(e, Event::Incoming(Packet::PubComp(_)))
            })
            .await;
        }
    }
}

/// The next `n` PUBLISH packets received.
pub async fn receive_n(c: &mut Client, n: usize) -> Vec<rumqttc::Publish> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        got.push(receive(c).await);
    }
    got
}

/// Asserts that no PUBLISH arrives within `window`. An absence cannot be awaited: callers pass
/// a short window (at most 500 ms) and say why it suffices.
pub async fn no_publish_within(c: &mut Client, window: Duration) {
    let extra = tokio::time::timeout(window, async {
        loop {
            match c.events.recv().await {
                Some(Event::Incoming(Packet::Publish(p))) => return Some(p),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await;
    if let Ok(Some(p)) = extra {
        panic!("unexpected delivery on {}: {:?}", p.topic, p.payload);
    }
}

/// Forwards every PUBLISH `c` receives, tagged with `tag`, to `tx` (several clients can share
/// one channel); returns the client handle, which keeps the connection.
pub fn forward_publishes<T: Clone + Send + 'static>(
    c: Client,
    tag: T,
    tx: tokio::sync::mpsc::UnboundedSender<(T, rumqttc::Publish)>,
) -> AsyncClient {
    let Client { client, mut events } = c;
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                if tx.send((tag.clone(), p)).is_err() {
                    return;
                }
            }
        }
    });
    client
}
