//! `arbor ctl events [--follow] [--json] [--path P] [--limit N]`: what the supervisors did.
//!
//! Without `--follow`, one `GET /api/v1/events` printed as a table (or its JSON). With it, the
//! last few events and then each new one as it happens, from `GET /api/v1/events/stream`, one
//! line each (one JSON object per line with `--json`, for `jq`), until interrupted. When the
//! stream breaks (the admin worker was restarted, say) it reconnects and resumes after the last
//! event printed, so none is lost or printed twice while the broker keeps them; it gives up
//! once the API has not answered for [`RECONNECT_FOR`].

use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::Value;

use super::render::{items, pretty, table, text};
use super::Client;

/// Past events `--follow` prints before the live ones, unless `--limit` says otherwise.
pub const FOLLOW_BACKLOG: usize = 10;

/// How long `--follow` keeps trying to reconnect before it fails.
pub const RECONNECT_FOR: Duration = Duration::from_secs(10);

/// What `ctl events` was asked for.
#[derive(Debug, Clone)]
pub struct EventsArgs {
    /// Only events at or below this path.
    pub path: Option<String>,
    /// At most this many past events.
    pub limit: Option<usize>,
    /// One JSON object per event (follow) or the API's JSON (list).
    pub json: bool,
}

impl EventsArgs {
    fn query(&self, since: Option<u64>, limit: Option<usize>) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(("since", since.to_string()));
        }
        if let Some(path) = &self.path {
            query.push(("path", path.clone()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        query
    }
}

/// `ctl events` without `--follow`: the kept events as a table, or the API's JSON.
pub(super) async fn list(client: &Client, args: &EventsArgs) -> anyhow::Result<String> {
    let v = client.get(&["events"], &args.query(None, args.limit)).await?;
    if args.json {
        return pretty(&v);
    }
    let rows: Vec<Vec<String>> = items(&v["events"]).iter().map(row).collect();
    if rows.is_empty() {
        return Ok("no events\n".into());
    }
    Ok(table(&["SEQ", "TIME", "EVENT", "PATH", "DETAIL"], &rows))
}

/// `ctl events --follow`: hands each line to `out` (which returns `false` to stop) until the
/// stream cannot be had back within [`RECONNECT_FOR`].
pub async fn follow(
    client: &Client,
    args: &EventsArgs,
    out: &mut (dyn FnMut(String) -> bool + Send),
) -> anyhow::Result<()> {
    let backlog = args.limit.unwrap_or(FOLLOW_BACKLOG);
    let recent = client.get(&["events"], &args.query(None, Some(backlog))).await?;
    for event in items(&recent["events"]) {
        if !out(line(event, args.json)) {
            return Ok(());
        }
    }
    let mut last = recent["last_seq"]
        .as_u64()
        .ok_or_else(|| anyhow!("the admin API sent no `last_seq`"))?;
    let mut failing_since = None;
    loop {
        match stream(client, args, &mut last, out).await {
            Ok(Stop::Asked) => return Ok(()),
            Ok(Stop::Ended) => failing_since = None,
            Err(err) => {
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= RECONNECT_FOR {
                    return Err(err.context("the event stream broke and did not come back"));
                }
            }
        }
        // A short pause, so that a broker that is going away is not asked in a tight loop.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

enum Stop {
    /// `out` asked to stop.
    Asked,
    /// The server closed the stream.
    Ended,
}

/// Reads one connection of the stream, printing each event after `last` and moving `last`.
async fn stream(
    client: &Client,
    args: &EventsArgs,
    last: &mut u64,
    out: &mut (dyn FnMut(String) -> bool + Send),
) -> anyhow::Result<Stop> {
    let url = client.url(&["events", "stream"])?;
    let mut request = client.http.get(url).query(&args.query(Some(*last), None));
    if let Some(token) = &client.token {
        request = request.bearer_auth(token);
    }
    let mut response = request
        .send()
        .await
        .map_err(|_| anyhow!("the broker is not running (no admin API at {})", client.base))?;
    let status = response.status();
    if !status.is_success() {
        let body: Value = response.json().await.unwrap_or_default();
        bail!("{} ({status})", text(&body["error"]));
    }
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let Some(message) = Message::parse(&block) else {
                continue;
            };
            let printed = match message.kind.as_str() {
                "ready" => {
                    // A broker started again numbers its events from 1 (and sends them all).
                    let ready = serde_json::from_str::<Value>(&message.data).unwrap_or_default();
                    if ready["last_seq"].as_u64().is_some_and(|seq| seq < *last) {
                        *last = 0;
                    }
                    true
                }
                "lagged" => {
                    let missed = serde_json::from_str::<Value>(&message.data).unwrap_or_default();
                    out(format!(
                        "(fell behind: {} events not shown; `arbor ctl events --limit N` lists those still kept)",
                        text(&missed["missed"])
                    ))
                }
                _ => {
                    let event: Value = serde_json::from_str(&message.data)?;
                    match event["seq"].as_u64() {
                        Some(seq) if seq <= *last => true,
                        seq => {
                            *last = seq.unwrap_or(*last);
                            out(line(&event, args.json))
                        }
                    }
                }
            };
            if !printed {
                return Ok(Stop::Asked);
            }
        }
    }
    Ok(Stop::Ended)
}

/// One Server-Sent Events message (comments and keep-alives are none).
struct Message {
    kind: String,
    data: String,
}

impl Message {
    fn parse(block: &str) -> Option<Self> {
        let mut kind = "message".to_string();
        let mut data: Option<String> = None;
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                let v = v.strip_prefix(' ').unwrap_or(v);
                match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(v);
                    }
                    None => data = Some(v.to_string()),
                }
            }
        }
        data.map(|data| Self { kind, data })
    }
}

/// An event as the cells of a table row: seq, time, event, path, detail.
fn row(event: &Value) -> Vec<String> {
    let at = event["at_ms"].as_u64().unwrap_or(0);
    let time = humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(at));
    vec![
        text(&event["seq"]),
        time.to_string(),
        text(&event["event"]),
        text(&event["path"]),
        detail(event),
    ]
}

/// What the event says beyond its kind and path.
fn detail(event: &Value) -> String {
    let field = |k: &str| text(&event[k]);
    match event["event"].as_str().unwrap_or_default() {
        "terminated" | "restart_failed" => field("reason"),
        "restarted" => format!("restarts={}", field("restarts")),
        "gave_up" => format!(
            "intensity {}/{}s exceeded by {}: {}",
            field("max_restarts"),
            field("max_seconds"),
            field("child"),
            field("reason")
        ),
        "fault" => format!("{} ({})", field("action"), field("rule")),
        "shut_down" if !event["count"].is_null() => format!("{} children", field("count")),
        _ => String::new(),
    }
}

/// One followed event: its JSON on one line, or its row joined by two spaces.
fn line(event: &Value, json: bool) -> String {
    if json {
        return event.to_string();
    }
    let cells = row(event);
    format!(
        "{:>6}  {}  {:<14}  {}  {}",
        cells[0], cells[1], cells[2], cells[3], cells[4]
    )
    .trim_end()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sse_blocks_parse_and_comments_are_skipped() {
        let m = Message::parse("id: 4\ndata: {\"seq\":4}\n\n").expect("message");
        assert_eq!((m.kind.as_str(), m.data.as_str()), ("message", "{\"seq\":4}"));
        let m = Message::parse("event: lagged\ndata: {\"missed\":3}\n\n").expect("message");
        assert_eq!(m.kind, "lagged");
        assert!(Message::parse(":\n\n").is_none());
    }

    #[test]
    fn lines_show_what_each_event_says() {
        let terminated = json!({"seq": 7, "at_ms": 0, "event": "terminated",
            "path": "broker_sup/sm_sup/sm/0", "reason": "killed", "abnormal": true});
        assert_eq!(
            line(&terminated, false),
            "     7  1970-01-01T00:00:00.000Z  terminated      broker_sup/sm_sup/sm/0  killed"
        );
        assert_eq!(line(&terminated, true), terminated.to_string());
        let gave_up = json!({"event": "gave_up", "child": "a/b", "reason": "killed",
            "max_restarts": 0, "max_seconds": 1});
        assert_eq!(detail(&gave_up), "intensity 0/1s exceeded by a/b: killed");
        let fault = json!({"event": "fault", "action": "kill", "rule": "kill@a:every=1s"});
        assert_eq!(detail(&fault), "kill (kill@a:every=1s)");
        assert_eq!(detail(&json!({"event": "shut_down", "count": 3})), "3 children");
        assert_eq!(detail(&json!({"event": "shut_down"})), "");
    }
}
