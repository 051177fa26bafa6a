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
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("arbor").chain(args.iter().copied()))
            .expect("arguments parse")
            .into_command()
    }

    fn run(config: Option<&str>) -> Command {
        Command::Run(RunArgs {
            config: config.map(PathBuf::from),
            faults: Vec::new(),
            fault_seed: None,
            events_kept: 1000,
        })
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_runs_the_broker() {
        assert_eq!(parse(&[]), run(None));
        assert_eq!(parse(&["-c", "x.toml"]), run(Some("x.toml")));
    }

    #[test]
    fn run_takes_a_config_file_and_faults() {
        assert_eq!(parse(&["run", "-c", "x"]), run(Some("x")));
        let parsed = parse(&[
            "run",
            "--fault",
            "panic@broker_sup/sm_sup/sm/*:after=100",
            "--fault",
            "kill@**/session/*:p=0.001",
            "--fault-seed",
            "7",
            "--events-kept",
            "50",
        ]);
        let Command::Run(args) = parsed else {
            panic!("expected run, got {parsed:?}");
        };
        assert_eq!(args.faults.len(), 2);
        assert_eq!(args.fault_seed, Some(7));
        assert_eq!(args.events_kept, 50);
    }

    #[test]
    fn ctl_tree_takes_path_depth_and_json() {
        let parsed = parse(&[
            "ctl",
            "tree",
            "--path",
            "a/b",
            "--depth",
            "2",
            "--children",
            "--json",
        ]);
        let Command::Ctl(ctl) = parsed else {
            panic!("expected ctl, got {parsed:?}");
        };
        assert_eq!(
            ctl.command,
            CtlCommand::Tree {
                path: Some("a/b".into()),
                depth: Some(2),
                children: true,
                json: true
            }
        );
    }

    #[test]
    fn ctl_admin_url_is_an_option_before_the_request() {
        let parsed = parse(&["ctl", "--admin", "http://x:1", "status"]);
        let Command::Ctl(ctl) = parsed else {
            panic!("expected ctl, got {parsed:?}");
        };
        assert_eq!(ctl.admin, "http://x:1");
        assert_eq!(ctl.command, CtlCommand::Status { json: false });
        let kill = parse(&["ctl", "--admin", "http://x:1", "kill", "broker_sup/sm_sup/sm/3"]);
        assert!(matches!(
            kill,
            Command::Ctl(CtlArgs {
                command: CtlCommand::Kill { .. },
                ..
            })
        ));
    }

    #[test]
    fn ctl_admin_defaults_to_loopback_and_reads_arbor_admin() {
        // Checked on the definition, not by parsing, so the test's own environment (which
        // may set ARBOR_ADMIN) cannot change the outcome.
        let cli = Cli::command();
        let ctl = cli.find_subcommand("ctl").expect("ctl");
        let admin = ctl
            .get_arguments()
            .find(|arg| arg.get_id() == "admin")
            .expect("--admin");
        assert_eq!(admin.get_default_values(), ["http://127.0.0.1:18083"]);
        assert_eq!(admin.get_env(), Some(std::ffi::OsStr::new("ARBOR_ADMIN")));
    }

    fn ctl(args: &[&str]) -> CtlCommand {
        let all: Vec<&str> = std::iter::once("ctl").chain(args.iter().copied()).collect();
        match parse(&all) {
            Command::Ctl(ctl) => ctl.command,
            other => panic!("expected ctl, got {other:?}"),
        }
    }

    #[test]
    fn ctl_listings_take_paging_filters_and_json() {
        assert_eq!(
            ctl(&[
                "clients",
                "list",
                "--limit",
                "5",
                "--client-id",
                "dev-",
                "--peer",
                "10.",
                "--json"
            ]),
            CtlCommand::Clients(ClientsCommand::List {
                page: PageArgs {
                    limit: Some(5),
                    offset: None,
                    client_id: Some("dev-".into()),
                    json: true,
                },
                username: None,
                peer: Some("10.".into()),
            })
        );
        assert_eq!(
            ctl(&["sessions", "show", "c1"]),
            CtlCommand::Sessions(SessionsCommand::Show {
                client_id: "c1".into(),
                json: false
            })
        );
        assert_eq!(ctl(&["routes", "--json"]), CtlCommand::Routes { json: true });
        assert_eq!(
            ctl(&["events", "-f", "--path", "broker_sup/sm_sup", "--json"]),
            CtlCommand::Events {
                follow: true,
                path: Some("broker_sup/sm_sup".into()),
                limit: None,
                json: true
            }
        );
        assert_eq!(ctl(&["stats"]), CtlCommand::Stats { json: false });
    }

    #[test]
    fn ctl_subscriptions_add_and_del_take_client_filter_and_qos() {
        assert_eq!(
            ctl(&["subscriptions", "add", "c1", "a/+/#", "2"]),
            CtlCommand::Subscriptions(SubscriptionsCommand::Add {
                client_id: "c1".into(),
                filter: "a/+/#".into(),
                qos: 2
            })
        );
        assert_eq!(
            ctl(&["subscriptions", "del", "c1", "a/+/#"]),
            CtlCommand::Subscriptions(SubscriptionsCommand::Del {
                client_id: "c1".into(),
                filter: "a/+/#".into()
            })
        );
    }

    /// Every command of `arbor ctl` that runs (the words that name it): the leaves, and
    /// `listeners`, whose subcommand is optional.
    fn ctl_leaves() -> Vec<Vec<String>> {
        fn walk(command: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
            let subs: Vec<&clap::Command> = command
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .collect();
            if subs.is_empty() || !command.is_subcommand_required_set() {
                out.push(path.clone());
            }
            for sub in subs {
                let mut deeper = path.clone();
                deeper.push(sub.get_name().to_string());
                walk(sub, deeper, out);
            }
        }
        let cli = Cli::command();
        let ctl = cli.find_subcommand("ctl").expect("ctl");
        let mut out = Vec::new();
        for sub in ctl.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, vec![sub.get_name().to_string()], &mut out);
        }
        out
    }

    #[test]
    fn every_ctl_command_that_prints_data_takes_json() {
        // Commands that change something print one line; allow/deny print the rules (and take
        // --json, from `listeners`), but are not held to it.
        const CHANGERS: [&str; 9] = [
            "clients kick",
            "subscriptions add",
            "subscriptions del",
            "acl reload",
            "kill",
            "crash",
            "listeners allow",
            "listeners deny",
            "listeners reload",
        ];
        let mut cli = Cli::command();
        cli.build();
        let ctl_command = cli.find_subcommand("ctl").expect("ctl").clone();
        let leaves = ctl_leaves();
        assert!(leaves.len() >= 20, "{leaves:?}");
        for leaf in leaves {
            let name = leaf.join(" ");
            if CHANGERS.contains(&name.as_str()) {
                continue;
            }
            let mut command = &ctl_command;
            for word in &leaf {
                command = command.find_subcommand(word).expect("a leaf's path");
            }
            // Each positional gets a value every parser accepts (`1` is a QoS, an id, a path).
            let mut args = vec!["arbor".to_string(), "ctl".to_string()];
            args.extend(leaf.iter().cloned());
            args.extend(command.get_positionals().map(|_| "1".to_string()));
            args.push("--json".into());
            let parsed = Cli::try_parse_from(&args);
            assert!(
                parsed.is_ok(),
                "`{}` rejects --json: {:?}",
                args.join(" "),
                parsed.err()
            );
        }
        for (args, json) in [
            (&["ctl", "status", "--json"][..], true),
            (&["ctl", "listeners", "rules", "tcp", "--json"], true),
            (&["ctl", "listeners", "--json", "rules", "tcp"], true),
            (&["ctl", "listeners", "rules", "tcp"], false),
        ] {
            let parsed = ctl(args.get(1..).expect("ctl words"));
            let got = match parsed {
                CtlCommand::Status { json } | CtlCommand::Listeners { json, .. } => json,
                other => panic!("{args:?} parsed as {other:?}"),
            };
            assert_eq!(got, json, "{args:?}");
        }
    }

    #[test]
    fn a_usage_error_shows_the_subcommands_usage() {
        let usage = |args: &[&str]| usage_for(std::iter::once("arbor").chain(args.iter().copied()));
        assert_eq!(
            usage(&["ctl", "subscriptions", "add", "c1", "a", "3"]),
            "Usage: arbor ctl subscriptions add <CLIENT_ID> <FILTER> <QOS>"
        );
        assert_eq!(
            usage(&["ctl", "--admin", "http://x", "tree", "--depth", "x"]),
            "Usage: arbor ctl tree [OPTIONS]"
        );
        // A client id that happens to be a command's name is not taken for one.
        assert_eq!(
            usage(&["ctl", "clients", "show", "kick", "--bad"]),
            "Usage: arbor ctl clients show [OPTIONS] <CLIENT_ID>"
        );
        assert!(usage(&["--bogus"]).starts_with("Usage: arbor [OPTIONS]"));
    }

    #[test]
    fn an_empty_actor_path_is_refused_by_name() {
        for args in [&["ctl", "kill", ""][..], &["ctl", "crash", "/"]] {
            let err = Cli::try_parse_from(std::iter::once("arbor").chain(args.iter().copied()))
                .expect_err("an empty path");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("the path is empty"), "{err}");
        }
        assert_eq!(
            ctl(&["kill", "/broker_sup/sm_sup/"]),
            CtlCommand::Kill {
                path: "broker_sup/sm_sup".into()
            }
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors_with_status_2() {
        let bad: [&[&str]; 9] = [
            &["ctl"],
            &["ctl", "tree", "--depth", "deep"],
            &["ctl", "kill"],
            &["ctl", "clients"],
            &["ctl", "clients", "show"],
            &["ctl", "subscriptions", "add", "c1", "a", "3"],
            &["ctl", "clients", "list", "--limit", "-1"],
            &["run", "--fault-seed", "-1"],
            &["-c", "x", "ctl", "status"],
        ];
        for args in bad {
            let err = Cli::try_parse_from(std::iter::once("arbor").chain(args.iter().copied()))
                .expect_err("should be rejected");
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }
}
