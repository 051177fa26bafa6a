//! The foundation's tree, end to end: its shape and strategies through the admin API, and how it
//! heals when parts of it are killed (OTP semantics, docs/architecture.md §2 and §7).

mod common;

use std::net::SocketAddr;

use arbor::cli::CtlCommand;
use arbor_supervisors::{ExitReason, REACHED_MAX_RESTART_INTENSITY};
use common::{eventually, test_config, TestBroker};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Connects a TCP client and waits until its `connection/<peer>` actor is running.
async fn accepted_client(broker: &TestBroker, addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let me = stream.local_addr().expect("local addr");
    let path = format!("{}/connection_sup", broker.listener_sup());
    let child = format!("connection/{me}");
    eventually(&format!("{child} under connection_sup"), || {
        broker
            .node(&path)
            .children
            .iter()
            .any(|c| c.id == child && c.status == "running")
    })
    .await;
    stream
}

#[tokio::test]
async fn tree_has_the_design_shape_and_strategies() {
    let broker = TestBroker::start().await;
    let tree = broker.tree();
    assert_eq!(tree.path, "broker_sup");
    let ids: Vec<&str> = tree.children.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "metrics",
            "router_sup",
            "sm_sup",
            "session_sup",
            "restorer",
            "sys",
            "admin",
            "listeners_sup"
        ]
    );
    let json = serde_json::to_value(&tree).unwrap();
    assert_eq!(json["strategy"], "one_for_all");
    assert_eq!(
        (json["max_restarts"].as_u64(), json["max_seconds"].as_u64()),
        (Some(0), Some(1))
    );
    let expect = [
        ("router_sup", "one_for_all", 10, 3600),
        ("sm_sup", "one_for_all", 10, 3600),
        ("session_sup", "simple_one_for_one", 1000, 10),
        ("listeners_sup", "one_for_one", 10, 100),
    ];
    for (id, strategy, r, s) in expect {
        let node = json["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        assert_eq!(node["strategy"], strategy, "{id}");
        assert_eq!(
            (node["max_restarts"].as_u64(), node["max_seconds"].as_u64()),
            (Some(r), Some(s)),
            "{id}"
        );
    }
    let sm: Vec<String> = broker
        .node("sm_sup")
        .children
        .iter()
        .map(|c| c.path.clone())
        .collect();
    assert_eq!(
        sm,
        [
            "broker_sup/sm_sup/sm/0",
            "broker_sup/sm_sup/sm/1",
            "broker_sup/sm_sup/sm/2",
            "broker_sup/sm_sup/sm/3"
        ]
    );
    let listener = broker.node(&broker.listener_sup());
    assert_eq!(serde_json::to_value(listener.strategy).unwrap(), "rest_for_one");
    let kids: Vec<&str> = listener.children.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(kids, ["connection_sup", "acceptor_sup", "listener"]);
    let acceptors = broker.node(&format!("{}/acceptor_sup", broker.listener_sup()));
    assert_eq!(acceptors.child_count, Some(4));
    assert!(
        acceptors.children[3].path.ends_with("acceptor_sup/acceptor/3"),
        "{}",
        acceptors.children[3].path
    );
    assert_eq!(
        (acceptors.max_restarts, acceptors.max_seconds),
        (Some(1000), Some(3600))
    );
    broker.handle.shutdown().await;
}

/// Waits until every sm worker runs again.
async fn pool_running(broker: &TestBroker) {
    eventually("all sm workers running", || {
        broker
            .node("sm_sup")
            .children
            .iter()
            .all(|c| c.status == "running")
    })
    .await;
}

#[tokio::test]
async fn kill_sm_1_restarts_the_whole_pool_once_with_the_registry_intact() {
    let broker = TestBroker::start().await;
    let mut client = common::client::connect(&broker, "kept-client", false, None).await;
    common::client::subscribe(&mut client, "kept/t").await;
    let registry = broker.handle.api.registry();
    let session = registry
        .get("kept-client")
        .expect("session registered")
        .session
        .get_id();
    let marker = broker.node("sm_sup/sm/0").actor_id.unwrap();
    broker.kill("sm_sup/sm/1").await;
    eventually("sm_sup restarted the pool", || {
        broker.node("sm_sup").child_restarts == Some(1)
    })
    .await;
    pool_running(&broker).await;
    let sm = broker.node("sm_sup");
    assert!(
        sm.children.iter().all(|c| c.restarts == 1),
        "every worker restarted once: {sm:?}"
    );
    assert_ne!(
        sm.children[0].actor_id.as_deref(),
        Some(marker.as_str()),
        "sm/0 is a new incarnation"
    );
    assert_eq!(sm.children[1].last_exit.as_deref(), Some("killed"));
    assert_eq!(
        registry.get("kept-client").map(|e| e.session.get_id()),
        Some(session),
        "registry survives"
    );
    assert_eq!(
        broker.tree().child_restarts,
        Some(0),
        "broker_sup restarted nothing"
    );
    // The client was not disconnected: its subscription (made before the kill) still delivers.
    let publisher = common::client::connect(&broker, "after-restart-pub", true, None).await;
    publisher
        .client
        .publish("kept/t", rumqttc::QoS::AtLeastOnce, false, "still here")
        .await
        .unwrap();
    assert_eq!(
        &common::client::receive(&mut client).await.payload[..],
        b"still here"
    );
    // New CONNECTs for any id still work.
    for id in ["after-restart-1", "after-restart-2", "after-restart-3"] {
        common::client::connect(&broker, id, true, None).await;
    }
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn kill_acceptor_3_restarts_only_it() {
    let broker = TestBroker::start().await;
    let sup = format!("{}/acceptor_sup", broker.listener_sup());
    broker.kill(&format!("{sup}/acceptor/3")).await;
    eventually("acceptor/3 restarted", || {
        let node = broker.node(&sup);
        node.child_restarts == Some(1) && node.children.iter().filter(|c| c.status == "running").count() == 4
    })
    .await;
    let node = broker.node(&sup);
    for child in &node.children {
        let expected = u64::from(child.id == "acceptor/3");
        assert_eq!(child.restarts, expected, "{}", child.id);
    }
    assert_eq!(
        broker.node(&broker.listener_sup()).child_restarts,
        Some(0),
        "listener_sup untouched"
    );
    for _ in 0..8 {
        accepted_client(&broker, broker.mqtt).await;
    }
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn kill_connection_sup_closes_its_connections_and_restarts_acceptors_and_listener() {
    let broker = TestBroker::start().await;
    let mut old = accepted_client(&broker, broker.mqtt).await;
    let ls = broker.listener_sup();
    broker.kill(&format!("{ls}/connection_sup")).await;
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), old.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "old connection closed: {read:?}"
    );
    eventually("rest_for_one restart", || {
        broker.node(&ls).child_restarts == Some(1)
    })
    .await;
    let addr = broker.listener_rebound().await;
    assert_eq!(addr, broker.mqtt, "the listener re-binds the same address");
    let node = broker.node(&ls);
    let restarts: Vec<(String, u64)> = node.children.iter().map(|c| (c.id.clone(), c.restarts)).collect();
    assert_eq!(
        restarts,
        [
            ("connection_sup".into(), 1),
            ("acceptor_sup".into(), 1),
            ("listener".into(), 1)
        ]
    );
    eventually("acceptors back", || {
        broker.node(&format!("{ls}/acceptor_sup")).child_count == Some(4)
    })
    .await;
    accepted_client(&broker, addr).await;
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn kill_listener_rebinds_and_keeps_existing_connections() {
    let broker = TestBroker::start().await;
    let mut old = accepted_client(&broker, broker.mqtt).await;
    let ls = broker.listener_sup();
    broker.kill(&format!("{ls}/listener")).await;
    eventually("listener restarted", || {
        broker.node(&format!("{ls}/listener")).restarts == 1
    })
    .await;
    let addr = broker.listener_rebound().await;
    accepted_client(&broker, addr).await;
    let mut buf = [0u8; 1];
    let still_open = tokio::time::timeout(std::time::Duration::from_millis(200), old.read(&mut buf)).await;
    assert!(
        still_open.is_err(),
        "existing connection unaffected: {still_open:?}"
    );
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn sm_sup_past_its_intensity_escalates_to_broker_sup_which_gives_up() {
    let mut config = test_config();
    config.supervisors.sm_sup.max_restarts = 1;
    let broker = TestBroker::with_config(config).await;
    broker.kill("sm_sup/sm/0").await;
    eventually("first restart", || {
        broker.node("sm_sup").child_restarts == Some(1)
    })
    .await;
    pool_running(&broker).await;
    broker.kill("sm_sup/sm/2").await;
    let reason = tokio::time::timeout(std::time::Duration::from_secs(10), broker.handle.root.wait())
        .await
        .unwrap();
    let ExitReason::Shutdown(Some(detail)) = &reason else {
        panic!("unexpected {reason:?}")
    };
    assert!(detail.contains(REACHED_MAX_RESTART_INTENSITY), "{detail}");
    assert!(
        detail.contains("broker_sup/sm_sup"),
        "names the supervisor that escalated: {detail}"
    );
    assert!(
        TcpStream::connect(broker.mqtt).await.is_err(),
        "listeners are gone"
    );
}

#[tokio::test]
async fn ctl_tree_draws_the_tree_and_prints_json() {
    let broker = TestBroker::start().await;
    let drawing = broker
        .ctl(CtlCommand::Tree {
            path: None,
            depth: None,
            children: false,
            json: false,
        })
        .await
        .unwrap();
    assert!(
        drawing.starts_with("broker_sup  one_for_all 0/1s  running  restarts=0  children=8\n"),
        "{drawing}"
    );
    assert!(
        drawing.contains("├─ sm_sup  one_for_all 10/3600s  running"),
        "{drawing}"
    );
    assert!(
        drawing.contains("acceptor_sup  simple_one_for_one 1000/3600s  running  restarts=0  children=4"),
        "{drawing}"
    );
    assert!(
        !drawing.contains("acceptor/0"),
        "dynamic children listed only with --path"
    );
    let path = format!("broker_sup/{}/acceptor_sup", broker.listener_sup());
    let listed = broker
        .ctl(CtlCommand::Tree {
            path: Some(path),
            depth: None,
            children: false,
            json: false,
        })
        .await
        .unwrap();
    assert!(
        listed.contains("└─ acceptor/3  worker  running  restarts=0"),
        "{listed}"
    );
    let json = broker
        .ctl(CtlCommand::Tree {
            path: None,
            depth: Some(1),
            children: false,
            json: true,
        })
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for field in [
        "path",
        "kind",
        "strategy",
        "max_restarts",
        "max_seconds",
        "restarts",
        "status",
        "children",
        "child_count",
    ] {
        assert!(v.get(field).is_some(), "field {field} in {v}");
    }
    assert!(
        v["children"][1]["children"].as_array().unwrap().is_empty(),
        "depth 1"
    );
    let missing = broker
        .ctl(CtlCommand::Tree {
            path: Some("broker_sup/nope".into()),
            depth: None,
            children: false,
            json: false,
        })
        .await;
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("no actor at `broker_sup/nope`"));
    let admin = broker.admin.clone();
    broker.handle.shutdown().await;
    let down = arbor::ctl::run(&arbor::cli::CtlArgs {
        admin,
        command: CtlCommand::Status { json: false },
    })
    .await;
    assert!(down
        .unwrap_err()
        .to_string()
        .starts_with("the broker is not running"));
}

#[tokio::test]
async fn a_bind_failure_is_a_startup_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut config = test_config();
    config.listeners.get_mut("tcp").unwrap().bind = addr;
    let err = arbor::boot::start(config, arbor_supervisors::FaultHook::none())
        .await
        .err()
        .expect("must fail");
    let text = format!("{err:#}");
    assert!(text.contains(&format!("cannot listen on {addr}")), "{text}");
    assert!(text.contains("listener_sup/mqtt:tcp:"), "names the path: {text}");
    // What `arbor run` prints of it: the one line at the bottom of the chain.
    assert_eq!(
        arbor::boot::start_failure(&err),
        format!("cannot listen on {addr}: address in use")
    );
}

/// Finds the node at `path` in a tree's JSON.
fn json_node<'a>(node: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    if node["path"] == path {
        return Some(node);
    }
    node["children"]
        .as_array()?
        .iter()
        .find_map(|child| json_node(child, path))
}

/// `ctl tree --json --children` (the API's `?children=all`) lists the children of every dynamic
/// supervisor in one call (acceptors, a connection) so tools can target them; without it they
/// are only counted.
#[tokio::test]
async fn tree_children_all_lists_dynamic_supervisors_children() {
    let broker = TestBroker::start().await;
    let _client = accepted_client(&broker, broker.mqtt).await;
    let listener_sup = format!("broker_sup/{}", broker.listener_sup());
    let tree = |children| {
        broker.ctl(CtlCommand::Tree {
            path: None,
            depth: None,
            children,
            json: true,
        })
    };
    let all: serde_json::Value = serde_json::from_str(&tree(true).await.unwrap()).unwrap();
    let acceptors = json_node(&all, &format!("{listener_sup}/acceptor_sup")).expect("acceptor_sup");
    let ids: Vec<&str> = acceptors["children"]
        .as_array()
        .expect("listed")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["acceptor/0", "acceptor/1", "acceptor/2", "acceptor/3"]);
    let connections = json_node(&all, &format!("{listener_sup}/connection_sup")).expect("connection_sup");
    assert_eq!(connections["child_count"], 1);
    assert_eq!(connections["children"].as_array().map(Vec::len), Some(1));
    assert!(
        connections["children"][0]["path"]
            .as_str()
            .is_some_and(|p| p.contains("/connection_sup/connection/127.0.0.1:")),
        "{connections}"
    );

    let counted: serde_json::Value = serde_json::from_str(&tree(false).await.unwrap()).unwrap();
    let acceptors = json_node(&counted, &format!("{listener_sup}/acceptor_sup")).expect("acceptor_sup");
    assert_eq!(acceptors["child_count"], 4);
    assert_eq!(acceptors["children"].as_array().map(Vec::len), Some(0));

    let bad = reqwest::get(format!("{}/api/v1/tree?children=some", broker.admin))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("`all` or `none`")),
        "{body}"
    );
    broker.handle.shutdown().await;
}
