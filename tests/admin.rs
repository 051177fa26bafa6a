//! `arbor ctl` against a live broker with real clients: clients, sessions, subscriptions,
//! routes and listeners (figures, Prometheus, errors and the token are in `admin_api.rs`).

mod common;

use std::future::Future;
use std::time::Duration;

use arbor::cli::{ClientsCommand, CtlCommand, PageArgs, SessionsCommand, SubscriptionsCommand};
use common::client::{closed, connect, receive, subscribe, wait_for, Client};
use common::TestBroker;
use rumqttc::{Event, Packet, QoS};
use serde_json::Value;

/// Runs a ctl command that must succeed and parses its `--json` output.
async fn ctl_json(broker: &TestBroker, command: CtlCommand) -> Value {
    let out = broker.ctl(command).await.expect("ctl command succeeds");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn json_page() -> PageArgs {
    PageArgs {
        json: true,
        ..PageArgs::default()
    }
}

/// Polls an async condition every 10 ms for up to 10 s: the fallback where the awaited change
/// (a table entry dropped after a socket closed) has no event to wait on.
async fn eventually_async<F: Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    let ok = tokio::time::timeout(Duration::from_secs(10), async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "timed out waiting for: {what}");
}

async fn publish_acked(client: &mut Client, topic: &str, payload: &str, retain: bool) {
    client
        .client
        .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
        .await
        .unwrap();
    wait_for(&mut client.events, |e| {
        matches!(e, Event::Incoming(Packet::PubAck(_)))
    })
    .await;
}

#[tokio::test]
async fn clients_list_show_and_kick_leave_a_persistent_session() {
    let broker = TestBroker::start().await;
    let mut c = connect(&broker, "adm-kick", false, None).await;
    subscribe(&mut c, "adm/kick/#").await;
    let _other = connect(&broker, "other-client", true, None).await;

    let table = broker
        .ctl(CtlCommand::Clients(ClientsCommand::List {
            page: PageArgs::default(),
            username: None,
            peer: None,
        }))
        .await
        .unwrap();
    assert!(table.starts_with("CLIENT ID"), "{table}");
    assert!(
        table.contains("adm-kick") && table.contains("other-client"),
        "{table}"
    );
    assert!(table.contains("127.0.0.1:"), "{table}");

    let page = PageArgs {
        client_id: Some("adm-".into()),
        ..json_page()
    };
    let list = ctl_json(
        &broker,
        CtlCommand::Clients(ClientsCommand::List {
            page,
            username: None,
            peer: Some("127.0.0.1".into()),
        }),
    )
    .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["clients"][0]["client_id"], "adm-kick");

    let show = |json| {
        CtlCommand::Clients(ClientsCommand::Show {
            client_id: "adm-kick".into(),
            json,
        })
    };
    let client = ctl_json(&broker, show(true)).await;
    assert_eq!(client["protocol_level"], 4, "{client}");
    assert_eq!(client["keepalive"], 30);
    assert_eq!(client["clean_session"], false);
    assert_eq!(client["subscriptions"], 1);
    assert_eq!(client["inflight"], 0);
    assert_eq!(client["mqueue_len"], 0);
    assert!(client["connected_at"].as_u64().unwrap() > 0);
    let human = broker.ctl(show(false)).await.unwrap();
    let line = human
        .lines()
        .find(|l| l.starts_with("subscriptions"))
        .unwrap_or_default();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["subscriptions", "1"],
        "{human}"
    );

    let kicked = broker
        .ctl(CtlCommand::Clients(ClientsCommand::Kick {
            client_id: "adm-kick".into(),
        }))
        .await
        .unwrap();
    assert_eq!(kicked, "kicked adm-kick\n");
    closed(&mut c).await;
    eventually_async("the kicked client leaves the client table", || async {
        let list = ctl_json(
            &broker,
            CtlCommand::Clients(ClientsCommand::List {
                page: json_page(),
                username: None,
                peer: None,
            }),
        )
        .await;
        list["total"] == 1
    })
    .await;
    // The persistent session stays, detached, with its subscription.
    let show_session = || {
        CtlCommand::Sessions(SessionsCommand::Show {
            client_id: "adm-kick".into(),
            json: true,
        })
    };
    eventually_async("the session sees its connection gone", || async {
        ctl_json(&broker, show_session()).await["connected"] == false
    })
    .await;
    let session = ctl_json(&broker, show_session()).await;
    assert_eq!(session["subscriptions"][0]["topic"], "adm/kick/#", "{session}");
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn sessions_list_and_show_report_subscriptions_and_queues() {
    let broker = TestBroker::start().await;
    let mut c = connect(&broker, "adm-sess", true, None).await;
    subscribe(&mut c, "adm/sess/+").await;

    let list = broker
        .ctl(CtlCommand::Sessions(SessionsCommand::List {
            page: PageArgs::default(),
        }))
        .await
        .unwrap();
    assert!(list.starts_with("CLIENT ID"), "{list}");
    let row = list.lines().find(|l| l.starts_with("adm-sess")).expect(&list);
    let cells: Vec<&str> = row.split_whitespace().collect();
    // client id, clean, connected, subscriptions, inflight, mqueue, dropped, awaiting rel
    assert_eq!(
        cells[..8],
        ["adm-sess", "true", "true", "1", "0", "0", "0", "0"],
        "{list}"
    );

    let session = ctl_json(
        &broker,
        CtlCommand::Sessions(SessionsCommand::Show {
            client_id: "adm-sess".into(),
            json: true,
        }),
    )
    .await;
    assert_eq!(session["clean_session"], true, "{session}");
    assert_eq!(session["connected"], true);
    assert_eq!(
        session["subscriptions"],
        serde_json::json!([{ "topic": "adm/sess/+", "qos": 1 }])
    );
    assert_eq!(session["max_inflight"], 32);
    assert_eq!(
        session["expiry_interval"], 0,
        "a clean session ends with its connection"
    );
    let human = broker
        .ctl(CtlCommand::Sessions(SessionsCommand::Show {
            client_id: "adm-sess".into(),
            json: false,
        }))
        .await
        .unwrap();
    assert!(human.contains("  adm/sess/+  1"), "{human}");
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn subscriptions_add_routes_to_a_connected_client_and_del_stops_it() {
    let broker = TestBroker::start().await;
    let mut publisher = connect(&broker, "adm-pub", true, None).await;
    publish_acked(&mut publisher, "adm/ret", "kept", true).await;
    let mut target = connect(&broker, "adm-target", true, None).await;
    subscribe(&mut target, "adm/marker").await;

    let added = broker
        .ctl(CtlCommand::Subscriptions(SubscriptionsCommand::Add {
            client_id: "adm-target".into(),
            filter: "adm/ret".into(),
            qos: 1,
        }))
        .await
        .unwrap();
    assert_eq!(added, "subscribed adm-target to adm/ret (qos 1)\n");
    // Retained messages follow, as after the client's own SUBSCRIBE.
    let retained = receive(&mut target).await;
    assert!(retained.retain && &retained.payload[..] == b"kept");

    let add = |filter: &str| {
        CtlCommand::Subscriptions(SubscriptionsCommand::Add {
            client_id: "adm-target".into(),
            filter: filter.into(),
            qos: 1,
        })
    };
    broker.ctl(add("adm/x/#")).await.unwrap();
    publish_acked(&mut publisher, "adm/x/1", "routed", false).await;
    let got = receive(&mut target).await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("adm/x/1", &b"routed"[..])
    );

    let routes = broker.ctl(CtlCommand::Routes { json: false }).await.unwrap();
    assert!(routes.starts_with("TOPIC"), "{routes}");
    assert!(routes.lines().any(|l| l == "adm/x/#     1"), "{routes}");
    let shown = broker
        .ctl(CtlCommand::Subscriptions(SubscriptionsCommand::Show {
            client_id: "adm-target".into(),
            json: false,
        }))
        .await
        .unwrap();
    assert!(
        shown.contains("adm/x/#") && shown.contains("adm/marker"),
        "{shown}"
    );
    let all = ctl_json(
        &broker,
        CtlCommand::Subscriptions(SubscriptionsCommand::List { page: json_page() }),
    )
    .await;
    let target_subs = all["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["client_id"] == "adm-target")
        .expect("adm-target listed")["subscriptions"]
        .clone();
    assert_eq!(target_subs.as_array().unwrap().len(), 3, "{all}");

    let deleted = broker
        .ctl(CtlCommand::Subscriptions(SubscriptionsCommand::Del {
            client_id: "adm-target".into(),
            filter: "adm/x/#".into(),
        }))
        .await
        .unwrap();
    assert_eq!(deleted, "unsubscribed adm-target from adm/x/#\n");
    let routes = ctl_json(&broker, CtlCommand::Routes { json: true }).await;
    assert!(
        !routes["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["topic"] == "adm/x/#"),
        "{routes}"
    );
    // Published in this order by one client, so the marker arriving first proves that the
    // message on the deleted filter was not delivered.
    publish_acked(&mut publisher, "adm/x/2", "not routed", false).await;
    publish_acked(&mut publisher, "adm/marker", "marker", false).await;
    let next = receive(&mut target).await;
    assert_eq!(next.topic, "adm/marker");
    // Deleting it again: the client has no such subscription.
    let again = broker
        .ctl(CtlCommand::Subscriptions(SubscriptionsCommand::Del {
            client_id: "adm-target".into(),
            filter: "adm/x/#".into(),
        }))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("404"), "{again}");
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn subscription_filters_with_odd_characters_round_trip_through_the_url() {
    let broker = TestBroker::start().await;
    let _c = connect(&broker, "odd/id #1", true, None).await;
    let filter = "a b/+/#";
    let add = CtlCommand::Subscriptions(SubscriptionsCommand::Add {
        client_id: "odd/id #1".into(),
        filter: filter.into(),
        qos: 2,
    });
    broker.ctl(add).await.unwrap();
    let shown = ctl_json(
        &broker,
        CtlCommand::Subscriptions(SubscriptionsCommand::Show {
            client_id: "odd/id #1".into(),
            json: true,
        }),
    )
    .await;
    assert_eq!(shown["subscriptions"][0]["topic"], filter, "{shown}");
    broker
        .ctl(CtlCommand::Subscriptions(SubscriptionsCommand::Del {
            client_id: "odd/id #1".into(),
            filter: filter.into(),
        }))
        .await
        .unwrap();
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn listeners_show_the_live_connection_count_and_rules() {
    let broker = TestBroker::start().await;
    let _a = connect(&broker, "adm-l1", true, None).await;
    let _b = connect(&broker, "adm-l2", true, None).await;
    let listeners = ctl_json(
        &broker,
        CtlCommand::Listeners {
            action: None,
            json: true,
        },
    )
    .await;
    let tcp = &listeners["listeners"][0];
    assert_eq!(tcp["bind"], broker.mqtt.to_string(), "{listeners}");
    assert_eq!(tcp["current_connections"], 2);
    assert_eq!(tcp["acceptors"], 4);
    assert_eq!(tcp["access"], serde_json::json!(["allow all"]));
    let table = broker
        .ctl(CtlCommand::Listeners {
            action: None,
            json: false,
        })
        .await
        .unwrap();
    assert!(table.starts_with("LISTENER"), "{table}");
    let row = table.lines().nth(1).expect(&table);
    assert!(
        row.contains(&broker.mqtt.to_string()) && row.contains("allow all"),
        "{table}"
    );
    broker.handle.shutdown().await;
}
