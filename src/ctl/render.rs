//! How `arbor ctl` shows the API's JSON to people: aligned tables, `key  value` lists, the tree
//! drawing, RFC 3339 times, `-` for nothing.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

/// `ctl listeners`: one row per listener, its rules joined and refusals as `reason=n`.
pub(super) fn listeners(v: &Value) -> String {
    let rows: Vec<Vec<String>> = items(&v["listeners"])
        .iter()
        .map(|l| {
            let access: Vec<String> = items(&l["access"]).iter().map(text).collect();
            let shutdowns = l["shutdown_counts"]
                .as_object()
                .filter(|counts| !counts.is_empty())
                .map_or_else(
                    || "-".to_string(),
                    |counts| {
                        counts
                            .iter()
                            .map(|(reason, n)| format!("{reason}={n}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    },
                );
            vec![
                text(&l["id"]),
                text(&l["kind"]),
                text(&l["bind"]),
                text(&l["acceptors"]),
                text(&l["current_connections"]),
                text(&l["max_connections"]),
                access.join(", "),
                shutdowns,
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no listeners\n".into();
    }
    let header = [
        "LISTENER",
        "KIND",
        "BIND",
        "ACCEPTORS",
        "CONNECTIONS",
        "MAX",
        "ACCESS",
        "SHUTDOWNS",
    ];
    table(&header, &rows)
}

/// The API's JSON, indented, as `--json` prints it.
pub(super) fn pretty(v: &Value) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(v)?))
}

/// A JSON array's items; nothing for anything else.
pub(super) fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// A JSON object's entries as `[name, value]` rows, in the object's (sorted) order.
pub(super) fn object_rows(v: &Value) -> Vec<Vec<String>> {
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| vec![k.clone(), text(v)]).collect())
        .unwrap_or_default()
}

/// A value as a table cell: strings bare, `null` as `-`.
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Seconds since the Unix epoch as an RFC 3339 time (UTC).
pub(super) fn time(v: &Value) -> String {
    v.as_u64().map_or_else(
        || text(v),
        |secs| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string(),
    )
}

/// `key  value` lines for `keys` of an object, aligned; times shown as RFC 3339.
pub(super) fn fields(v: &Value, keys: &[&str]) -> String {
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for key in keys {
        let value = if key.ends_with("_at") {
            time(&v[*key])
        } else {
            text(&v[*key])
        };
        let _ = writeln!(out, "{key:<width$}  {value}");
    }
    out
}

/// A page of a listing (its items under `key`) as a table, with a footer when it is not the
/// whole list. The API pages `unit`s (clients or sessions); `rows` may hold more lines than
/// items (a session's subscriptions are one row each) or none.
pub(super) fn listing(v: &Value, key: &str, unit: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    let total = v["total"].as_u64().unwrap_or(0);
    let offset = v["offset"].as_u64().unwrap_or(0);
    let shown = items(&v[key]).len() as u64;
    if total == 0 || (rows.is_empty() && shown >= total) {
        return format!("no {key}\n");
    }
    if shown == 0 {
        return format!("no {unit} at offset {offset} ({total} in all)\n");
    }
    let mut out = table(header, rows);
    if shown < total {
        let _ = writeln!(
            out,
            "({}-{} of {total} {unit}; see --offset and --limit)",
            offset.saturating_add(1),
            offset.saturating_add(shown)
        );
    }
    out
}

/// An aligned table: columns two spaces apart, the last one unpadded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = width.saturating_sub(cell.chars().count());
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// Draws one node and its children as a tree:
/// `sm_sup  one_for_all 10/3600s  running  restarts=0  children=2`.
pub fn draw(node: &Value, prefix: &str, child_prefix: &str, out: &mut String) {
    let mut line = text(&node["id"]);
    if let Some(strategy) = node["strategy"].as_str() {
        let _ = write!(
            line,
            "  {strategy} {}/{}s",
            node["max_restarts"], node["max_seconds"]
        );
    } else {
        line.push_str("  worker");
    }
    let _ = write!(line, "  {}  restarts={}", text(&node["status"]), node["restarts"]);
    if let Some(n) = node["child_restarts"].as_u64().filter(|n| *n > 0) {
        let _ = write!(line, "  child_restarts={n}");
    }
    if let Some(count) = node["child_count"].as_u64() {
        let _ = write!(line, "  children={count}");
    }
    if let Some(exit) = node["last_exit"].as_str() {
        let _ = write!(line, "  last_exit=\"{exit}\"");
    }
    let _ = writeln!(out, "{prefix}{line}");
    let children = items(&node["children"]);
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (branch, next) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        draw(
            child,
            &format!("{child_prefix}{branch}"),
            &format!("{child_prefix}{next}"),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_and_leaves_the_last_unpadded() {
        let rows = vec![
            vec!["a".to_string(), "long value".to_string(), "x".to_string()],
            vec!["bbbb".to_string(), "v".to_string(), "yy".to_string()],
        ];
        let out = table(&["K", "VALUE", "Z"], &rows);
        assert_eq!(
            out,
            "K     VALUE       Z\na     long value  x\nbbbb  v           yy\n"
        );
    }

    #[test]
    fn times_are_rfc_3339_and_nulls_a_dash() {
        assert_eq!(time(&json!(0)), "1970-01-01T00:00:00Z");
        assert_eq!(text(&Value::Null), "-");
        assert_eq!(text(&json!("s")), "s");
    }

    #[test]
    fn a_partial_page_says_which_part_it_is() {
        let v = json!({ "total": 3, "offset": 1, "limit": 1, "clients": [{}] });
        let out = listing(
            &v,
            "clients",
            "clients",
            &["CLIENT ID"],
            &[vec!["c2".to_string()]],
        );
        assert_eq!(
            out,
            "CLIENT ID\nc2\n(2-2 of 3 clients; see --offset and --limit)\n"
        );
        let empty = json!({ "total": 0, "offset": 0, "limit": 100, "clients": [] });
        assert_eq!(
            listing(&empty, "clients", "clients", &["CLIENT ID"], &[]),
            "no clients\n"
        );
        let past = json!({ "total": 3, "offset": 9, "limit": 100, "clients": [] });
        let out = listing(&past, "clients", "clients", &["CLIENT ID"], &[]);
        assert_eq!(out, "no clients at offset 9 (3 in all)\n");
    }
}
