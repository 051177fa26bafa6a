//! A probe worker for the supervisor suite: it reports its starts and clean stops on a channel
//! and does what a test tells it (panic, exit normally, exit with shutdown, hang, unlink).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{start_fn, ChildSpec, StartCtx, StartError, Started};
use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

/// What a probe can be told to do.
pub enum Cmd {
    Panic,
    ExitNormal,
    ExitShutdown,
    Fail,
    Hang,
    Unlink,
}

/// An event: `start a`, `stop a`.
pub type Event = String;

/// Shared by a test and all its probes.
#[derive(Clone)]
pub struct Probe {
    tx: mpsc::UnboundedSender<Event>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>>,
    pub log: Arc<Mutex<Vec<Event>>>,
    fail_start: Arc<Mutex<HashMap<String, bool>>>,
    pub refs: Arc<Mutex<HashMap<String, ActorRef<Cmd>>>>,
    /// Probe states dropped so far.
    pub drops: Arc<Mutex<Vec<String>>>,
    /// At each start, how many probe states had been dropped.
    pub drops_at_start: Arc<Mutex<Vec<usize>>>,
}

impl Probe {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            log: Arc::default(),
            fail_start: Arc::default(),
            refs: Arc::default(),
            drops: Arc::default(),
            drops_at_start: Arc::default(),
        }
    }

    fn record(&self, event: String) {
        self.log.lock().push(event.clone());
        let _ = self.tx.send(event);
    }

    /// Makes the next starts of `id` fail (or succeed again).
    pub fn set_fail_start(&self, id: &str, fail: bool) {
        self.fail_start.lock().insert(id.to_string(), fail);
    }

    /// Waits (up to 10 s) for `event`, consuming events before it.
    pub async fn wait_for(&self, event: &str) {
        let mut rx = self.rx.lock().await;
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(e) = rx.recv().await {
                if e == event {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(found, Ok(true)),
            "timed out waiting for `{event}`; log: {:?}",
            self.log.lock()
        );
    }

    /// Sends a command to the live probe `id`.
    pub fn send(&self, id: &str, cmd: Cmd) {
        let actor = self
            .refs
            .lock()
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no probe {id}"));
        actor.send_message(cmd).expect("probe alive");
    }

    pub fn actor(&self, id: &str) -> ActorRef<Cmd> {
        self.refs
            .lock()
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no probe {id}"))
    }

    /// Clears the log.
    pub fn take_log(&self) -> Vec<Event> {
        std::mem::take(&mut *self.log.lock())
    }

    /// A worker spec whose start spawns a probe named `id`.
    pub fn spec(&self, id: &str) -> ChildSpec {
        let probe = self.clone();
        let name = id.to_string();
        ChildSpec::worker(
            id,
            start_fn(move |ctx: StartCtx| {
                let probe = probe.clone();
                let name = name.clone();
                async move { probe.start(name, ctx).await }
            }),
        )
    }

    /// Starts a probe under `ctx.supervisor`.
    pub async fn start(&self, name: String, ctx: StartCtx) -> Result<Option<Started>, StartError> {
        if self.fail_start.lock().get(&name).copied().unwrap_or(false) {
            return Err(StartError::failed(format!("{name} refuses to start")));
        }
        let args = (self.clone(), name.clone());
        let (actor, _) = Actor::spawn_linked(None, ProbeActor, args, ctx.supervisor.clone()).await?;
        self.refs.lock().insert(name, actor.clone());
        Ok(Some(actor.into()))
    }
}

pub struct ProbeActor;

pub struct ProbeState {
    probe: Probe,
    name: String,
    unlinked: Arc<AtomicBool>,
}

impl Drop for ProbeState {
    fn drop(&mut self) {
        self.probe.drops.lock().push(self.name.clone());
    }
}

impl Actor for ProbeActor {
    type Msg = Cmd;
    type State = ProbeState;
    type Arguments = (Probe, String);

    async fn pre_start(
        &self,
        _me: ActorRef<Cmd>,
        (probe, name): (Probe, String),
    ) -> Result<ProbeState, ActorProcessingErr> {
        probe.drops_at_start.lock().push(probe.drops.lock().len());
        probe.record(format!("start {name}"));
        Ok(ProbeState {
            probe,
            name,
            unlinked: Arc::default(),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<Cmd>,
        cmd: Cmd,
        state: &mut ProbeState,
    ) -> Result<(), ActorProcessingErr> {
        match cmd {
            Cmd::Panic => panic!("{} told to panic", state.name),
            Cmd::Fail => return Err(format!("{} told to fail", state.name).into()),
            Cmd::ExitNormal => me.stop(None),
            Cmd::ExitShutdown => me.stop(Some("shutdown".into())),
            Cmd::Hang => std::future::pending::<()>().await,
            Cmd::Unlink => {
                if let Some(sup) = me.try_get_supervisor() {
                    me.get_cell().unlink(sup);
                    state.unlinked.store(true, Ordering::SeqCst);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(&self, _me: ActorRef<Cmd>, state: &mut ProbeState) -> Result<(), ActorProcessingErr> {
        state.probe.record(format!("stop {}", state.name));
        Ok(())
    }
}

/// Polls `cond` every 5 ms for up to 10 s; a fallback where no event exists to wait on.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let ok = tokio::time::timeout(Duration::from_secs(10), async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "timed out waiting for: {what}");
}
