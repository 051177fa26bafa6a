//! OTP supervisor_SUITE, simple_one_for_one cases: many temporary children, restarts of
//! transient ones, start errors, and shutdown of all children at once.

mod common;

use std::time::Duration;

use arbor_supervisors::{
    ChildKind, DynamicChild, FaultHook, Restart, Shutdown, StartCtx, StartError, Supervisor, SupervisorRef,
    SupervisorSpec, Template, TreeOpts,
};
use common::{eventually, Cmd, Probe};

async fn start_simple(restart: Restart, shutdown: Shutdown) -> SupervisorRef {
    let template = Template {
        restart,
        shutdown,
        kind: ChildKind::Worker,
    };
    Supervisor::start_unlinked(
        "dyn_sup",
        SupervisorSpec::simple(10, 60, template),
        FaultHook::none(),
    )
    .await
    .unwrap()
}

fn once(probe: &Probe, name: &str) -> DynamicChild {
    let probe = probe.clone();
    let name = name.to_string();
    DynamicChild::once(format!("worker/{name}"), move |ctx: StartCtx| async move {
        probe.start(name, ctx).await
    })
}

fn repeat(probe: &Probe, name: &str) -> DynamicChild {
    let probe = probe.clone();
    let name = name.to_string();
    let start = arbor_supervisors::start_fn(move |ctx: StartCtx| {
        let probe = probe.clone();
        let name = name.clone();
        async move { probe.start(name, ctx).await }
    });
    DynamicChild::repeat(format!("worker/{}", "r"), start)
}

/// `simple_one_for_one_scale_many_temporary_children`, `scale_start_stop_many_children`:
/// 10,000 children start and terminate, and the supervisor stays responsive throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_one_for_one_scales_to_ten_thousand_children() {
    let probe = Probe::new();
    let sup = start_simple(Restart::Temporary, Shutdown::BrutalKill).await;
    let mut cells = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let cell = sup
            .start_child(once(&probe, &format!("w{i}")))
            .await
            .unwrap()
            .expect("started");
        cells.push(cell);
    }
    assert_eq!(sup.count_children().active, 10_000);
    let tree = sup.tree(TreeOpts::default());
    assert_eq!(tree.child_count, Some(10_000));
    assert!(
        tree.children.is_empty(),
        "dynamic children listed only when expanded"
    );
    let listed = sup.tree(TreeOpts {
        expand: true,
        limit: 5,
        ..TreeOpts::default()
    });
    assert_eq!(listed.children.len(), 5);
    assert_eq!(listed.children[0].path, "dyn_sup/worker/w0");
    for cell in &cells[..5_000] {
        sup.terminate_actor(cell.get_id()).await.unwrap();
    }
    assert_eq!(sup.count_children().active, 5_000);
    // Responsive: a start is answered promptly while 5,000 children remain.
    tokio::time::timeout(Duration::from_secs(1), sup.start_child(once(&probe, "late")))
        .await
        .unwrap()
        .unwrap();
    // The rest are stopped together when the supervisor stops.
    tokio::time::timeout(Duration::from_secs(10), sup.stop_and_wait())
        .await
        .unwrap();
    for cell in &cells[5_000..] {
        assert_eq!(cell.get_status(), ractor::ActorStatus::Stopped);
    }
}

/// `simple_one_for_one`: a transient dynamic child is restarted after a crash, not after a
/// normal exit; temporary ones leave the table when they end.
#[tokio::test]
async fn simple_one_for_one_restarts_transient_children_on_failure() {
    let probe = Probe::new();
    let sup = start_simple(Restart::Transient, Shutdown::Timeout(Duration::from_secs(1))).await;
    sup.start_child(repeat(&probe, "r")).await.unwrap();
    probe.wait_for("start r").await;
    probe.send("r", Cmd::Panic);
    probe.wait_for("start r").await;
    eventually("restart counted", || {
        sup.which_children().first().is_some_and(|c| c.restarts == 1)
    })
    .await;
    probe.send("r", Cmd::ExitNormal);
    eventually("normal exit forgets the child", || {
        sup.count_children().specs == 0
    })
    .await;
    sup.stop_and_wait().await;
}

/// A once-only start cannot be the child of a transient template: it could not be restarted.
#[tokio::test]
async fn once_only_start_refused_for_restartable_template() {
    let probe = Probe::new();
    let sup = start_simple(Restart::Permanent, Shutdown::BrutalKill).await;
    let err = sup.start_child(once(&probe, "x")).await.err().unwrap();
    assert!(matches!(err, StartError::Invalid(_)), "{err}");
    sup.stop_and_wait().await;
}

/// `sup_start_child_returns_error_simple`: the start error reaches the caller; nothing is kept.
#[tokio::test]
async fn start_child_returns_error_simple() {
    let probe = Probe::new();
    probe.set_fail_start("bad", true);
    let sup = start_simple(Restart::Temporary, Shutdown::BrutalKill).await;
    let err = sup.start_child(once(&probe, "bad")).await.err().unwrap();
    assert_eq!(err, StartError::failed("bad refuses to start"));
    assert_eq!(sup.count_children().specs, 0);
    sup.stop_and_wait().await;
}

/// `sup_stop_timeout_dynamic`: dynamic children are signalled together and waited for under one
/// timer; one that ignores stop is killed after it, the others ran their cleanup.
#[tokio::test]
async fn sup_stop_timeout_dynamic_under_one_timer() {
    let probe = Probe::new();
    let sup = start_simple(Restart::Temporary, Shutdown::Timeout(Duration::from_millis(300))).await;
    for name in ["a", "b", "c"] {
        sup.start_child(once(&probe, name)).await.unwrap();
    }
    probe.send("b", Cmd::Hang);
    let began = tokio::time::Instant::now();
    sup.stop_and_wait().await;
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let log = probe.take_log();
    assert!(log.contains(&"stop a".to_string()) && log.contains(&"stop c".to_string()));
    assert!(!log.contains(&"stop b".to_string()));
}

/// Children are found by their path, ids percent-encoded by the caller.
#[tokio::test]
async fn dynamic_children_are_found_by_path() {
    let probe = Probe::new();
    let sup = start_simple(Restart::Temporary, Shutdown::BrutalKill).await;
    let id = format!("session/{}", arbor_supervisors::path::encode_segment("a/b c"));
    let p = probe.clone();
    let child = DynamicChild::once(
        id,
        move |ctx: StartCtx| async move { p.start("s".into(), ctx).await },
    );
    let cell = sup.start_child(child).await.unwrap().unwrap();
    let found = sup.find("dyn_sup/session/a%2Fb%20c").expect("found by path");
    assert_eq!(found.cell.map(|c| c.get_id()), Some(cell.get_id()));
    sup.stop_and_wait().await;
}
