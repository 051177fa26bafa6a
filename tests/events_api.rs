//! The supervisors' events over the admin API: `GET /api/v1/events` (recent, JSON) and
//! `GET /api/v1/events/stream` (Server-Sent Events), their filters and resumption, the bearer
//! token on both, and `arbor ctl events`.

mod common;

use std::time::Duration;

use arbor::cli::CtlCommand;
use arbor_actors::config::Secret;
use common::{test_config, TestBroker};
use serde_json::Value;

/// A Server-Sent Events reader over a streaming response.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

/// One SSE message: its `event` type (`message` when none is given), `id` and `data`.
#[derive(Debug)]
struct Message {
    kind: String,
    id: Option<String>,
    data: String,
}

impl SseReader {
    async fn open(url: &str, token: Option<&str>, last_event_id: Option<u64>) -> Self {
        let mut request = reqwest::Client::new().get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("stream answers");
        assert_eq!(response.status(), 200, "{url}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next message (comments and the opening `ready` skipped), within 10 s.
    async fn next(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut message = Message {
                        kind: "message".into(),
                        id: None,
                        data: String::new(),
                    };
                    let mut any = false;
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            message.kind = v.trim().into();
                            any = true;
                        } else if let Some(v) = line.strip_prefix("id:") {
                            message.id = Some(v.trim().into());
                        } else if let Some(v) = line.strip_prefix("data:") {
                            message.data.push_str(v.trim_start());
                            any = true;
                        }
                    }
                    if any && message.kind != "ready" {
                        return message;
                    }
                    continue;
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .expect("stream readable")
                    .expect("stream still open");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an SSE message within 10 s")
    }

    /// Events (as JSON) up to and including the one `event path`.
    async fn until(&mut self, last: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let message = self.next().await;
            assert_eq!(message.kind, "message", "{message:?}");
            let event: Value = serde_json::from_str(&message.data).expect("event JSON");
            assert_eq!(message.id.as_deref(), Some(event["seq"].to_string().as_str()));
            let done = brief(&event) == last;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

/// `event path`, relative to broker_sup.
fn brief(event: &Value) -> String {
    let path = event["path"].as_str().unwrap_or_default();
    format!(
        "{} {}",
        event["event"].as_str().unwrap_or_default(),
        path.strip_prefix("broker_sup/").unwrap_or(path)
    )
}

fn briefs(events: &[Value]) -> Vec<String> {
    events.iter().map(brief).collect()
}

async fn get(url: &str, token: Option<&str>) -> (reqwest::StatusCode, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("admin API answers");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

async fn events(broker: &TestBroker, query: &str) -> Value {
    let (status, body) = get(&format!("{}/api/v1/events{query}", broker.admin), None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

/// The sm pool's one_for_all restart, as the sm_sup restart after `kill sm/0` reads.
const SM_RESTART: [&str; 8] = [
    "terminated sm_sup/sm/0",
    "shut_down sm_sup/sm/3",
    "shut_down sm_sup/sm/2",
    "shut_down sm_sup/sm/1",
    "restarted sm_sup/sm/0",
    "restarted sm_sup/sm/1",
    "restarted sm_sup/sm/2",
    "restarted sm_sup/sm/3",
];

#[tokio::test]
async fn a_kill_streams_terminated_then_restarted_in_order() {
    let broker = TestBroker::start().await;
    let start = events(&broker, "").await;
    let started = briefs(start["events"].as_array().unwrap());
    for child in ["sm_sup/sm/0", "sm_sup", "admin", "listeners_sup"] {
        assert!(started.contains(&format!("started {child}")), "{started:?}");
    }
    assert_eq!(started.last().map(String::as_str), Some("started broker_sup"));
    assert_eq!(start["capacity"], 1000);
    let before = start["last_seq"].as_u64().unwrap();

    let url = format!("{}/api/v1/events/stream", broker.admin);
    let mut stream = SseReader::open(&url, None, None).await;
    let mut sm_only = SseReader::open(&format!("{url}?path=broker_sup/sm_sup"), None, None).await;
    broker.kill("sm_sup/sm/0").await;
    let seen = stream.until("restarted sm_sup/sm/3").await;
    assert_eq!(briefs(&seen), SM_RESTART);
    assert_eq!(seen[0]["reason"], "killed");
    assert_eq!(seen[0]["abnormal"], true);
    assert_eq!(seen[0]["supervisor"], "broker_sup/sm_sup");
    assert_eq!(seen[4]["restarts"], 1);
    assert_eq!(seen[0]["seq"], before + 1);
    assert_eq!(briefs(&sm_only.until("restarted sm_sup/sm/3").await), SM_RESTART);

    // The same events from the list, filtered by path; and from a stream that resumes.
    let listed = events(&broker, &format!("?since={before}&path=broker_sup/sm_sup/")).await;
    assert_eq!(briefs(listed["events"].as_array().unwrap()), SM_RESTART);
    let last = events(&broker, &format!("?since={before}&limit=1")).await;
    assert_eq!(briefs(last["events"].as_array().unwrap()), [SM_RESTART[7]]);
    let mut resumed = SseReader::open(&url, None, Some(before + 4)).await;
    assert_eq!(
        briefs(&resumed.until("restarted sm_sup/sm/3").await),
        SM_RESTART[4..]
    );
    let mut from_query = SseReader::open(&format!("{url}?since={before}"), None, None).await;
    assert_eq!(
        briefs(&from_query.until("restarted sm_sup/sm/3").await),
        SM_RESTART
    );

    // A client from an earlier run of the broker (numbers past the last) gets every kept event.
    let mut earlier = SseReader::open(&format!("{url}?since=999999"), None, None).await;
    assert_eq!(
        brief(&earlier.until("started broker_sup").await.remove(0)),
        "started metrics"
    );

    let (status, body) = get(&format!("{}/api/v1/events?since=x", broker.admin), None).await;
    assert_eq!(status, 400, "{body}");
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn events_and_their_stream_take_the_token_in_the_header_only() {
    let mut config = test_config();
    config.admin.token = Some("s3cret".parse::<Secret>().expect("token"));
    let broker = TestBroker::with_config(config).await;
    let list = format!("{}/api/v1/events", broker.admin);
    let stream = format!("{}/api/v1/events/stream", broker.admin);
    for url in [
        list.clone(),
        stream.clone(),
        format!("{stream}?token=s3cret"),
        format!("{stream}?access_token=s3cret"),
        format!("{list}?token=s3cret"),
    ] {
        for token in [None, Some("wrong")] {
            let (status, body) = get(&url, token).await;
            assert_eq!(status, 401, "{url} with {token:?}: {body}");
        }
    }
    let (status, body) = get(&list, Some("s3cret")).await;
    assert_eq!(status, 200, "{body}");
    let mut live = SseReader::open(&format!("{stream}?since=0"), Some("s3cret"), None).await;
    assert!(live.until("started broker_sup").await.len() > 1);
    broker.handle.shutdown().await;
}

/// Waits (on the tree's own event broadcast) for `event path`, relative to broker_sup.
async fn recorded(
    live: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<arbor_supervisors::Event>>,
    want: &str,
) {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match live.recv().await {
                Ok(event) => {
                    let path = event.path.strip_prefix("broker_sup/").unwrap_or(&event.path);
                    if format!("{} {path}", event.kind.name()) == want {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event log closed: {e}"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "timed out waiting for event `{want}`");
}

#[tokio::test]
async fn ctl_events_prints_a_table_or_the_json() {
    let broker = TestBroker::start().await;
    let log = broker.handle.root.events().clone();
    let mut live = log.subscribe(log.last_seq()).live;
    broker.kill("sm_sup/sm/1").await;
    recorded(&mut live, "restarted sm_sup/sm/3").await;
    let table = broker
        .ctl(CtlCommand::Events {
            follow: false,
            json: false,
            path: Some("broker_sup/sm_sup".into()),
            limit: None,
        })
        .await
        .expect("ctl events");
    let header = table.lines().next().unwrap_or_default();
    assert!(header.starts_with("SEQ") && header.contains("EVENT"), "{table}");
    assert!(
        table.lines().any(|l| l.contains("terminated")
            && l.contains("broker_sup/sm_sup/sm/1")
            && l.contains("killed")),
        "{table}"
    );
    assert!(!table.contains("listeners_sup"), "filtered by path: {table}");
    let json: Value = serde_json::from_str(
        &broker
            .ctl(CtlCommand::Events {
                follow: false,
                json: true,
                path: None,
                limit: Some(2),
            })
            .await
            .expect("ctl events --json"),
    )
    .expect("JSON");
    assert_eq!(json["events"].as_array().map(Vec::len), Some(2), "{json}");
    broker.handle.shutdown().await;
}

/// The next line `ctl events --follow --json` printed, as JSON.
async fn next(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(10), lines.recv())
        .await
        .expect("a line within 10 s")
        .expect("follow still running");
    serde_json::from_str(&line).expect("one JSON object per line")
}

#[tokio::test]
async fn ctl_events_follow_prints_new_events_as_they_happen() {
    let broker = TestBroker::start().await;
    let args = arbor::cli::CtlArgs {
        admin: broker.admin.clone(),
        command: CtlCommand::Events {
            follow: true,
            json: true,
            path: Some("broker_sup/sm_sup".into()),
            limit: Some(1),
        },
    };
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let follower = tokio::spawn(async move {
        let mut out = move |line: String| lines_tx.send(line).is_ok();
        arbor::ctl::follow(&args, &mut out).await
    });
    // The one past event asked for (sm_sup's own start), then the kill's, live.
    assert_eq!(brief(&next(&mut lines).await), "started sm_sup");
    broker.kill("sm_sup/sm/2").await;
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("restarted sm_sup/sm/3") {
        seen.push(brief(&next(&mut lines).await));
    }
    assert_eq!(seen[0], "terminated sm_sup/sm/2");
    assert_eq!(seen.len(), 8, "{seen:?}");
    follower.abort();
    broker.handle.shutdown().await;
}
