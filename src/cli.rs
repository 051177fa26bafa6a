//! The command line: `arbor run` starts the broker (also what a bare `arbor` does, so
//! `cargo run --release` starts it), `arbor ctl` talks to a running broker's admin API,
//! mirroring emqttd_ctl. This module only parses; `main` dispatches.
//!
//! Bad arguments print usage and exit with status 2, clap's default; the usage is that of the
//! subcommand the arguments named ([`usage_for`]), not the top-level one.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// `arbor [run options] | arbor run [options] | arbor ctl [--admin URL] <command>`
#[derive(Debug, Parser)]
#[command(
    name = "arbor",
    version,
    about = "An MQTT broker built as an OTP-style supervision tree"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; none means `run`.
    #[command(subcommand)]
    command: Option<Command>,
    /// `run`'s options, accepted without the word `run`.
    #[command(flatten)]
    run: RunArgs,
}

impl Cli {
    /// The command to carry out: a bare `arbor [options]` is `arbor run [options]`.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Run(self.run))
    }
}

/// The usage line of the deepest subcommand `args` (the whole command line, program name
/// first) name, as clap prints it: `Usage: arbor ctl subscriptions add <CLIENT_ID> …`.
pub fn usage_for<I, T>(args: I) -> String
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut cli = Cli::command();
    // Gives every subcommand its full name (`arbor ctl tree`) for its usage line.
    cli.build();
    let mut command = &cli;
    for arg in args.into_iter().skip(1) {
        let arg: OsString = arg.into();
        if let Some(sub) = arg.to_str().and_then(|name| command.find_subcommand(name)) {
            command = sub;
        }
    }
    command.clone().render_usage().to_string()
}

/// A `ctl kill`/`ctl crash` path: not empty once its outer `/` are trimmed.
fn actor_path(path: &str) -> Result<String, String> {
    let path = path.trim_matches('/');
    if path.is_empty() {
        return Err("the path is empty: give an actor's path, e.g. broker_sup/sm_sup/sm/0".into());
    }
    Ok(path.to_string())
}

/// The top-level commands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Start the broker (the default).
    Run(RunArgs),
    /// Query or poke a running broker through its admin API.
    Ctl(CtlArgs),
    /// Add or update a user in a password file (argon2id, or SCRAM-SHA-256 with --scram), like
    /// mosquitto_passwd.
    Passwd(crate::passwd::PasswdArgs),
}

/// Options of `arbor run`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RunArgs {
    /// A TOML file layered over the built-in defaults (then ARBOR__SECTION__KEY variables).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Inject a fault, e.g. `panic@broker_sup/sm_sup/sm/*:after=100` (repeatable).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Seed for probabilistic fault triggers (`p=`), so a run can be repeated.
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
    /// How many of the supervisors' latest events to keep for `GET /api/v1/events`, the
    /// dashboard's timeline and `arbor ctl events`.
    #[arg(long, value_name = "N", default_value_t = arbor_supervisors::events::DEFAULT_CAPACITY)]
    pub events_kept: usize,
}

/// Options of `arbor ctl`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CtlArgs {
    /// The admin API's base URL.
    #[arg(
        long,
        value_name = "URL",
        env = "ARBOR_ADMIN",
        default_value = "http://127.0.0.1:18083"
    )]
    pub admin: String,
    /// The request to make.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// `arbor ctl` requests. Every command that prints data takes `--json` to print the API's JSON
/// instead of a table; commands that change something print one line.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CtlCommand {
    /// Show the node's name, version, uptime and whether the broker is running.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the supervision tree (strategy, intensity, restarts, child counts).
    Tree {
        /// Start at this path instead of the root, e.g. `broker_sup/sm_sup`.
        #[arg(long, value_name = "P")]
        path: Option<String>,
        /// Show at most this many levels below the start.
        #[arg(long, value_name = "D")]
        depth: Option<u32>,
        /// List the children of every dynamic supervisor (acceptors, connections, sessions),
        /// at most 1000 each.
        #[arg(long)]
        children: bool,
        /// Print JSON instead of a drawing.
        #[arg(long)]
        json: bool,
    },
    /// Show the broker's gauges: connections, sessions, topics, subscriptions, retained, with
    /// their maxima.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show the broker's counters: bytes, packets (by type), messages, auth failures, refusals.
    Metrics {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show the durable store: size, sessions, messages, last commit, commits/s, bytes written.
    Store {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List, show or kick connected clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// List or show sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// List topic filters and their number of subscribers.
    Routes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List, show, add or delete subscriptions.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// List the listeners: address, acceptors, connections, access rules, refusals; or show and
    /// change one listener's access rules.
    Listeners {
        /// What to do with one listener's rules (none: list the listeners).
        #[command(subcommand)]
        action: Option<ListenersCommand>,
        /// Print JSON instead of a table (also after `rules`, `allow`, `deny`).
        #[arg(long, global = true)]
        json: bool,
    },
    /// Access control: `acl reload` re-reads the password file and ACL.
    Acl {
        /// What to do.
        #[command(subcommand)]
        action: AclCommand,
    },
    /// List the active fault-injection rules and how often each fired.
    Faults {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show what the supervisors did: starts, exits, restarts, failed restarts, shutdowns, giving
    /// up, and fault firings, oldest first.
    Events {
        /// Keep printing new events as they happen, until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Only events at or below this path, e.g. `broker_sup/sm_sup`.
        #[arg(long, value_name = "P")]
        path: Option<String>,
        /// Show at most this many past events, the newest (default: all kept; with `--follow`,
        /// 10).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Print JSON: the API's, or with `--follow` one object per line.
        #[arg(long)]
        json: bool,
    },
    /// Kill the actor at a path (no cleanup, as OTP's `kill`).
    Kill {
        /// The actor's path, e.g. `broker_sup/sm_sup/sm/3`.
        #[arg(value_parser = actor_path)]
        path: String,
    },
    /// Make the actor at a path fail, as if its handler had panicked.
    Crash {
        /// The actor's path, e.g. `broker_sup/sm_sup/sm/3`.
        #[arg(value_parser = actor_path)]
        path: String,
    },
}

/// Which page of a listing to fetch, and which entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct PageArgs {
    /// At most this many entries (the API serves at most 1000 at once; default 100).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Skip this many entries first.
    #[arg(long, value_name = "N")]
    pub offset: Option<usize>,
    /// Only client ids starting with this.
    #[arg(long, value_name = "PREFIX")]
    pub client_id: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `arbor ctl clients …`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ClientsCommand {
    /// List connected clients, sorted by client id.
    List {
        /// Paging, client id prefix and `--json`.
        #[command(flatten)]
        page: PageArgs,
        /// Only clients that connected with this user name.
        #[arg(long, value_name = "NAME")]
        username: Option<String>,
        /// Only peers whose `ip:port` starts with this, e.g. `10.1.`.
        #[arg(long, value_name = "PREFIX")]
        peer: Option<String>,
    },
    /// Show one client: peer, protocol, keepalive, session figures.
    Show {
        /// The client id.
        client_id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disconnect a client (a persistent session stays).
    Kick {
        /// The client id.
        client_id: String,
    },
}

/// `arbor ctl sessions …`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, sorted by client id.
    List {
        /// Paging, client id prefix and `--json`.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one session: subscriptions, inflight, queue, awaiting PUBREL, expiry.
    Show {
        /// The client id.
        client_id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `arbor ctl listeners rules|allow|deny …` (esockd's access rules at run time).
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ListenersCommand {
    /// Show a listener's rules, first match first.
    Rules {
        /// The listener's config name (`tcp`) or id (`mqtt:tcp:0.0.0.0:1883`).
        listener: String,
    },
    /// Allow an address or CIDR (checked before the existing rules).
    Allow {
        /// The listener.
        listener: String,
        /// `10.0.0.0/8`, `::1` or `all`.
        cidr: String,
    },
    /// Deny an address or CIDR (checked before the existing rules).
    Deny {
        /// The listener.
        listener: String,
        /// `10.0.0.0/8`, `::1` or `all`.
        cidr: String,
    },
    /// Re-read every TLS listener's certificate and key files; connections stay up.
    Reload,
}

/// `arbor ctl acl …`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AclCommand {
    /// Re-read the password file and ACL without dropping connections.
    Reload,
}

/// `arbor ctl subscriptions …`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SubscriptionsCommand {
    /// List every session's subscriptions.
    List {
        /// Paging, client id prefix and `--json`.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one client's subscriptions.
    Show {
        /// The client id.
        client_id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Subscribe a client's session to a topic filter, as its own SUBSCRIBE would.
    Add {
        /// The client id.
        client_id: String,
        /// The topic filter, e.g. `sensors/+/temp`.
        filter: String,
        /// The QoS: 0, 1 or 2.
        #[arg(value_parser = clap::value_parser!(u8).range(0..=2))]
        qos: u8,
    },
    /// Remove one of a client's subscriptions.
    Del {
        /// The client id.
        client_id: String,
        /// The topic filter, exactly as subscribed.
        filter: String,
    },
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
