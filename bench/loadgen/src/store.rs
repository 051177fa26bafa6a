//! What a broker's durable storage did during the window: arbor's store as its admin API
//! reports it (`GET /api/v1/store` on `--admin`: commits, bytes written, writes cancelled in
//! their batch), and, for any broker whose pid is known, what it made the kernel write to disk
//! (`/proc/<pid>/io`, `write_bytes`). Both are read as the window opens and as it closes.
//!
//! The store's `bytes_written` counts the keys and values committed; the disk figure adds the
//! database's own pages, its log and the file system under it: what the device was given.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clock;
use crate::procstat::disk_write_bytes;
use crate::report::Report;

/// How long one read of the admin API may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Where to read from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Probe {
    /// arbor's admin API (`--admin`).
    pub admin: Option<SocketAddr>,
    /// The broker's pid (`--broker-pid`).
    pub pid: Option<u32>,
}

/// One reading.
#[derive(Clone, Debug, Default)]
pub struct Reading {
    at_ns: u64,
    store: Option<Value>,
    disk: Option<u64>,
    error: Option<String>,
}

impl Probe {
    /// Reads the store's figures and the broker's disk writes now.
    pub async fn read(&self) -> Reading {
        let mut reading = Reading {
            at_ns: clock::now_ns(),
            disk: self.pid.and_then(|pid| disk_write_bytes(pid).ok()),
            ..Reading::default()
        };
        if let Some(admin) = self.admin {
            match get_json(admin, "/api/v1/store").await {
                Ok(store) => reading.store = Some(store),
                Err(e) => reading.error = Some(format!("store API at {admin}: {e:#}")),
            }
        }
        reading
    }
}

/// Fills `extra` with what the store and the disk did between two readings; `messages` is
/// what was published in between (the per-message figures divide by it).
pub fn fill(report: &mut Report, from: &Reading, to: &Reading, messages: u64) {
    for error in [&from.error, &to.error].into_iter().flatten() {
        report.error(error.clone());
    }
    let secs = to.at_ns.saturating_sub(from.at_ns) as f64 / 1e9;
    let rate = |n: u64| {
        if secs > 0.0 {
            (n as f64 / secs).round()
        } else {
            0.0
        }
    };
    let per_msg = |n: u64| {
        if messages > 0 {
            (n as f64 / messages as f64 * 10.0).round() / 10.0
        } else {
            0.0
        }
    };
    if let (Some(a), Some(b)) = (&from.store, &to.store) {
        let delta = |field: &str| {
            let get = |v: &Value| v[field].as_u64().unwrap_or(0);
            get(b).saturating_sub(get(a))
        };
        let (commits, bytes, cancelled) = (delta("commits"), delta("bytes_written"), delta("cancelled"));
        report.set("store_commits", commits);
        report.set("store_commits_per_s", rate(commits));
        report.set("store_bytes_written", bytes);
        report.set("store_bytes_per_s", rate(bytes));
        report.set("store_bytes_per_msg", per_msg(bytes));
        report.set(
            "store_msgs_per_commit",
            if commits > 0 {
                (messages as f64 / commits as f64).round()
            } else {
                0.0
            },
        );
        report.set("store_cancelled", cancelled);
        report.set("store_commit_errors", delta("commit_errors"));
        for field in ["durability", "size_bytes", "sessions", "messages"] {
            report.set(&format!("store_{field}_at_end"), b[field].clone());
        }
    }
    if let (Some(a), Some(b)) = (from.disk, to.disk) {
        let written = b.saturating_sub(a);
        report.set("disk_write_bytes", written);
        report.set("disk_write_bytes_per_s", rate(written));
        report.set("disk_write_bytes_per_msg", per_msg(written));
    }
}

/// `GET path` on a plain HTTP/1.0 server (the admin API), parsed as JSON. HTTP/1.0 so that the
/// answer is the body as it is, not chunked, ending when the server closes.
pub async fn get_json(addr: SocketAddr, path: &str) -> Result<Value> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.context("connect")?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
        stream.write_all(request.as_bytes()).await.context("send")?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.context("read")?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(ADMIN_TIMEOUT, exchange)
        .await
        .context("timed out")??;
    let text = String::from_utf8_lossy(&answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("not an HTTP answer");
    };
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("{status}");
    }
    serde_json::from_str(body)
        .with_context(|| format!("not JSON: {}", body.chars().take(200).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn store_and_disk_figures_are_per_window_second_and_per_message() {
        let reading = |at_s: u64, commits: u64, bytes: u64, disk: u64| Reading {
            at_ns: at_s * 1_000_000_000,
            store: Some(json!({"commits": commits, "bytes_written": bytes, "cancelled": 7,
                "commit_errors": 0, "durability": "sync", "size_bytes": 4096, "sessions": 50, "messages": 3})),
            disk: Some(disk),
            error: None,
        };
        let mut report = Report::default();
        fill(
            &mut report,
            &reading(10, 100, 1_000, 0),
            &reading(20, 1_100, 501_000, 2_000_000),
            1_000,
        );
        assert_eq!(report.extra["store_commits"], json!(1_000));
        assert_eq!(report.extra["store_commits_per_s"], json!(100.0));
        assert_eq!(report.extra["store_bytes_per_s"], json!(50_000.0));
        assert_eq!(report.extra["store_bytes_per_msg"], json!(500.0));
        assert_eq!(report.extra["store_cancelled"], json!(0));
        assert_eq!(report.extra["store_durability_at_end"], json!("sync"));
        assert_eq!(report.extra["disk_write_bytes_per_msg"], json!(2_000.0));
        assert!(report.errors.is_empty());
    }
}
