//! `arbor ctl`: a thin client of the admin API, mirroring emqttd_ctl.
//!
//! Human output is a drawing or an aligned table; `--json` prints the API's JSON. Every failure
//! is one line on stderr and a non-zero exit: 1 when the broker cannot be reached or answers
//! with an error.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use serde_json::Value;

use crate::cli::{CtlArgs, CtlCommand};

/// `arbor ctl …`.
pub fn main(args: CtlArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("arbor ctl: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("arbor ctl: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one ctl command and returns what it prints.
pub async fn run(args: &CtlArgs) -> anyhow::Result<String> {
    let client = Client::new(&args.admin);
    match &args.command {
        CtlCommand::Status => {
            let v = client.get("/api/v1/status", &[]).await?;
            Ok(format!(
                "node      {}\nversion   {}\nuptime    {}s\nbroker    {}\n",
                text(&v["node"]),
                text(&v["version"]),
                v["uptime_secs"],
                text(&v["broker_sup"])
            ))
        }
        CtlCommand::Tree { path, depth, json } => {
            let mut query = Vec::new();
            if let Some(path) = path {
                query.push(("path", path.clone()));
            }
            if let Some(depth) = depth {
                query.push(("depth", depth.to_string()));
            }
            let v = client.get("/api/v1/tree", &query).await?;
            if *json {
                Ok(format!("{}\n", serde_json::to_string_pretty(&v)?))
            } else {
                let mut out = String::new();
                draw(&v, "", "", &mut out);
                Ok(out)
            }
        }
        CtlCommand::Faults { json } => {
            let v = client.get("/api/v1/faults", &[]).await?;
            if *json {
                return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
            }
            let rules = v["rules"].as_array().map(Vec::as_slice).unwrap_or_default();
            if rules.is_empty() {
                return Ok("no fault rules\n".into());
            }
            let width = rules
                .iter()
                .map(|r| text(&r["spec"]).len())
                .max()
                .unwrap_or(0)
                .max(4);
            let mut out = format!("{:<width$}  FIRED\n", "RULE");
            for rule in rules {
                let _ = writeln!(out, "{:<width$}  {}", text(&rule["spec"]), rule["fired"]);
            }
            Ok(out)
        }
        CtlCommand::Kill { path } => action(&client, path, "kill").await,
        CtlCommand::Crash { path } => action(&client, path, "crash").await,
    }
}

async fn action(client: &Client, path: &str, what: &str) -> anyhow::Result<String> {
    let v = client
        .post(&format!("/api/v1/actors/{}/{what}", path.trim_matches('/')))
        .await?;
    Ok(format!(
        "{what}: {} ({})\n",
        text(&v["path"]),
        text(&v["actor_id"])
    ))
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
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
    let children = node["children"].as_array().map(Vec::as_slice).unwrap_or_default();
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

/// An admin API client.
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    /// A client of the API at `base` (a bearer token is taken from `ARBOR_ADMIN_TOKEN`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            token: std::env::var("ARBOR_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base))).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|_| anyhow!("the broker is not running (no admin API at {})", self.base))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .context("the admin API answered with something other than JSON")?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(anyhow!("{} ({status})", text(&body["error"])))
        }
    }
}
