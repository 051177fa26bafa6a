//! `arbor ctl store`: the durable store's figures, and its rates over one second.

use serde_json::Value;

use super::render::{pretty, table, text};
use super::Client;

/// `arbor ctl store`: the store's figures, with commits/s and bytes/s over one second.
pub(super) async fn show(client: &Client, json: bool) -> anyhow::Result<String> {
    let first = client.get(&["store"], &[]).await?;
    if json {
        return pretty(&first);
    }
    if first["backend"] == "memory" {
        return Ok("storage.backend is memory: nothing is stored\n".into());
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let v = client.get(&["store"], &[]).await?;
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let last = match n(&v, "last_commit_ms") {
        0 => "never".to_string(),
        ms => humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
            .to_string(),
    };
    let rows = vec![
        vec!["dir".into(), text(&v["dir"])],
        vec!["durability".into(), text(&v["durability"])],
        vec!["size_bytes".into(), n(&v, "size_bytes").to_string()],
        vec!["sessions".into(), n(&v, "sessions").to_string()],
        vec!["messages".into(), n(&v, "messages").to_string()],
        vec!["retained".into(), n(&v, "retained").to_string()],
        vec!["last_commit".into(), last],
        vec!["commits".into(), n(&v, "commits").to_string()],
        vec![
            "commits_per_sec".into(),
            n(&v, "commits").saturating_sub(n(&first, "commits")).to_string(),
        ],
        vec!["bytes_written".into(), n(&v, "bytes_written").to_string()],
        vec![
            "bytes_written_per_sec".into(),
            n(&v, "bytes_written")
                .saturating_sub(n(&first, "bytes_written"))
                .to_string(),
        ],
        vec!["commit_errors".into(), n(&v, "commit_errors").to_string()],
        vec!["cancelled_writes".into(), n(&v, "cancelled").to_string()],
        vec!["recovery_ms".into(), n(&v, "recovery_ms").to_string()],
    ];
    Ok(table(&["NAME", "VALUE"], &rows))
}
