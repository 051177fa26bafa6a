//! The command line: `arbor run` starts the broker (also what a bare `arbor` does, so
//! `cargo run --release` starts it), `arbor ctl` talks to a running broker's admin API,
//! mirroring emqttd_ctl. This module only parses; `main` dispatches.
//!
//! Bad arguments print usage and exit with status 2, clap's default.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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

/// The top-level commands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Start the broker (the default).
    Run(RunArgs),
    /// Query or poke a running broker through its admin API.
    Ctl(CtlArgs),
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

/// `arbor ctl` requests.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CtlCommand {
    /// Show the node's name, version, uptime and whether the broker is running.
    Status,
    /// Print the supervision tree (strategy, intensity, restarts, child counts).
    Tree {
        /// Start at this path instead of the root, e.g. `broker_sup/sm_sup`.
        #[arg(long, value_name = "P")]
        path: Option<String>,
        /// Show at most this many levels below the start.
        #[arg(long, value_name = "D")]
        depth: Option<u32>,
        /// Print JSON instead of a drawing.
        #[arg(long)]
        json: bool,
    },
    /// List the active fault-injection rules and how often each fired.
    Faults {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Kill the actor at a path (no cleanup, as OTP's `kill`).
    Kill {
        /// The actor's path, e.g. `broker_sup/sm_sup/sm/3`.
        path: String,
    },
    /// Make the actor at a path fail, as if its handler had panicked.
    Crash {
        /// The actor's path, e.g. `broker_sup/sm_sup/sm/3`.
        path: String,
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
        ]);
        let Command::Run(args) = parsed else {
            panic!("expected run, got {parsed:?}");
        };
        assert_eq!(args.faults.len(), 2);
        assert_eq!(args.fault_seed, Some(7));
    }

    #[test]
    fn ctl_tree_takes_path_depth_and_json() {
        let parsed = parse(&["ctl", "tree", "--path", "a/b", "--depth", "2", "--json"]);
        let Command::Ctl(ctl) = parsed else {
            panic!("expected ctl, got {parsed:?}");
        };
        assert_eq!(
            ctl.command,
            CtlCommand::Tree {
                path: Some("a/b".into()),
                depth: Some(2),
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
        assert_eq!(ctl.command, CtlCommand::Status);
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

    #[test]
    fn bad_arguments_are_usage_errors_with_status_2() {
        let bad: [&[&str]; 5] = [
            &["ctl"],
            &["ctl", "tree", "--depth", "deep"],
            &["ctl", "kill"],
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
