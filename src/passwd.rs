//! `arbor passwd [-c] [--scram [--iterations N]] FILE USER`: adds or updates a user in a
//! password file (as `mosquitto_passwd` does), hashing with argon2id, or with `--scram` writing
//! a SCRAM-SHA-256 entry (PBKDF2-HMAC-SHA256, 4096 iterations and a random 16-byte salt by
//! default) that serves MQTT 5's SCRAM-SHA-256 enhanced authentication as well as plain
//! passwords; see `arbor_actors::auth::passwd` for the formats. The password comes from a prompt
//! that does not echo, or with `--password-stdin` from the first line of standard input.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Options of `arbor passwd`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct PasswdArgs {
    /// Create the file (replacing it if it exists) instead of updating it.
    #[arg(short = 'c')]
    pub create: bool,
    /// Read the password from the first line of standard input instead of a prompt.
    #[arg(long)]
    pub password_stdin: bool,
    /// Write a SCRAM-SHA-256 entry (MQTT 5 enhanced authentication and plain passwords; the
    /// password must be printable ASCII) instead of an argon2id hash.
    #[arg(long)]
    pub scram: bool,
    /// PBKDF2 iterations of a SCRAM-SHA-256 entry (at least 4096).
    #[arg(long, requires = "scram", default_value_t = arbor_actors::auth::scram::DEFAULT_ITERATIONS)]
    pub iterations: u32,
    /// The password file.
    pub file: PathBuf,
    /// The user to add or update.
    pub user: String,
}

/// Runs `arbor passwd`.
pub fn main(args: PasswdArgs) -> ExitCode {
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("arbor passwd: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &PasswdArgs) -> Result<(), String> {
    if args.user.is_empty() || args.user.contains(':') {
        return Err(format!(
            "user name `{}` must be non-empty and without `:`",
            args.user
        ));
    }
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first =
            rpassword::prompt_password("Password: ").map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Reenter password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("passwords do not match".into());
        }
        first
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    let existing = if args.create {
        String::new()
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| format!("cannot read {}: {e} (use -c to create it)", args.file.display()))?
    };
    // The file must stay loadable: refuse to add to one that is already malformed.
    arbor_actors::auth::passwd::PasswordFile::parse(&existing, &args.file).map_err(|e| e.to_string())?;
    let hash = if args.scram {
        arbor_actors::auth::passwd::hash_scram(password.as_bytes(), args.iterations)?
    } else {
        arbor_actors::auth::passwd::hash_password(password.as_bytes())?
    };
    let text = arbor_actors::auth::passwd::upsert(&existing, &args.user, &hash);
    std::fs::write(&args.file, text).map_err(|e| format!("cannot write {}: {e}", args.file.display()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn passwd(args: &[&str]) -> Result<super::PasswdArgs, clap::Error> {
        let cli = Cli::try_parse_from(["arbor", "passwd"].iter().chain(args))?;
        match cli.into_command() {
            Command::Passwd(args) => Ok(args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scram_takes_iterations_and_argon2id_stays_the_default() {
        let plain = passwd(&["f", "u"]).unwrap();
        assert!(!plain.scram);
        let scram = passwd(&["--scram", "f", "u"]).unwrap();
        assert!(scram.scram && scram.iterations == 4096);
        assert_eq!(
            passwd(&["--scram", "--iterations", "10000", "f", "u"])
                .unwrap()
                .iterations,
            10000
        );
        assert!(
            passwd(&["--iterations", "10000", "f", "u"]).is_err(),
            "--iterations needs --scram"
        );
    }
}
