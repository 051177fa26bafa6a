//! OTP supervisor_SUITE, start and stop cases: start order, start failures, ignore, shutdown
//! order and timeouts, and the administration queries.

mod common;

use std::time::Duration;

use arbor_supervisors::{
    start_fn, ChildSpec, ChildStatus, FaultHook, Restart, Shutdown, StartError, Strategy, SupFlags,
    Supervisor, SupervisorRef, SupervisorSpec, TreeOpts,
};
use common::{Cmd, Probe};

async fn start(strategy: Strategy, children: Vec<ChildSpec>) -> Result<SupervisorRef, StartError> {
    let spec = SupervisorSpec::new(SupFlags::new(strategy, 5, 10), children);
    Supervisor::start_unlinked("top", spec, FaultHook::none()).await
}

/// `sup_start_normal`, `order_of_children`, `sup_stop_infinity`: start in order, stop reversed.
#[tokio::test]
async fn sup_start_normal_starts_in_order_and_stops_in_reverse() {
    let probe = Probe::new();
    let sup = start(
        Strategy::OneForOne,
        vec![probe.spec("a"), probe.spec("b"), probe.spec("c")],
    )
    .await
    .unwrap();
    assert_eq!(probe.take_log(), ["start a", "start b", "start c"]);
    let ids: Vec<_> = sup.which_children().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    sup.stop_and_wait().await;
    assert_eq!(probe.take_log(), ["stop c", "stop b", "stop a"]);
}

/// `sup_start_fail`: a child that fails to start makes the supervisor's start fail with that
/// error, after the children already started were stopped; later ones never start.
#[tokio::test]
async fn sup_start_fail_stops_started_siblings_and_returns_the_error() {
    let probe = Probe::new();
    probe.set_fail_start("b", true);
    let err = start(
        Strategy::OneForOne,
        vec![probe.spec("a"), probe.spec("b"), probe.spec("c")],
    )
    .await
    .err()
    .expect("start must fail");
    match &err {
        StartError::ChildFailed { path, reason } => {
            assert_eq!(path, "top/b");
            assert_eq!(**reason, StartError::failed("b refuses to start"));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(probe.take_log(), ["start a", "stop a"]);
}

/// `sup_start_ignore_child`: a start that returns ignore leaves the child spec without a process.
#[tokio::test]
async fn sup_start_ignore_child_keeps_the_spec_without_a_process() {
    let probe = Probe::new();
    let ignore = ChildSpec::worker("ignored", start_fn(|_| async { Ok(None) }));
    let sup = start(Strategy::OneForOne, vec![ignore, probe.spec("a")])
        .await
        .unwrap();
    let children = sup.which_children();
    assert_eq!(children[0].status, ChildStatus::Ignored);
    assert!(children[0].cell.is_none());
    assert_eq!(children[1].status, ChildStatus::Running);
    assert_eq!(sup.count_children().active, 1);
    sup.stop_and_wait().await;
}

/// `sup_start_panic` (OTP: a crashing start function is `{error, Reason}`).
#[tokio::test]
async fn a_panicking_start_function_is_a_start_error() {
    let boom = ChildSpec::worker("boom", start_fn(|_| async { panic!("cannot start") }));
    let err = start(Strategy::OneForOne, vec![boom])
        .await
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("cannot start"), "{err}");
}

/// `sup_flags`, `child_specs`: bad specs fail naming the problem.
#[tokio::test]
async fn sup_flags_and_child_specs_are_validated() {
    let probe = Probe::new();
    let err = start(Strategy::OneForOne, vec![probe.spec("a"), probe.spec("a")])
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("duplicate_child_name `a`"), "{err}");
    let err = start(Strategy::SimpleOneForOne, vec![]).await.err().unwrap();
    assert!(err.to_string().contains("needs a template"), "{err}");
}

/// `sup_stop_timeout`: a child that ignores stop is killed after its shutdown timeout, so it
/// never runs its cleanup, and the supervisor's stop still completes.
#[tokio::test]
async fn sup_stop_timeout_kills_a_child_that_ignores_stop() {
    let probe = Probe::new();
    let stubborn = probe
        .spec("stubborn")
        .shutdown(Shutdown::Timeout(Duration::from_millis(200)));
    let sup = start(Strategy::OneForOne, vec![probe.spec("a"), stubborn])
        .await
        .unwrap();
    probe.send("stubborn", Cmd::Hang);
    let began = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), sup.stop_and_wait())
        .await
        .expect("stop completes");
    assert!(began.elapsed() >= Duration::from_millis(200));
    let log = probe.take_log();
    assert!(
        !log.contains(&"stop stubborn".to_string()),
        "killed child ran post_stop: {log:?}"
    );
    assert_eq!(log.last().map(String::as_str), Some("stop a"), "{log:?}");
}

/// `sup_stop_brutal_kill`: brutal_kill children end at once, without cleanup.
#[tokio::test]
async fn sup_stop_brutal_kill_skips_cleanup() {
    let probe = Probe::new();
    let sup = start(
        Strategy::OneForOne,
        vec![probe.spec("a").shutdown(Shutdown::BrutalKill)],
    )
    .await
    .unwrap();
    probe.take_log();
    sup.stop_and_wait().await;
    assert!(probe.take_log().is_empty());
}

/// `child_unlink`: a child that unlinked itself is still stopped; the engine waits on the
/// child, not on its supervision event.
#[tokio::test]
async fn child_unlink_is_still_stopped_on_shutdown() {
    let probe = Probe::new();
    let sup = start(Strategy::OneForOne, vec![probe.spec("a")]).await.unwrap();
    probe.send("a", Cmd::Unlink);
    let actor = probe.actor("a");
    common::eventually("child a unlinked", || actor.try_get_supervisor().is_none()).await;
    tokio::time::timeout(Duration::from_secs(5), sup.stop_and_wait())
        .await
        .expect("stop completes");
    assert!(probe.take_log().contains(&"stop a".to_string()));
}

/// `child_adm`: terminate_child keeps the spec, restart_child starts it again.
#[tokio::test]
async fn child_adm_terminate_and_restart_a_static_child() {
    let probe = Probe::new();
    let sup = start(Strategy::OneForOne, vec![probe.spec("a"), probe.spec("b")])
        .await
        .unwrap();
    probe.take_log();
    sup.terminate_child("a").await.unwrap();
    assert_eq!(probe.take_log(), ["stop a"]);
    assert_eq!(sup.which_children()[0].status, ChildStatus::Stopped);
    assert!(sup.terminate_child("nope").await.is_err());
    sup.restart_child("a").await.unwrap();
    assert_eq!(probe.take_log(), ["start a"]);
    assert!(
        sup.restart_child("a").await.is_err(),
        "a running child cannot be restarted"
    );
    sup.stop_and_wait().await;
}

/// `count_children_supervisor`, `which_children`, and the tree view of nested supervisors.
#[tokio::test]
async fn tree_shows_nested_supervisors_and_find_resolves_paths() {
    let probe = Probe::new();
    let inner_probe = probe.clone();
    let inner = ChildSpec::supervisor("inner_sup", move || {
        SupervisorSpec::new(
            SupFlags::new(Strategy::RestForOne, 3, 60),
            vec![inner_probe.spec("x"), inner_probe.spec("y")],
        )
    });
    let sup = start(Strategy::OneForAll, vec![probe.spec("a"), inner])
        .await
        .unwrap();
    let counts = sup.count_children();
    assert_eq!(
        (counts.specs, counts.active, counts.supervisors, counts.workers),
        (2, 2, 1, 1)
    );
    let tree = sup.tree(TreeOpts::default());
    assert_eq!(tree.path, "top");
    assert_eq!(tree.children[1].path, "top/inner_sup");
    assert_eq!(tree.children[1].strategy, Some(Strategy::RestForOne));
    assert_eq!(tree.children[1].max_restarts, Some(3));
    assert_eq!(tree.children[1].children[1].path, "top/inner_sup/y");
    let json = serde_json::to_value(&tree).unwrap();
    assert_eq!(json["children"][1]["children"][0]["status"], "running");
    let shallow = sup.tree(TreeOpts {
        depth: Some(1),
        ..TreeOpts::default()
    });
    assert!(shallow.children[1].children.is_empty());
    assert_eq!(shallow.children[1].child_count, Some(2));
    let found = sup.find("top/inner_sup/y").expect("found");
    assert_eq!(found.cell.unwrap().get_id(), probe.actor("y").get_id());
    assert!(sup.find("top/inner_sup/zz").is_none());
    assert_eq!(
        sup.subtree("top/inner_sup", TreeOpts::default())
            .unwrap()
            .children
            .len(),
        2
    );
    let restart = sup.tree(TreeOpts::default()).children[0].restart;
    assert_eq!(restart, Some(Restart::Permanent));
    sup.stop_and_wait().await;
}
