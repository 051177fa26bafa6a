//! What a supervisor does when a child starts, ends, or must be stopped: OTP's `do_restart`,
//! `restart/3` per strategy, `add_restart` and `terminate_children`, as methods of the actor state.

use futures::FutureExt;
use ractor::{ActorCell, ActorId};
use std::panic::AssertUnwindSafe;
use tokio::time::Instant;

use crate::children::{Child, ChildStart, ChildStatus, Inner, Key, SupStatus};
use crate::error::{StartError, SupervisorError};
use crate::events::EventKind;
use crate::exit::ExitReason;
use crate::shutdown::{terminate, terminate_all};
use crate::spec::{ChildSpec, DynStart, DynamicChild, Restart, StartCtx, Strategy};
use crate::supervisor::{KeyMsg, SupervisorMsg, SupervisorState};

/// The `shutdown` detail a supervisor exits with when it gives up.
pub const REACHED_MAX_RESTART_INTENSITY: &str = "reached_max_restart_intensity";

impl SupervisorState {
    /// Puts the static children in the table, not yet started; returns how many.
    pub(crate) fn install_statics(&mut self, specs: Vec<ChildSpec>) -> usize {
        let mut inner = self.shared.inner.lock();
        for spec in specs {
            let child = Child::new(
                spec.id,
                spec.restart,
                spec.shutdown,
                spec.kind,
                ChildStart::Repeat(spec.start),
            );
            inner.statics.push(child);
        }
        inner.statics.len()
    }

    /// Runs a child's start function and records the outcome. A panic inside the start function
    /// is an error result, as OTP turns a crashing start function into `{error, Reason}`.
    pub(crate) async fn start_key(&mut self, key: Key) -> Result<(), StartError> {
        let (start, ctx) = {
            let mut inner = self.shared.inner.lock();
            let Some(child) = inner.get_mut(key) else {
                return Err(StartError::Invalid("child vanished".into()));
            };
            child.status = ChildStatus::Starting;
            let path = child.path(&self.shared.path);
            let ctx = StartCtx {
                supervisor: self.myself.get_cell(),
                fault: self.fault.for_path(&path),
                events: self.shared.events.clone(),
                path,
            };
            let start = match &mut child.start {
                ChildStart::Repeat(f) => Some(f(ctx.clone())),
                ChildStart::Once(f) => f.take().map(|f| f(ctx.clone())),
                ChildStart::Forgotten => None,
            };
            (start, ctx)
        };
        let Some(start) = start else {
            return Err(StartError::Invalid(format!(
                "{}: start arguments were not kept",
                ctx.path
            )));
        };
        let result = match AssertUnwindSafe(start).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(StartError::Failed(panic_message(&panic))),
        };
        let mut inner = self.shared.inner.lock();
        let Some(child) = inner.get_mut(key) else {
            return Err(StartError::Invalid("child vanished".into()));
        };
        match result {
            Ok(Some(started)) => {
                ctx.fault.started(&started.cell);
                let id = started.cell.get_id();
                child.cell = Some(started.cell);
                child.sup = started.supervisor;
                child.status = ChildStatus::Running;
                if child.restart == Restart::Temporary && matches!(key, Key::Dynamic(_)) {
                    child.start = ChildStart::Forgotten;
                }
                inner.by_actor.insert(id, key);
                Ok(())
            }
            Ok(None) => {
                child.status = ChildStatus::Ignored;
                // OTP: a dynamic child whose start returns `ignore` is not kept.
                if matches!(key, Key::Dynamic(_)) {
                    inner.forget(key);
                }
                Ok(())
            }
            Err(err) => {
                child.status = ChildStatus::Stopped;
                Err(err)
            }
        }
    }

    /// OTP `start_child/2` on a `SimpleOneForOne` supervisor.
    pub(crate) async fn start_dynamic(
        &mut self,
        child: DynamicChild,
    ) -> Result<Option<ActorCell>, StartError> {
        let Some(template) = self.template else {
            return Err(StartError::Invalid(format!(
                "{}: start_child with a child takes a simple_one_for_one supervisor",
                self.shared.path
            )));
        };
        let start = match child.start {
            DynStart::Repeat(f) => ChildStart::Repeat(f),
            DynStart::Once(_) if template.restart != Restart::Temporary => {
                return Err(StartError::Invalid(format!(
                    "{}: a child started once cannot be {:?}",
                    child.id, template.restart
                )))
            }
            DynStart::Once(f) => ChildStart::Once(Some(f)),
        };
        let key = {
            let mut inner = self.shared.inner.lock();
            if inner.status != SupStatus::Running {
                return Err(StartError::Unavailable(format!(
                    "{} is shutting down",
                    self.shared.path
                )));
            }
            let seq = inner.next_seq;
            inner.next_seq += 1;
            let entry = Child::new(
                child.id,
                template.restart,
                template.shutdown,
                template.kind,
                start,
            );
            inner.dynamics.insert(seq, Box::new(entry));
            Key::Dynamic(seq)
        };
        let result = self.start_key(key).await;
        let mut inner = self.shared.inner.lock();
        match result {
            Ok(()) => {
                let cell = inner.get(key).and_then(|c| c.cell.clone());
                if cell.is_none() {
                    inner.forget(key);
                }
                Ok(cell)
            }
            Err(err) => {
                inner.forget(key);
                Err(err)
            }
        }
    }

    /// A linked child ended: OTP's `restart_child/3` → `do_restart/3`.
    pub(crate) async fn child_exited(&mut self, actor: ActorId, reason: ExitReason) {
        let (key, restart, path) = {
            let mut inner = self.shared.inner.lock();
            // Events about children we stopped ourselves find no entry: they are not exits to
            // react to.
            let Some(key) = inner.by_actor.remove(&actor) else {
                return;
            };
            let failure = reason.is_abnormal();
            let Some(child) = inner.get_mut(key) else {
                return;
            };
            child.cell = None;
            child.sup = None;
            child.status = ChildStatus::Stopped;
            child.last_exit = Some(reason.clone());
            let (restart, path) = (child.restart, child.path(&self.shared.path));
            if failure {
                inner.last_failure = Some(format!("{path}: {reason}"));
            }
            (key, restart, path)
        };
        if reason.is_abnormal() {
            tracing::warn!(supervisor = %self.shared.path, child = %path, %reason, "child_terminated");
        } else {
            tracing::debug!(supervisor = %self.shared.path, child = %path, %reason, "child exited");
        }
        // A dynamic child's normal end is routine (its peer left) and may come thousands of
        // times a second: only its abnormal end is an event (see `events`).
        if matches!(key, Key::Static(_)) || reason.is_abnormal() {
            let kind = EventKind::Terminated {
                reason: reason.to_string(),
                abnormal: reason.is_abnormal(),
            };
            self.record(path.clone(), kind);
        }
        let restart_it = match restart {
            Restart::Permanent => true,
            Restart::Transient => reason.is_abnormal(),
            Restart::Temporary => false,
        };
        if !restart_it {
            if restart == Restart::Temporary || matches!(key, Key::Dynamic(_)) {
                self.shared.inner.lock().forget(key);
            }
            return;
        }
        self.restart(key, &path, &reason).await;
    }

    /// Counts a restart against the intensity, then applies the strategy.
    async fn restart(&mut self, key: Key, path: &str, reason: &ExitReason) {
        if !self.intensity.add_restart(Instant::now()) {
            self.give_up(path, reason).await;
            return;
        }
        self.shared.inner.lock().child_restarts += 1;
        let group = match (self.shared.flags.strategy, key) {
            (Strategy::OneForAll, Key::Static(failed)) => {
                let all: Vec<usize> = (0..self.static_count()).collect();
                self.terminate_group(all.iter().copied().filter(|&i| i != failed).collect())
                    .await;
                all
            }
            (Strategy::RestForOne, Key::Static(failed)) => {
                let rest: Vec<usize> = (failed..self.static_count()).collect();
                self.terminate_group(rest.iter().copied().filter(|&i| i != failed).collect())
                    .await;
                rest
            }
            _ => {
                self.start_group(vec![key]).await;
                return;
            }
        };
        self.start_group(group.into_iter().map(Key::Static).collect())
            .await;
    }

    fn static_count(&self) -> usize {
        self.shared.inner.lock().statics.len()
    }

    /// Stops the running static children among `indices`, last first. A temporary child stopped
    /// this way is not restarted (OTP `temporary_bystander`).
    async fn terminate_group(&mut self, indices: Vec<usize>) {
        for index in indices.into_iter().rev() {
            self.terminate_key(Key::Static(index)).await;
        }
    }

    /// Starts, in order, the children of `keys` that are not running and still have a spec; each
    /// one counts as restarted. If one fails, it and the rest are marked `restarting` and the
    /// supervisor tries again later by a message to itself.
    async fn start_group(&mut self, keys: Vec<Key>) {
        for (at, key) in keys.iter().copied().enumerate() {
            let startable = {
                let inner = self.shared.inner.lock();
                inner
                    .get(key)
                    .is_some_and(|c| c.cell.is_none() && !matches!(c.start, ChildStart::Forgotten))
            };
            if !startable {
                continue;
            }
            match self.start_key(key).await {
                Ok(()) => {
                    if let Some(child) = self.shared.inner.lock().get_mut(key) {
                        child.restarts += 1;
                    }
                    self.record_started(key, true);
                }
                Err(err) => {
                    let mut inner = self.shared.inner.lock();
                    for later in &keys[at..] {
                        if let Some(child) = inner.get_mut(*later) {
                            if child.cell.is_none() {
                                child.status = ChildStatus::Restarting;
                            }
                        }
                    }
                    let path = inner
                        .get(key)
                        .map(|c| c.path(&self.shared.path))
                        .unwrap_or_default();
                    inner.last_failure = Some(format!("{path}: {err}"));
                    drop(inner);
                    tracing::error!(supervisor = %self.shared.path, child = %path, reason = %err, "restart failed, trying again");
                    let reason = err.to_string();
                    self.record(path, EventKind::RestartFailed { reason });
                    let _ = self
                        .myself
                        .send_message(SupervisorMsg::TryAgainRestart(KeyMsg(key)));
                    return;
                }
            }
        }
    }

    /// OTP `try_again_restart`: the attempt counts toward the intensity.
    pub(crate) async fn try_again(&mut self, key: Key) {
        let path = {
            let inner = self.shared.inner.lock();
            match inner.get(key) {
                Some(child) if child.status == ChildStatus::Restarting => child.path(&self.shared.path),
                _ => return,
            }
        };
        if !self.intensity.add_restart(Instant::now()) {
            let reason = ExitReason::Failed("restart failed".into());
            self.give_up(&path, &reason).await;
            return;
        }
        self.shared.inner.lock().child_restarts += 1;
        let group = match (self.shared.flags.strategy, key) {
            (Strategy::OneForAll | Strategy::RestForOne, Key::Static(at)) => {
                (at..self.static_count()).map(Key::Static).collect()
            }
            _ => vec![key],
        };
        self.start_group(group).await;
    }

    /// Intensity exceeded: stop all children and exit with `shutdown`, so the parent reacts.
    async fn give_up(&mut self, path: &str, reason: &ExitReason) {
        tracing::error!(
            supervisor = %self.shared.path,
            child = %path,
            %reason,
            max_restarts = self.shared.flags.max_restarts,
            max_seconds = self.shared.flags.max_seconds,
            "{REACHED_MAX_RESTART_INTENSITY}"
        );
        let kind = EventKind::GaveUp {
            child: path.to_string(),
            reason: reason.to_string(),
            max_restarts: self.shared.flags.max_restarts,
            max_seconds: self.shared.flags.max_seconds,
        };
        self.record(self.shared.path.clone(), kind);
        self.shutdown_children().await;
        let detail = format!("{REACHED_MAX_RESTART_INTENSITY}, last failure {path}: {reason}");
        self.shared.inner.lock().status = SupStatus::Stopped;
        self.myself
            .stop(Some(ExitReason::Shutdown(Some(detail)).to_reason()));
    }

    /// Stops one child and records it; a temporary one is forgotten.
    async fn terminate_key(&mut self, key: Key) {
        let (cell, shutdown) = {
            let mut inner = self.shared.inner.lock();
            let Some(child) = inner.get_mut(key) else { return };
            let Some(cell) = child.cell.take() else { return };
            child.sup = None;
            let shutdown = child.shutdown;
            inner.by_actor.remove(&cell.get_id());
            (cell, shutdown)
        };
        terminate(&cell, shutdown).await;
        let mut inner = self.shared.inner.lock();
        let temporary = inner.get(key).is_some_and(|c| c.restart == Restart::Temporary);
        let mut path = None;
        if let Some(child) = inner.get_mut(key) {
            child.status = ChildStatus::Stopped;
            child.last_exit = Some(ExitReason::Shutdown(None));
            path = Some(child.path(&self.shared.path));
        }
        if temporary || matches!(key, Key::Dynamic(_)) {
            inner.forget(key);
        }
        drop(inner);
        if let Some(path) = path {
            self.record(path, EventKind::ShutDown { count: None });
        }
    }

    /// Stops every child: dynamic ones all at once under one timer, then static ones last first.
    pub(crate) async fn shutdown_children(&mut self) {
        let (dynamic, shutdown) = {
            let mut inner = self.shared.inner.lock();
            if inner.status != SupStatus::Stopped {
                inner.status = SupStatus::ShuttingDown;
            }
            let Inner {
                dynamics, by_actor, ..
            } = &mut *inner;
            let cells: Vec<ActorCell> = dynamics.values_mut().filter_map(|c| c.cell.take()).collect();
            for cell in &cells {
                by_actor.remove(&cell.get_id());
            }
            dynamics.clear();
            (cells, self.template.map(|t| t.shutdown))
        };
        if let Some(shutdown) = shutdown {
            terminate_all(&dynamic, shutdown).await;
            if !dynamic.is_empty() {
                let count = Some(dynamic.len());
                self.record(self.shared.path.clone(), EventKind::ShutDown { count });
            }
        }
        let count = self.static_count();
        self.terminate_group((0..count).collect()).await;
    }

    pub(crate) async fn terminate_id(&mut self, id: &str) -> Result<(), SupervisorError> {
        let key = {
            let inner = self.shared.inner.lock();
            let found = inner
                .iter()
                .find(|(_, c)| c.id == id && c.cell.is_some())
                .map(|(k, _)| k);
            found
        };
        match key {
            Some(key) => {
                self.terminate_key(key).await;
                Ok(())
            }
            None => {
                let known = self.shared.inner.lock().iter().any(|(_, c)| c.id == id);
                if known {
                    Ok(())
                } else {
                    Err(SupervisorError::NotFound(id.to_string()))
                }
            }
        }
    }

    pub(crate) async fn terminate_actor(&mut self, actor: ActorId) -> Result<(), SupervisorError> {
        let key = self.shared.inner.lock().by_actor.get(&actor).copied();
        match key {
            Some(key) => {
                self.terminate_key(key).await;
                Ok(())
            }
            None => Err(SupervisorError::NotFound(actor.to_string())),
        }
    }

    pub(crate) async fn restart_id(&mut self, id: &str) -> Result<(), StartError> {
        let key = {
            let inner = self.shared.inner.lock();
            let found = inner
                .statics
                .iter()
                .position(|c| c.id == id && Inner::is_listed(c));
            match found {
                Some(i) if inner.statics[i].cell.is_some() => {
                    return Err(StartError::Invalid(format!("{id} is running")))
                }
                Some(i) => Key::Static(i),
                None => return Err(StartError::Invalid(format!("no child `{id}`"))),
            }
        };
        self.start_key(key).await?;
        self.record_started(key, false);
        Ok(())
    }

    /// Records an event of this supervisor about `path`.
    pub(crate) fn record(&self, path: String, kind: EventKind) {
        self.shared.events.record(Some(&self.shared.path), path, kind);
    }

    /// Records that the child at `key` is running: `restarted` by the strategy, or `started`.
    /// Nothing for a child that is not running (its start returned `ignore`).
    pub(crate) fn record_started(&self, key: Key, restarted: bool) {
        let found = {
            let inner = self.shared.inner.lock();
            inner.get(key).and_then(|child| {
                let actor_id = child.cell.as_ref()?.get_id().to_string();
                Some((child.path(&self.shared.path), actor_id, child.restarts))
            })
        };
        if let Some((path, actor_id, restarts)) = found {
            let kind = if restarted {
                EventKind::Restarted { actor_id, restarts }
            } else {
                EventKind::Started { actor_id }
            };
            self.record(path, kind);
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panic in start: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panic in start: {s}")
    } else {
        "panic in start".to_string()
    }
}
