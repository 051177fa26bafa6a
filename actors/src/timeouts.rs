//! Every timeout and pause of the broker's actors, named, in one place.
//!
//! What a user tunes is in the configuration (`mqtt.connect_timeout`, `mqtt.frame_timeout`,
//! keepalive, `session.retry_interval`, `session.await_rel_timeout`, `session.publisher_wait`,
//! `session.expiry_interval`, `sys.interval`). What is left here are the limits one actor puts
//! on waiting for another: none of them is reached while the broker is healthy, and each only
//! bounds how long a caller waits for a peer that is restarting or gone.

use std::time::Duration;

/// A connection waiting on an sm worker to open its session, the pool's restarts included.
pub const SM_CALL: Duration = Duration::from_secs(10);
/// Pause between attempts to reach a singleton (an sm worker, the router) that is restarting.
pub const RESTART_POLL: Duration = Duration::from_millis(50);
/// An sm worker or the admin API waiting on a session (takeover, discard, info).
pub const SESSION_CALL: Duration = Duration::from_secs(5);
/// A connection's reader waiting on its session (QoS 2 receipt, DISCONNECT).
pub const READER_CALL: Duration = Duration::from_secs(10);
/// A session waiting on the router to add or remove a route, its restarts included.
pub const ROUTER_CALL: Duration = Duration::from_secs(5);
/// A publisher waiting for the retainer to store a retained message before its ack.
pub const RETAINER_CALL: Duration = Duration::from_secs(10);

/// The shortest and longest period of a session's retry pass (a quarter of
/// `session.retry_interval`, clamped to these).
pub const SESSION_TICK_MIN: Duration = Duration::from_millis(100);
/// See [`SESSION_TICK_MIN`].
pub const SESSION_TICK_MAX: Duration = Duration::from_secs(5);

/// How often the metrics worker samples the gauges' maxima.
pub const METRICS_TICK: Duration = Duration::from_secs(1);

/// How long an acceptor rests after running out of file descriptors (esockd's 100 ms).
pub const EMFILE_PAUSE: Duration = Duration::from_millis(100);
/// At most one "out of file descriptors" line per acceptor this often.
pub const EMFILE_LOG_EVERY: Duration = Duration::from_secs(5);
/// How long a restarted listener waits for its previous socket to be closed by the acceptors
/// of the previous incarnation, polling every [`LISTENER_POLL`].
pub const LISTENER_OLD_SOCKET: Duration = Duration::from_secs(2);
/// See [`LISTENER_OLD_SOCKET`].
pub const LISTENER_POLL: Duration = Duration::from_millis(2);
/// A rebind right after a restart may find the address still in use: retried this often, at
/// most [`REBIND_ATTEMPTS`] times.
pub const REBIND_RETRY: Duration = Duration::from_millis(25);
/// See [`REBIND_RETRY`].
pub const REBIND_ATTEMPTS: u32 = 40;

/// The retry pass period for `retry_interval`.
pub fn session_tick(retry_interval: Duration) -> Duration {
    (retry_interval / 4).clamp(SESSION_TICK_MIN, SESSION_TICK_MAX)
}
