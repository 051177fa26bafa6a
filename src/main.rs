//! `arbor`: parse the command line, run the broker or the ctl client, map the outcome to an exit
//! status (0 ok, 1 runtime failure, 2 bad usage or configuration).

use std::process::ExitCode;

use arbor::cli::{usage_for, Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version
        Err(err) => {
            let text = err.render().to_string();
            eprint!("{text}");
            if !text.contains("Usage:") {
                eprintln!("\n{}", usage_for(std::env::args_os()));
            }
            return ExitCode::from(2);
        }
    };
    match cli.into_command() {
        Command::Run(args) => arbor::boot::main(args),
        Command::Ctl(args) => arbor::ctl::main(args),
        Command::Passwd(args) => arbor::passwd::main(args),
    }
}
