//! Closes of many connections for one reason are summarised at info and each kept at debug
//! (`arbor_actors::connection::close_log`). Its own test binary: it installs a global subscriber to see the
//! log, and the close log itself is global to the process.

mod common;

use std::fmt::Debug;
use std::time::Duration;

use arbor_actors::connection::close_log::WINDOW;
use common::raw::Raw;
use common::{test_config, TestBroker};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One log event about a close.
#[derive(Debug, Default)]
struct Seen {
    level: Option<Level>,
    message: String,
    reason: String,
    count: Option<u64>,
}

impl Visit for Seen {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "reason" => self.reason = format!("{value:?}"),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "reason" {
            self.reason = value.to_string();
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "count" {
            self.count = Some(value);
        }
    }
}

/// Sends every `connection closed` / `connections closed` event to the test.
struct Capture(UnboundedSender<Seen>);

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut seen = Seen {
            level: Some(*event.metadata().level()),
            ..Seen::default()
        };
        event.record(&mut seen);
        if seen.message.starts_with("connection") {
            let _ = self.0.send(seen);
        }
    }
}

/// 200 silent connections cut by the connect timeout: one info line in full, one info summary
/// counting the other 199 when the window ends, and every one of them at debug.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_closes_are_one_info_line_and_a_summary_each_kept_at_debug() {
    let (tx, mut rx) = unbounded_channel();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture(tx)))
        .expect("the only subscriber of this test binary");
    let mut config = test_config();
    config.mqtt.connect_timeout = Duration::from_millis(300);
    let broker = TestBroker::with_config(config).await;
    const N: u64 = 200;
    let mut silent = Vec::new();
    for _ in 0..N {
        silent.push(Raw::open(broker.mqtt).await);
    }
    let reason = "no CONNECT within connect_timeout";
    let (mut info, mut debug) = (0, 0);
    let summary = tokio::time::timeout(WINDOW + Duration::from_secs(20), async {
        while let Some(seen) = rx.recv().await {
            assert_eq!(seen.reason, reason, "{seen:?}");
            match (seen.level, seen.message.as_str()) {
                (Some(Level::INFO), "connection closed") => info += 1,
                (Some(Level::DEBUG), "connection closed") => debug += 1,
                (Some(Level::INFO), "connections closed") => return seen.count,
                _ => panic!("unexpected {seen:?}"),
            }
        }
        None
    })
    .await
    .expect("a summary within the window");
    assert_eq!(info, 1, "one close in full at info");
    assert_eq!(summary, Some(N - 1), "the others counted in the summary");
    assert_eq!(debug, N - 1, "each of them at debug");
    drop(silent);
}
