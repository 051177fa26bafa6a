//! The event stream: what a supervisor records when children start, end, are restarted, fail to
//! restart, are shut down, and when it gives up; fault firings; the root's log. Each case waits
//! on the live broadcast under a timeout, never on the clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{
    ChildSpec, Event, EventKind, FaultHook, FaultPlan, RootHandle, Strategy, SupFlags, Supervisor,
    SupervisorRef, SupervisorSpec, REACHED_MAX_RESTART_INTENSITY,
};
use common::{Cmd, Probe};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

/// `name path` of an event, as the assertions read it.
fn brief(event: &Event) -> String {
    format!("{} {}", event.kind.name(), event.path)
}

/// Collects live events up to and including the first one whose brief is `last`; fails after
/// 10 s naming what it saw. Lost events (a lagging receiver) are skipped.
async fn until(live: &mut Receiver<Arc<Event>>, last: &str) -> Vec<Arc<Event>> {
    let mut seen = Vec::new();
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match live.recv().await {
                Ok(event) => {
                    let stop = brief(&event) == last;
                    seen.push(event);
                    if stop {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    })
    .await;
    let briefs: Vec<String> = seen.iter().map(|e| brief(e)).collect();
    assert!(done.is_ok(), "timed out waiting for `{last}`; saw {briefs:?}");
    seen
}

fn briefs(events: &[Arc<Event>]) -> Vec<String> {
    events.iter().map(|e| brief(e)).collect()
}

async fn start(flags: SupFlags, children: Vec<ChildSpec>) -> SupervisorRef {
    Supervisor::start_unlinked("top", SupervisorSpec::new(flags, children), FaultHook::none())
        .await
        .expect("supervisor starts")
}

/// `one_for_all`: the killed child's end, its siblings stopped last first, all started again in
/// order, each numbered one after the other; an orderly stop shuts down the rest last first.
#[tokio::test]
async fn one_for_all_kill_records_terminated_shut_down_and_restarted_in_order() {
    let probe = Probe::new();
    let sup = start(
        SupFlags::new(Strategy::OneForAll, 10, 60),
        vec![probe.spec("a"), probe.spec("b"), probe.spec("c")],
    )
    .await;
    let events = sup.events().clone();
    assert_eq!(
        briefs(&events.since(0)),
        ["started top/a", "started top/b", "started top/c"]
    );
    let mut sub = events.subscribe(events.last_seq());
    assert!(sub.backlog.is_empty());
    probe.actor("b").get_cell().kill();
    let seen = until(&mut sub.live, "restarted top/c").await;
    assert_eq!(
        briefs(&seen),
        [
            "terminated top/b",
            "shut_down top/c",
            "shut_down top/a",
            "restarted top/a",
            "restarted top/b",
            "restarted top/c",
        ]
    );
    assert_eq!(
        seen[0].kind,
        EventKind::Terminated {
            reason: "killed".into(),
            abnormal: true
        }
    );
    assert!(seen.iter().all(|e| e.supervisor.as_deref() == Some("top")));
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    match &seen[4].kind {
        EventKind::Restarted { actor_id, restarts } => {
            assert_eq!(*restarts, 1);
            assert_eq!(*actor_id, probe.actor("b").get_id().to_string());
        }
        other => panic!("expected restarted, got {other:?}"),
    }

    sup.stop_and_wait().await;
    let stopped: Vec<String> = events.since(seen[5].seq).iter().map(|e| brief(e)).collect();
    assert_eq!(stopped, ["shut_down top/c", "shut_down top/b", "shut_down top/a"]);
}

/// A restart whose start fails is `restart_failed`, retried by the supervisor until it starts.
#[tokio::test]
async fn failed_restart_is_recorded_and_retried() {
    let probe = Probe::new();
    let sup = start(
        SupFlags::new(Strategy::OneForOne, 1_000_000, 60),
        vec![probe.spec("a")],
    )
    .await;
    let mut sub = sup.events().subscribe(sup.events().last_seq());
    probe.set_fail_start("a", true);
    probe.actor("a").get_cell().kill();
    let seen = until(&mut sub.live, "restart_failed top/a").await;
    assert_eq!(briefs(&seen), ["terminated top/a", "restart_failed top/a"]);
    assert_eq!(
        seen[1].kind,
        EventKind::RestartFailed {
            reason: "a refuses to start".into()
        }
    );
    probe.set_fail_start("a", false);
    let seen = until(&mut sub.live, "restarted top/a").await;
    assert!(
        briefs(&seen)
            .iter()
            .all(|b| b == "restart_failed top/a" || b == "restarted top/a"),
        "{:?}",
        briefs(&seen)
    );
    sup.stop_and_wait().await;
}

/// Escalation (OTP `one_for_one_escalation`): the inner supervisor records `gave_up`, stops its
/// children, and its parent records its end and restarts it.
#[tokio::test]
async fn gave_up_is_recorded_and_the_parent_sees_the_escalation() {
    let probe = Probe::new();
    let inner = probe.clone();
    let mid = ChildSpec::supervisor("mid", move || {
        SupervisorSpec::new(SupFlags::new(Strategy::OneForOne, 0, 1), vec![inner.spec("a")])
    });
    let sup = start(SupFlags::new(Strategy::OneForOne, 10, 60), vec![mid]).await;
    assert_eq!(
        briefs(&sup.events().since(0)),
        ["started top/mid/a", "started top/mid"]
    );
    let mut sub = sup.events().subscribe(sup.events().last_seq());
    probe.send("a", Cmd::Panic);
    let seen = until(&mut sub.live, "restarted top/mid").await;
    assert_eq!(
        briefs(&seen),
        [
            "terminated top/mid/a",
            "gave_up top/mid",
            "terminated top/mid",
            "started top/mid/a",
            "restarted top/mid",
        ]
    );
    match &seen[1].kind {
        EventKind::GaveUp {
            child,
            max_restarts,
            max_seconds,
            ..
        } => assert_eq!((child.as_str(), *max_restarts, *max_seconds), ("top/mid/a", 0, 1)),
        other => panic!("expected gave_up, got {other:?}"),
    }
    assert_eq!(seen[1].supervisor.as_deref(), Some("top/mid"));
    match &seen[2].kind {
        EventKind::Terminated { reason, abnormal } => {
            assert!(reason.contains(REACHED_MAX_RESTART_INTENSITY), "{reason}");
            assert!(!abnormal, "a supervisor that gives up exits with shutdown");
        }
        other => panic!("expected terminated, got {other:?}"),
    }
    assert_eq!(seen[2].supervisor.as_deref(), Some("top"));
    sup.stop_and_wait().await;
}

/// The root's log is the tree's: the root's own start last, fault firings recorded beside the
/// restarts they cause.
#[tokio::test]
async fn root_log_has_the_whole_tree_and_fault_firings() {
    let probe = Probe::new();
    let plan = Arc::new(FaultPlan::parse(&["kill@root/a:every=20ms".into()], 1).expect("plan"));
    let spec = SupervisorSpec::new(
        SupFlags::new(Strategy::OneForOne, 1000, 60),
        vec![probe.spec("a")],
    );
    let root = RootHandle::start("root", spec, FaultHook::from_plan(plan))
        .await
        .expect("root starts");
    let events = root.events().clone();
    let mut sub = events.subscribe(0);
    let backlog = briefs(&sub.backlog);
    assert_eq!(backlog[0], "started root/a");
    let root_started = sub
        .backlog
        .iter()
        .find(|e| brief(e) == "started root")
        .expect("the root's start is recorded once it is up");
    assert_eq!(root_started.supervisor, None);
    let mut seen = sub.backlog.clone();
    if !backlog.iter().any(|b| b == "restarted root/a") {
        seen.extend(until(&mut sub.live, "restarted root/a").await);
    }
    let fault = seen
        .iter()
        .find(|e| e.kind.name() == "fault")
        .expect("a fault event before the restart");
    assert_eq!(
        fault.kind,
        EventKind::Fault {
            action: "kill".into(),
            rule: "kill@root/a:every=20ms".into()
        }
    );
    assert_eq!(fault.path, "root/a");
    let order = briefs(&seen);
    let at = |b: &str| order.iter().position(|x| x == b).expect(b);
    assert!(at("fault root/a") < at("terminated root/a"), "{order:?}");
    assert!(at("terminated root/a") < at("restarted root/a"), "{order:?}");
    // The root's handle and its supervisor share one log.
    assert_eq!(root.supervisor().events().last_seq(), events.last_seq());
    root.shutdown().await;
}
