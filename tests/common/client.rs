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
