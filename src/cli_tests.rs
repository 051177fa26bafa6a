//! The command line's parsing: every subcommand, its flags and its usage errors.

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
