//! The tree's event stream: what every supervisor did, as a ring of recent events and a live
//! broadcast.
//!
//! OTP's supervisors report to the logger: a progress report when a child starts,
//! `child_terminated` when one dies, `start_error` when a restart fails and
//! `reached_max_restart_intensity` when the supervisor gives up. Logs are for people reading a
//! file after the fact; a dashboard or `arbor ctl events --follow` needs the same facts as data,
//! in order, while they happen. So each supervisor also records them here, one [`Events`] per
//! tree, shared by every supervisor in it (a child supervisor gets its parent's through its
//! [`crate::StartCtx`]). Fault-injection firings are recorded too, so a timeline shows the cause
//! next to the cure.
//!
//! What is recorded ([`EventKind`]):
//! - `started`: a static child started (OTP's progress report). A dynamic child's start is not
//!   recorded, as OTP reports none for `simple_one_for_one` children: a server may start one
//!   for every peer it serves.
//! - `terminated`: a child ended on its own: every end of a static child, and an abnormal end
//!   of a dynamic one (a peer's child ending normally is routine; one that crashed is not).
//! - `restarted`: the strategy started a child again (each child of a one_for_all group is one).
//! - `restart_failed`: a restart's start failed; the supervisor tries again by a message to
//!   itself, and each attempt that fails is another event.
//! - `shut_down`: the supervisor stopped a child (a sibling's one_for_all restart, an
//!   administrative terminate, its own shutdown). Dynamic children stopped all at once are one
//!   event on the supervisor's path with their `count`.
//! - `gave_up`: the restart intensity was exceeded; the supervisor stops its children and exits,
//!   so its parent sees it end (escalation) and records that as `terminated`.
//! - `fault`: a fault-injection rule fired.
//!
//! Costs. Every event gets a sequence number and goes into a ring of the last `capacity`
//! ([`DEFAULT_CAPACITY`], changeable at run time); the ring and the numbering share one short
//! lock, never held across an `.await`. The broadcast costs a receiver count when nobody
//! listens. A listener that falls more than [`BROADCAST_CAPACITY`] events behind loses the
//! oldest and is told how many (tokio's `Lagged`); it can catch up from the ring by sequence
//! number, which is what the admin API's stream does for a reconnecting page.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept by a new tree.
pub const DEFAULT_CAPACITY: usize = 1000;

/// Events a live listener may fall behind before it loses the oldest.
pub const BROADCAST_CAPACITY: usize = 1024;

/// One thing a supervisor did (or a fault rule that fired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Position in the tree's stream: 1 for the first event, one more for each next one.
    pub seq: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The supervisor that did it (none for a fault firing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<String>,
    /// The path it is about: the child (or the supervisor itself for `gave_up` and for a
    /// `shut_down` with a `count`).
    pub path: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened, with what is known about it (JSON: an `event` field names the variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A static child started (its first start, or an administrative `restart_child`).
    Started {
        /// The actor id of the new incarnation.
        actor_id: String,
    },
    /// A child ended without its supervisor asking.
    Terminated {
        /// Why (`killed`, `normal`, `shutdown: …`, a panic message).
        reason: String,
        /// Killed or failed, as opposed to normal or shutdown.
        abnormal: bool,
    },
    /// The restart strategy started a child again.
    Restarted {
        /// The actor id of the new incarnation.
        actor_id: String,
        /// How many times this child has now been restarted.
        restarts: u64,
    },
    /// A restart's start failed; the supervisor will try again.
    RestartFailed {
        /// The start error.
        reason: String,
    },
    /// The supervisor stopped the child.
    ShutDown {
        /// Set when the supervisor stopped this many dynamic children at once (the path is then
        /// the supervisor's).
        #[serde(skip_serializing_if = "Option::is_none")]
        count: Option<usize>,
    },
    /// The supervisor exceeded its restart intensity and exits, escalating to its parent.
    GaveUp {
        /// The child whose end was one restart too many.
        child: String,
        /// How that child ended.
        reason: String,
        /// The intensity: restarts allowed …
        max_restarts: u32,
        /// … within this many seconds.
        max_seconds: u64,
    },
    /// A fault-injection rule fired at the path.
    Fault {
        /// `panic`, `kill`, `stop` or `delay=<ms>`.
        action: String,
        /// The rule as given.
        rule: String,
    },
}

impl EventKind {
    /// The name the JSON and the command line use (`restart_failed`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Started { .. } => "started",
            Self::Terminated { .. } => "terminated",
            Self::Restarted { .. } => "restarted",
            Self::RestartFailed { .. } => "restart_failed",
            Self::ShutDown { .. } => "shut_down",
            Self::GaveUp { .. } => "gave_up",
            Self::Fault { .. } => "fault",
        }
    }
}

impl Event {
    /// Whether the event's path is `prefix` or below it (whole segments: `a/b` is under `a`, not
    /// under `a/` nor `a/bc`). An empty prefix takes everything.
    pub fn is_under(&self, prefix: &str) -> bool {
        let prefix = prefix.trim_end_matches('/');
        prefix.is_empty()
            || self
                .path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// A tree's event log: cheap to clone, shared by all its supervisors.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Shared>,
}

struct Shared {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Event>>,
}

struct Ring {
    /// The sequence number of the next event.
    next_seq: u64,
    /// Most events kept.
    capacity: usize,
    events: VecDeque<Arc<Event>>,
}

/// A new listener: the kept events it asked for, then everything after them.
pub struct Subscription {
    /// Kept events after the sequence number asked for, oldest first.
    pub backlog: Vec<Arc<Event>>,
    /// Every event recorded after the backlog, in order, none twice.
    pub live: broadcast::Receiver<Arc<Event>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.inner.ring.lock();
        f.debug_struct("Events")
            .field("capacity", &ring.capacity)
            .field("kept", &ring.events.len())
            .field("next_seq", &ring.next_seq)
            .finish()
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Events {
    /// A log keeping the last `capacity` events (0 keeps none; the broadcast still works).
    pub fn new(capacity: usize) -> Self {
        let (live, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            inner: Arc::new(Shared {
                ring: Mutex::new(Ring {
                    next_seq: 1,
                    capacity,
                    events: VecDeque::with_capacity(capacity.min(DEFAULT_CAPACITY)),
                }),
                live,
            }),
        }
    }

    /// Most events kept.
    pub fn capacity(&self) -> usize {
        self.inner.ring.lock().capacity
    }

    /// Keeps at most `capacity` events from now on (the oldest go first).
    pub fn set_capacity(&self, capacity: usize) {
        let mut ring = self.inner.ring.lock();
        ring.capacity = capacity;
        let excess = ring.events.len().saturating_sub(capacity);
        ring.events.drain(..excess);
    }

    /// The sequence number of the latest event (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.inner.ring.lock().next_seq - 1
    }

    /// The kept events numbered after `after`, oldest first (`0` for all of them).
    pub fn since(&self, after: u64) -> Vec<Arc<Event>> {
        kept_after(&self.inner.ring.lock(), after)
    }

    /// Starts listening: the kept events after `after` and a receiver of all later ones, taken
    /// together so that nothing falls between them.
    pub fn subscribe(&self, after: u64) -> Subscription {
        let ring = self.inner.ring.lock();
        // Events are sent while the ring is locked, so none is both in the backlog and live.
        let live = self.inner.live.subscribe();
        Subscription {
            backlog: kept_after(&ring, after),
            live,
        }
    }

    /// Records an event; returns its sequence number.
    pub(crate) fn record(&self, supervisor: Option<&str>, path: String, kind: EventKind) -> u64 {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut ring = self.inner.ring.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let event = Arc::new(Event {
            seq,
            at_ms,
            supervisor: supervisor.map(str::to_string),
            path,
            kind,
        });
        if ring.capacity > 0 {
            if ring.events.len() >= ring.capacity {
                ring.events.pop_front();
            }
            ring.events.push_back(event.clone());
        }
        if self.inner.live.receiver_count() > 0 {
            let _ = self.inner.live.send(event);
        }
        seq
    }
}

fn kept_after(ring: &Ring, after: u64) -> Vec<Arc<Event>> {
    // Kept events are numbered consecutively, so the first wanted one is found by arithmetic.
    let first = ring.events.front().map_or(0, |e| e.seq);
    let skip = usize::try_from((after + 1).saturating_sub(first)).unwrap_or(usize::MAX);
    ring.events.iter().skip(skip).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(events: &Events, path: &str) -> u64 {
        events.record(
            Some("sup"),
            path.into(),
            EventKind::Started {
                actor_id: "0.1".into(),
            },
        )
    }

    #[test]
    fn the_ring_keeps_the_last_n_numbered_in_order() {
        let events = Events::new(3);
        for i in 0..5 {
            assert_eq!(started(&events, &format!("sup/c{i}")), i + 1);
        }
        let seqs: Vec<u64> = events.since(0).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
        let seqs: Vec<u64> = events.since(4).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [5]);
        assert!(events.since(5).is_empty());
        assert_eq!(events.last_seq(), 5);
        events.set_capacity(1);
        assert_eq!(events.since(0).len(), 1);
        events.set_capacity(0);
        started(&events, "sup/c5");
        assert!(events.since(0).is_empty());
        assert_eq!(events.last_seq(), 6);
    }

    #[tokio::test]
    async fn a_subscription_gets_the_backlog_then_live_events_once() {
        let events = Events::new(10);
        started(&events, "sup/a");
        started(&events, "sup/b");
        let mut sub = events.subscribe(1);
        started(&events, "sup/c");
        let backlog: Vec<&str> = sub.backlog.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(backlog, ["sup/b"]);
        let live = sub.live.recv().await.expect("live event");
        assert_eq!((live.seq, live.path.as_str()), (3, "sup/c"));
    }

    #[test]
    fn json_names_the_event_and_flattens_its_fields() {
        let events = Events::new(10);
        events.record(
            Some("a"),
            "a/b".into(),
            EventKind::Terminated {
                reason: "killed".into(),
                abnormal: true,
            },
        );
        let json = serde_json::to_value(&*events.since(0)[0]).expect("json");
        assert_eq!(json["event"], "terminated");
        assert_eq!(json["reason"], "killed");
        assert_eq!(json["abnormal"], true);
        assert_eq!(json["supervisor"], "a");
        assert_eq!(json["path"], "a/b");
        assert_eq!(json["seq"], 1);
        assert!(json["at_ms"].as_u64().is_some_and(|ms| ms > 0));
    }

    #[test]
    fn path_prefixes_match_whole_segments() {
        let events = Events::new(10);
        started(&events, "a/bc/d");
        let event = &events.since(0)[0];
        assert!(event.is_under(""));
        assert!(event.is_under("a"));
        assert!(event.is_under("a/bc"));
        assert!(event.is_under("a/bc/"));
        assert!(event.is_under("a/bc/d"));
        assert!(!event.is_under("a/b"));
        assert!(!event.is_under("a/bc/d/e"));
    }
}
