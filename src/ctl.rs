//! `arbor ctl`: a thin client of the admin API, mirroring emqttd_ctl.
//!
//! Human output is a drawing or an aligned table; `--json` prints the API's JSON. Every failure
//! is one line on stderr and a non-zero exit: 1 when the broker cannot be reached or answers
//! with an error (the API's `error` text and the HTTP status). Path segments (client ids, topic
//! filters) are percent-encoded here, so ids with `/`, `#` or spaces reach the API intact.

mod events;
mod render;
mod store;

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use serde_json::{json, Value};

use render::{fields, items, listeners, listing, object_rows, pretty, text, time};

pub use events::{EventsArgs, FOLLOW_BACKLOG, RECONNECT_FOR};
pub use render::{draw, table};

use crate::cli::{
    AclCommand, ClientsCommand, CtlArgs, CtlCommand, ListenersCommand, PageArgs, SessionsCommand,
    SubscriptionsCommand,
};

/// `arbor ctl …`.
pub fn main(args: CtlArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("arbor ctl: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match &args.command {
        CtlCommand::Events { follow: true, .. } => {
            let mut print = |line: String| {
                use std::io::Write as _;
                // A closed stdout (`| head`) ends the command.
                writeln!(std::io::stdout(), "{line}").is_ok()
            };
            runtime
                .block_on(follow(&args, &mut print))
                .map(|()| String::new())
        }
        _ => runtime.block_on(run(&args)),
    };
    match outcome {
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

/// `ctl events --follow`: hands each line to `out` (which returns `false` to stop) until the
/// stream breaks for good. Any other command is an error here.
pub async fn follow(args: &CtlArgs, out: &mut (dyn FnMut(String) -> bool + Send)) -> anyhow::Result<()> {
    match &args.command {
        CtlCommand::Events {
            path, limit, json, ..
        } => {
            let events = EventsArgs {
                path: path.clone(),
                limit: *limit,
                json: *json,
            };
            events::follow(&Client::new(&args.admin), &events, out).await
        }
        other => Err(anyhow!("{other:?} does not stream")),
    }
}

/// Runs one ctl command and returns what it prints (`events --follow` prints through
/// [`follow`]: here it lists the kept events only).
pub async fn run(args: &CtlArgs) -> anyhow::Result<String> {
    let client = Client::new(&args.admin);
    match &args.command {
        CtlCommand::Status { json } => {
            let v = client.get(&["status"], &[]).await?;
            if *json {
                return pretty(&v);
            }
            Ok(format!(
                "node      {}\nversion   {}\nuptime    {}s\nbroker    {}\n",
                text(&v["node"]),
                text(&v["version"]),
                v["uptime_secs"],
                text(&v["broker_sup"])
            ))
        }
        CtlCommand::Tree {
            path,
            depth,
            children,
            json,
        } => {
            let mut query = Vec::new();
            if *children {
                query.push(("children", "all".to_string()));
            }
            if let Some(path) = path {
                query.push(("path", path.clone()));
            }
            if let Some(depth) = depth {
                query.push(("depth", depth.to_string()));
            }
            let v = client.get(&["tree"], &query).await?;
            if *json {
                pretty(&v)
            } else {
                let mut out = String::new();
                draw(&v, "", "", &mut out);
                Ok(out)
            }
        }
        CtlCommand::Stats { json } | CtlCommand::Metrics { json } => {
            let endpoint = if matches!(args.command, CtlCommand::Stats { .. }) {
                "stats"
            } else {
                "metrics"
            };
            let v = client.get(&[endpoint], &[]).await?;
            if *json {
                return pretty(&v);
            }
            let rows = object_rows(&v);
            Ok(table(&["NAME", "VALUE"], &rows))
        }
        CtlCommand::Store { json } => store::show(&client, *json).await,
        CtlCommand::Clients(command) => clients(&client, command).await,
        CtlCommand::Sessions(command) => sessions(&client, command).await,
        CtlCommand::Routes { json } => {
            let v = client.get(&["routes"], &[]).await?;
            if *json {
                return pretty(&v);
            }
            let rows: Vec<Vec<String>> = items(&v["routes"])
                .iter()
                .map(|r| vec![text(&r["topic"]), text(&r["subscribers"])])
                .collect();
            if rows.is_empty() {
                return Ok("no routes\n".into());
            }
            Ok(table(&["TOPIC", "SUBSCRIBERS"], &rows))
        }
        CtlCommand::Subscriptions(command) => subscriptions(&client, command).await,
        CtlCommand::Listeners {
            action: Some(action),
            json,
        } => {
            let (name, v) = match action {
                ListenersCommand::Reload => {
                    let v = client.post(&["listeners", "reload"], None).await?;
                    let ids: Vec<String> = items(&v["reloaded"]).iter().map(text).collect();
                    return Ok(format!("certificates reloaded: {}\n", ids.join(", ")));
                }
                ListenersCommand::Rules { listener } => (
                    listener,
                    client.get(&["listeners", listener, "rules"], &[]).await?,
                ),
                ListenersCommand::Allow { listener, cidr } | ListenersCommand::Deny { listener, cidr } => {
                    let word = if matches!(action, ListenersCommand::Allow { .. }) {
                        "allow"
                    } else {
                        "deny"
                    };
                    let body = json!({ "rule": format!("{word} {cidr}") });
                    (
                        listener,
                        client
                            .post(&["listeners", listener, "rules"], Some(&body))
                            .await?,
                    )
                }
            };
            if *json {
                return pretty(&v);
            }
            let rules: Vec<String> = items(&v["rules"]).iter().map(text).collect();
            Ok(format!(
                "{} ({name})\n{}\n",
                text(&v["listener"]),
                rules
                    .iter()
                    .map(|r| format!("  {r}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ))
        }
        CtlCommand::Acl {
            action: AclCommand::Reload,
        } => {
            client.post(&["acl", "reload"], None).await?;
            Ok("access control reloaded\n".into())
        }
        CtlCommand::Listeners { action: None, json } => {
            let v = client.get(&["listeners"], &[]).await?;
            if *json {
                return pretty(&v);
            }
            Ok(listeners(&v))
        }
        CtlCommand::Faults { json } => {
            let v = client.get(&["faults"], &[]).await?;
            if *json {
                return pretty(&v);
            }
            let rows: Vec<Vec<String>> = items(&v["rules"])
                .iter()
                .map(|r| vec![text(&r["spec"]), text(&r["fired"])])
                .collect();
            if rows.is_empty() {
                return Ok("no fault rules\n".into());
            }
            Ok(table(&["RULE", "FIRED"], &rows))
        }
        CtlCommand::Events {
            path, limit, json, ..
        } => {
            let events = EventsArgs {
                path: path.clone(),
                limit: *limit,
                json: *json,
            };
            events::list(&client, &events).await
        }
        CtlCommand::Kill { path } => action(&client, path, "kill").await,
        CtlCommand::Crash { path } => action(&client, path, "crash").await,
    }
}

async fn action(client: &Client, path: &str, what: &str) -> anyhow::Result<String> {
    let path = path.trim_matches('/');
    if path.is_empty() {
        return Err(anyhow!(
            "the path is empty: give an actor's path, e.g. broker_sup/sm_sup/sm/0"
        ));
    }
    let mut segments = vec!["actors"];
    segments.extend(path.split('/'));
    segments.push(what);
    let v = client.post(&segments, None).await?;
    Ok(format!(
        "{what}: {} ({})\n",
        text(&v["path"]),
        text(&v["actor_id"])
    ))
}

async fn clients(client: &Client, command: &ClientsCommand) -> anyhow::Result<String> {
    match command {
        ClientsCommand::List { page, username, peer } => {
            let mut query = page_query(page);
            if let Some(username) = username {
                query.push(("username", username.clone()));
            }
            if let Some(peer) = peer {
                query.push(("peer", peer.clone()));
            }
            let v = client.get(&["clients"], &query).await?;
            if page.json {
                return pretty(&v);
            }
            let rows: Vec<Vec<String>> = items(&v["clients"])
                .iter()
                .map(|c| {
                    vec![
                        text(&c["client_id"]),
                        text(&c["username"]),
                        text(&c["peer"]),
                        text(&c["protocol_level"]),
                        text(&c["keepalive"]),
                        text(&c["clean_session"]),
                        time(&c["connected_at"]),
                    ]
                })
                .collect();
            let header = [
                "CLIENT ID",
                "USERNAME",
                "PEER",
                "PROTOCOL",
                "KEEPALIVE",
                "CLEAN",
                "CONNECTED AT",
            ];
            Ok(listing(&v, "clients", "clients", &header, &rows))
        }
        ClientsCommand::Show { client_id, json } => {
            let v = client.get(&["clients", client_id], &[]).await?;
            if *json {
                return pretty(&v);
            }
            let keys = [
                "client_id",
                "username",
                "peer",
                "protocol_level",
                "keepalive",
                "clean_session",
                "session_expiry",
                "receive_maximum",
                "topic_alias_maximum",
                "connected_at",
                "inflight",
                "max_inflight",
                "mqueue_len",
                "mqueue_dropped",
                "awaiting_rel",
                "subscriptions",
                "path",
            ];
            Ok(fields(&v, &keys))
        }
        ClientsCommand::Kick { client_id } => {
            client.delete(&["clients", client_id]).await?;
            Ok(format!("kicked {client_id}\n"))
        }
    }
}

async fn sessions(client: &Client, command: &SessionsCommand) -> anyhow::Result<String> {
    match command {
        SessionsCommand::List { page } => {
            let v = client.get(&["sessions"], &page_query(page)).await?;
            if page.json {
                return pretty(&v);
            }
            let rows: Vec<Vec<String>> = items(&v["sessions"])
                .iter()
                .map(|s| {
                    vec![
                        text(&s["client_id"]),
                        text(&s["clean_session"]),
                        text(&s["connected"]),
                        s["subscriptions"]
                            .as_array()
                            .map_or_else(|| "-".to_string(), |a| a.len().to_string()),
                        text(&s["inflight"]),
                        text(&s["mqueue_len"]),
                        text(&s["mqueue_dropped"]),
                        text(&s["awaiting_rel"]),
                        time(&s["created_at"]),
                    ]
                })
                .collect();
            let header = [
                "CLIENT ID",
                "CLEAN",
                "CONNECTED",
                "SUBSCRIPTIONS",
                "INFLIGHT",
                "MQUEUE",
                "DROPPED",
                "AWAITING REL",
                "CREATED AT",
            ];
            let mut out = listing(&v, "sessions", "sessions", &header, &rows);
            for session in items(&v["sessions"]) {
                if let Some(error) = session["error"].as_str() {
                    let _ = writeln!(out, "{}: {error}", text(&session["client_id"]));
                }
            }
            Ok(out)
        }
        SessionsCommand::Show { client_id, json } => {
            let v = client.get(&["sessions", client_id], &[]).await?;
            if *json {
                return pretty(&v);
            }
            let keys = [
                "client_id",
                "clean_session",
                "connected",
                "inflight",
                "max_inflight",
                "mqueue_len",
                "mqueue_dropped",
                "awaiting_rel",
                "created_at",
                "expiry_interval",
                "protocol_level",
                "receive_maximum",
                "topic_alias_maximum",
                "maximum_packet_size",
            ];
            let mut out = fields(&v, &keys);
            let subs = items(&v["subscriptions"]);
            if subs.is_empty() {
                out.push_str("subscriptions    none\n");
            } else {
                out.push_str("subscriptions\n");
                let rows: Vec<Vec<String>> = subs
                    .iter()
                    .map(|s| vec![format!("  {}", text(&s["topic"])), text(&s["qos"])])
                    .collect();
                out.push_str(&table(&["  TOPIC", "QOS"], &rows));
            }
            Ok(out)
        }
    }
}

async fn subscriptions(client: &Client, command: &SubscriptionsCommand) -> anyhow::Result<String> {
    match command {
        SubscriptionsCommand::List { page } => {
            let v = client.get(&["subscriptions"], &page_query(page)).await?;
            if page.json {
                return pretty(&v);
            }
            let mut rows = Vec::new();
            for entry in items(&v["subscriptions"]) {
                for sub in items(&entry["subscriptions"]) {
                    rows.push(vec![
                        text(&entry["client_id"]),
                        text(&sub["topic"]),
                        text(&sub["qos"]),
                    ]);
                }
                if let Some(error) = entry["error"].as_str() {
                    rows.push(vec![text(&entry["client_id"]), format!("({error})"), "-".into()]);
                }
            }
            let header = ["CLIENT ID", "TOPIC", "QOS"];
            Ok(listing(&v, "subscriptions", "sessions", &header, &rows))
        }
        SubscriptionsCommand::Show { client_id, json } => {
            let v = client.get(&["subscriptions", client_id], &[]).await?;
            if *json {
                return pretty(&v);
            }
            let rows: Vec<Vec<String>> = items(&v["subscriptions"])
                .iter()
                .map(|s| vec![text(&s["topic"]), text(&s["qos"])])
                .collect();
            if rows.is_empty() {
                return Ok(format!("{client_id} has no subscriptions\n"));
            }
            Ok(table(&["TOPIC", "QOS"], &rows))
        }
        SubscriptionsCommand::Add {
            client_id,
            filter,
            qos,
        } => {
            let body = json!({ "topic": filter, "qos": qos });
            let v = client.post(&["subscriptions", client_id], Some(&body)).await?;
            Ok(format!(
                "subscribed {client_id} to {filter} (qos {})\n",
                text(&v["qos"])
            ))
        }
        SubscriptionsCommand::Del { client_id, filter } => {
            client.delete(&["subscriptions", client_id, filter]).await?;
            Ok(format!("unsubscribed {client_id} from {filter}\n"))
        }
    }
}

fn page_query(page: &PageArgs) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(limit) = page.limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(offset) = page.offset {
        query.push(("offset", offset.to_string()));
    }
    if let Some(prefix) = &page.client_id {
        query.push(("client_id", prefix.clone()));
    }
    query
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

    /// `<base>/api/v1/<segments>`, each segment percent-encoded as one path segment.
    fn url(&self, segments: &[&str]) -> anyhow::Result<reqwest::Url> {
        let bad = || anyhow!("the admin URL `{}` is not a valid http URL", self.base);
        let mut url = reqwest::Url::parse(&self.base).map_err(|_| bad())?;
        url.path_segments_mut()
            .map_err(|_| bad())?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        Ok(url)
    }

    async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        let url = self.url(segments)?;
        self.send(self.http.get(url).query(query)).await
    }

    async fn post(&self, segments: &[&str], body: Option<&Value>) -> anyhow::Result<Value> {
        let mut request = self.http.post(self.url(segments)?);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    async fn delete(&self, segments: &[&str]) -> anyhow::Result<Value> {
        let url = self.url(segments)?;
        self.send(self.http.delete(url)).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_segments_are_percent_encoded() {
        let client = Client::new("http://127.0.0.1:18083/");
        let url = client.url(&["subscriptions", "a/b c", "x/+/#"]).expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:18083/api/v1/subscriptions/a%2Fb%20c/x%2F+%2F%23"
        );
    }
}
