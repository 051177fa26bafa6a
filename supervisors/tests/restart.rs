//! OTP supervisor_SUITE, restart cases: restart type × exit reason, the strategies, intensity and
//! escalation, and a restart that keeps failing.

mod common;

use arbor_supervisors::{
    ChildSpec, ChildStatus, ExitReason, FaultHook, Restart, RootHandle, StartError, Strategy, SupFlags,
    Supervisor, SupervisorRef, SupervisorSpec, REACHED_MAX_RESTART_INTENSITY,
};
use common::{eventually, Cmd, Probe};

async fn start(flags: SupFlags, children: Vec<ChildSpec>) -> Result<SupervisorRef, StartError> {
    Supervisor::start_unlinked("top", SupervisorSpec::new(flags, children), FaultHook::none()).await
}

fn one_for_one() -> SupFlags {
    SupFlags::new(Strategy::OneForOne, 10, 60)
}

/// Ends child `a` with `cmd`, then checks whether it was restarted, by waiting on a sentinel:
/// after the exit, child `b` is crashed too (permanent) and we wait for its restart; by then the
/// supervisor has handled `a`'s exit, since it handles events in order.
async fn restarted_after(restart: Restart, cmd: Cmd) -> bool {
    let probe = Probe::new();
    let sup = start(
        one_for_one(),
        vec![probe.spec("a").restart(restart), probe.spec("b")],
    )
    .await
    .unwrap();
    probe.wait_for("start b").await;
    let a = probe.actor("a");
    probe.send("a", cmd);
    a.get_cell().wait(None).await.unwrap();
    probe.send("b", Cmd::Panic);
    probe.wait_for("start b").await;
    let restarted = probe.log.lock().iter().filter(|e| *e == "start a").count() == 2;
    if !restarted && restart == Restart::Temporary {
        let ids: Vec<_> = sup.which_children().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["b"], "a temporary child's spec is deleted when it ends");
    }
    sup.stop_and_wait().await;
    restarted
}

/// `permanent_normal`, `permanent_shutdown`, `permanent_abnormal`.
#[tokio::test]
async fn permanent_is_restarted_after_any_exit() {
    assert!(restarted_after(Restart::Permanent, Cmd::ExitNormal).await);
    assert!(restarted_after(Restart::Permanent, Cmd::ExitShutdown).await);
    assert!(restarted_after(Restart::Permanent, Cmd::Panic).await);
}

/// `transient_normal`, `transient_shutdown`, `transient_abnormal`: restarted only on failure.
#[tokio::test]
async fn transient_is_restarted_only_after_an_abnormal_exit() {
    assert!(!restarted_after(Restart::Transient, Cmd::ExitNormal).await);
    assert!(!restarted_after(Restart::Transient, Cmd::ExitShutdown).await);
    assert!(restarted_after(Restart::Transient, Cmd::Panic).await);
    assert!(restarted_after(Restart::Transient, Cmd::Fail).await);
}

/// `temporary_normal`, `temporary_shutdown`, `temporary_abnormal`: never restarted.
#[tokio::test]
async fn temporary_is_never_restarted() {
    assert!(!restarted_after(Restart::Temporary, Cmd::ExitNormal).await);
    assert!(!restarted_after(Restart::Temporary, Cmd::Panic).await);
}

/// `permanent_abnormal` with a kill: `exit(Pid, kill)` is abnormal.
#[tokio::test]
async fn killed_child_is_restarted_and_counted() {
    let probe = Probe::new();
    let sup = start(one_for_one(), vec![probe.spec("a")]).await.unwrap();
    probe.actor("a").get_cell().kill();
    probe.wait_for("start a").await;
    probe.wait_for("start a").await;
    eventually("restart recorded", || sup.which_children()[0].restarts == 1).await;
    let tree = sup.tree(Default::default());
    assert_eq!(tree.child_restarts, Some(1));
    assert_eq!(tree.children[0].last_exit.as_deref(), Some("killed"));
    sup.stop_and_wait().await;
}

/// `one_for_one`: only the crashed child restarts.
#[tokio::test]
async fn one_for_one_restarts_only_the_crashed_child() {
    let probe = Probe::new();
    let sup = start(
        one_for_one(),
        vec![probe.spec("a"), probe.spec("b"), probe.spec("c")],
    )
    .await
    .unwrap();
    probe.take_log();
    probe.send("b", Cmd::Panic);
    probe.wait_for("start b").await;
    probe.wait_for("start b").await;
    assert_eq!(probe.take_log(), ["start b"]);
    sup.stop_and_wait().await;
}

/// `one_for_all`: the others stop in reverse order, then all start in order.
#[tokio::test]
async fn one_for_all_restarts_all_in_start_order() {
    let probe = Probe::new();
    let sup = start(
        SupFlags::new(Strategy::OneForAll, 10, 60),
        vec![probe.spec("a"), probe.spec("b"), probe.spec("c")],
    )
    .await
    .unwrap();
    probe.wait_for("start c").await;
    probe.take_log();
    probe.send("b", Cmd::Panic);
    probe.wait_for("start c").await;
    assert_eq!(
        probe.take_log(),
        ["stop c", "stop a", "start a", "start b", "start c"]
    );
    let restarts: Vec<u64> = sup.which_children().iter().map(|c| c.restarts).collect();
    assert_eq!(restarts, [1, 1, 1]);
    assert_eq!(sup.child_restarts(), 1, "one restart of the group");
    sup.stop_and_wait().await;
}

/// `rest_for_one`: the later siblings stop (reverse) and restart with the crashed one.
#[tokio::test]
async fn rest_for_one_restarts_only_the_later_siblings() {
    let probe = Probe::new();
    let sup = start(
        SupFlags::new(Strategy::RestForOne, 10, 60),
        vec![probe.spec("a"), probe.spec("b"), probe.spec("c"), probe.spec("d")],
    )
    .await
    .unwrap();
    probe.wait_for("start d").await;
    probe.take_log();
    probe.send("b", Cmd::Panic);
    probe.wait_for("start d").await;
    assert_eq!(
        probe.take_log(),
        ["stop d", "stop c", "start b", "start c", "start d"]
    );
    sup.stop_and_wait().await;
}

/// `temporary_bystander`: a temporary child stopped by a sibling's one_for_all restart is gone.
#[tokio::test]
async fn temporary_bystander_is_not_restarted() {
    let probe = Probe::new();
    let sup = start(
        SupFlags::new(Strategy::OneForAll, 10, 60),
        vec![probe.spec("t").restart(Restart::Temporary), probe.spec("p")],
    )
    .await
    .unwrap();
    probe.wait_for("start p").await;
    probe.send("p", Cmd::Panic);
    probe.wait_for("start p").await;
    let ids: Vec<_> = sup.which_children().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["p"]);
    assert_eq!(probe.log.lock().iter().filter(|e| *e == "start t").count(), 1);
    sup.stop_and_wait().await;
}

/// `one_for_one_escalation`, `tree`: a child supervisor past its intensity stops its children
/// and exits with shutdown; its parent restarts it (and its children with it).
#[tokio::test]
async fn intensity_exceeded_escalates_to_the_parent() {
    let probe = Probe::new();
    let inner_probe = probe.clone();
    let inner = ChildSpec::supervisor("inner", move || {
        SupervisorSpec::new(
            SupFlags::new(Strategy::OneForOne, 1, 60),
            vec![inner_probe.spec("x"), inner_probe.spec("y")],
        )
    });
    let sup = start(one_for_one(), vec![probe.spec("a"), inner]).await.unwrap();
    probe.wait_for("start y").await;
    probe.send("x", Cmd::Panic);
    probe.wait_for("start x").await;
    probe.send("x", Cmd::Panic); // second restart in the window: inner gives up
    probe.wait_for("stop y").await;
    probe.wait_for("start x").await;
    probe.wait_for("start y").await;
    let tree = sup.tree(Default::default());
    let inner = &tree.children[1];
    assert_eq!(inner.restarts, 1);
    let last_exit = inner.last_exit.clone().unwrap_or_default();
    assert!(
        last_exit.starts_with(&format!("shutdown: {REACHED_MAX_RESTART_INTENSITY}")),
        "{last_exit}"
    );
    assert!(
        last_exit.contains("top/inner/x"),
        "names the failing child: {last_exit}"
    );
    assert_eq!(inner.child_restarts, Some(0), "a fresh incarnation");
    assert_eq!(tree.children[0].restarts, 0, "sibling untouched");
    sup.stop_and_wait().await;
}

/// Escalation reaches the root: a root with intensity 0 ends with the reason, which the broker
/// turns into a non-zero exit.
#[tokio::test]
async fn root_gives_up_and_reports_why() {
    let probe = Probe::new();
    let spec = SupervisorSpec::new(SupFlags::new(Strategy::OneForAll, 0, 1), vec![probe.spec("a")]);
    let root = RootHandle::start("broker_sup", spec, FaultHook::none())
        .await
        .unwrap();
    probe.send("a", Cmd::Panic);
    let reason = tokio::time::timeout(std::time::Duration::from_secs(10), root.wait())
        .await
        .unwrap();
    match reason {
        ExitReason::Shutdown(Some(detail)) => {
            assert!(
                detail.contains(REACHED_MAX_RESTART_INTENSITY) && detail.contains("broker_sup/a"),
                "{detail}"
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// An orderly stop of the root ends with plain shutdown.
#[tokio::test]
async fn root_shutdown_is_orderly() {
    let probe = Probe::new();
    let spec = SupervisorSpec::new(one_for_one(), vec![probe.spec("a"), probe.spec("b")]);
    let root = RootHandle::start("broker_sup", spec, FaultHook::none())
        .await
        .unwrap();
    assert_eq!(root.shutdown().await, ExitReason::Shutdown(None));
    assert_eq!(probe.take_log(), ["start a", "start b", "stop b", "stop a"]);
}

/// `hanging_restart_loop`: while a child keeps failing to restart the supervisor still answers,
/// shows it `restarting`, and every attempt counts until it gives up.
#[tokio::test]
async fn hanging_restart_loop_keeps_answering_then_gives_up() {
    let probe = Probe::new();
    let spec = SupervisorSpec::new(
        SupFlags::new(Strategy::OneForOne, 50, 60),
        vec![probe.spec("a"), probe.spec("b")],
    );
    let root = RootHandle::start("top", spec, FaultHook::none()).await.unwrap();
    probe.set_fail_start("a", true);
    probe.send("a", Cmd::Panic);
    let sup = root.supervisor().clone();
    eventually("a shown restarting", || {
        sup.which_children()
            .first()
            .is_some_and(|c| c.status == ChildStatus::Restarting)
            || root.has_exited()
    })
    .await;
    let reason = tokio::time::timeout(std::time::Duration::from_secs(10), root.wait())
        .await
        .unwrap();
    assert!(
        reason.to_string().contains(REACHED_MAX_RESTART_INTENSITY),
        "{reason}"
    );
    assert!(probe.log.lock().contains(&"stop b".to_string()));
}

/// A failed restart that later succeeds: the child comes back and the supervisor survives.
#[tokio::test]
async fn failed_restart_is_retried_until_it_succeeds() {
    let probe = Probe::new();
    let sup = start(
        SupFlags::new(Strategy::OneForOne, 1000, 60),
        vec![probe.spec("a")],
    )
    .await
    .unwrap();
    probe.set_fail_start("a", true);
    probe.send("a", Cmd::Panic);
    eventually("a restarting", || {
        sup.which_children()[0].status == ChildStatus::Restarting
    })
    .await;
    probe.set_fail_start("a", false);
    eventually("a running again", || {
        sup.which_children()[0].status == ChildStatus::Running
    })
    .await;
    sup.stop_and_wait().await;
}

/// A dead child's resources are released before it is restarted: ractor hands the last state of
/// a stopped actor to its supervisor inside the event, and the engine drops it first (found when
/// a restarted listener could not re-bind because its predecessor's socket was still open).
#[tokio::test]
async fn the_previous_state_is_dropped_before_the_restart() {
    let probe = Probe::new();
    let sup = start(one_for_one(), vec![probe.spec("a")]).await.unwrap();
    probe.send("a", Cmd::ExitNormal);
    probe.wait_for("start a").await;
    probe.wait_for("start a").await;
    assert_eq!(*probe.drops_at_start.lock(), [0, 1]);
    sup.stop_and_wait().await;
}
