//! The binary as a user runs it: signals, exit codes, config and usage errors.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn arbor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arbor"));
    cmd.env_remove("RUST_LOG")
        .env("ARBOR__LISTENERS__TCP__BIND", "127.0.0.1:0")
        .env("ARBOR__ADMIN__BIND", "127.0.0.1:0")
        .env("ARBOR__STORAGE__BACKEND", "memory")
        .env("NO_COLOR", "1");
    cmd
}

/// SIGTERM stops the tree in order and exits 0.
#[test]
fn sigterm_stops_the_tree_and_exits_zero() {
    let mut child = arbor()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn arbor");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(20)).ok())
        .any(|l| l.contains("arbor started"));
    assert!(started, "broker did not log that it started");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let status = wait_with_timeout(&mut child, Duration::from_secs(12));
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("stopping the tree")), "{rest:?}");
}

/// A config error names the key and its source and exits 2.
#[test]
fn bad_config_names_the_key_and_exits_two() {
    let out = arbor().env("ARBOR__SM__POOL_SIZE", "four").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sm.pool_size") && err.contains("ARBOR__SM__POOL_SIZE"),
        "{err}"
    );

    let out = arbor().env("ARBOR__SM__POOL_SIZE", "-1").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "arbor: invalid value for `sm.pool_size` in environment variable ARBOR__SM__POOL_SIZE: \
         expected a non-negative integer, found -1"
    );

    let dir = std::env::temp_dir().join(format!("arbor-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[listeners.tcp]\nbnd = \"x\"\n").unwrap();
    let out = arbor().args(["run", "-c"]).arg(&file).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("listeners.tcp.bnd") && err.contains(&file.display().to_string()),
        "{err}"
    );
}

/// A TLS listener whose key file is not a key stops the boot with one line naming the file,
/// exit 2, as a config error does.
#[test]
fn a_bad_certificate_file_names_the_file_and_exits_two() {
    let dir = std::env::temp_dir().join(format!("arbor-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("server.key");
    std::fs::write(&key, "not a key\n").unwrap();
    let file = dir.join("tls.toml");
    let config = format!(
        "[listeners.ssl]\nkind = \"tls\"\nbind = \"127.0.0.1:0\"\nacceptors = 1\nmax_connections = 10\n\
         access = []\nrate_limit = \"\"\nproxy_protocol = false\n[listeners.ssl.tls]\ncertfile = {key:?}\nkeyfile = {key:?}\n\
         cacertfile = \"\"\nverify = \"none\"\nfail_if_no_peer_cert = false\nversions = [\"tlsv1.3\"]\n\
         ciphers = []\npeer_cert_as_username = \"\"\n"
    );
    std::fs::write(&file, config).unwrap();
    let out = arbor().args(["run", "-c"]).arg(&file).output().expect("run");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("listeners.ssl.tls") && err.contains(&key.display().to_string()),
        "{err}"
    );
}

/// Bad arguments print the usage of the subcommand they were for (not the top-level one) and
/// exit 2.
#[test]
fn bad_arguments_print_usage() {
    for (args, usage) in [
        (
            &["ctl", "tree", "--depth", "x"][..],
            "Usage: arbor ctl tree [OPTIONS]",
        ),
        (
            &["ctl", "subscriptions", "add", "c1", "a", "3"],
            "Usage: arbor ctl subscriptions add <CLIENT_ID> <FILTER> <QOS>",
        ),
        (&["ctl", "status", "--bogus"], "Usage: arbor ctl status [OPTIONS]"),
    ] {
        let out = arbor().args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(usage), "{args:?}: {stderr}");
        assert!(!stderr.contains("arbor <COMMAND>"), "{args:?}: {stderr}");
    }
}

/// ctl against no broker: one line, exit 1.
#[test]
fn ctl_without_a_broker_says_so() {
    let out = arbor()
        .args(["ctl", "--admin", "http://127.0.0.1:9", "tree"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not running"), "{err}");
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("arbor did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Beyond broker_sup's intensity (0 in 1) the process ends with a non-zero status and a line
/// naming the supervisor and the last failure; `--fault` drives it.
#[test]
fn broker_sup_giving_up_exits_non_zero_naming_the_failure() {
    let mut child = arbor()
        .args(["run", "--fault", "kill@broker_sup/sm_sup:every=300ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn arbor");
    let status = wait_with_timeout(&mut child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).unwrap();
    assert!(err.contains("broker_sup gave up"), "{err}");
    assert!(
        err.contains("reached_max_restart_intensity") && err.contains("broker_sup/sm_sup: killed"),
        "{err}"
    );
}

/// A fault rule whose glob matches no actor at start is accepted (the broker runs) and warned
/// about once, naming the rule; a rule that matches is not.
#[test]
fn a_fault_rule_matching_no_actor_at_start_is_warned_about_once() {
    let (_, stderr) = run_until_started(arbor().args([
        "run",
        "--fault",
        "kill@broker_sup/no_such_sup/*:every=1h",
        "--fault",
        "delay=1@broker_sup/sys:after=1000",
    ]));
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("matches no actor"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains(" WARN ") && warnings[0].contains("rule=kill@broker_sup/no_such_sup/*:every=1h"),
        "{}",
        warnings[0]
    );
}

/// A duration without a unit is refused alike in a fault rule and in the config: `every=2`
/// could mean 2 ms or 2 s, so neither guesses (status 2, naming the value).
#[test]
fn a_duration_needs_a_unit_in_fault_rules_as_in_the_config() {
    let out = arbor()
        .args(["run", "--fault", "kill@broker_sup/sm_sup:every=2"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`kill@broker_sup/sm_sup:every=2`") && err.contains("needs a unit"),
        "{err}"
    );
    let out = arbor()
        .env("ARBOR__MQTT__CONNECT_TIMEOUT", "2")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mqtt.connect_timeout"), "{err}");
}

/// A bad fault spec is refused at startup with the spec and the problem, status 2.
#[test]
fn bad_fault_spec_is_refused() {
    let out = arbor()
        .args(["run", "--fault", "kill@x:p=1.5"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`kill@x:p=1.5`") && err.contains("between 0 and 1"),
        "{err}"
    );
}

/// Starts `arbor` with `args`, every line of stdout and stderr arriving on one channel.
fn spawn_with_lines(cmd: &mut Command) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn arbor");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits (up to 20 s) for a line matching `want`, keeping every line seen in `seen`.
fn wait_for_line(
    rx: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else { break };
        seen.push(line.clone());
        if want(&line) {
            return line;
        }
    }
    panic!("no line for: {what}; saw:\n{}", seen.join("\n"));
}

/// The value of `key=` in a log line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
}

/// An injected panic (`--fault panic@…`) logs one line with its path and rule and a `ctl crash`
/// one line with its path (beside the supervisor's own `child_terminated` report); neither
/// prints a panic message or a backtrace, even with `RUST_BACKTRACE=1` (real panics keep
/// theirs: see `tests/panic_hook.rs`).
#[test]
fn injected_faults_log_one_line_and_no_backtrace() {
    let (mut child, rx) = spawn_with_lines(
        arbor()
            .args(["run", "--fault", "panic@broker_sup/sys:after=1"])
            .env("RUST_BACKTRACE", "1")
            .env("ARBOR__SYS__INTERVAL", "100ms")
            // broker_sup restarts everything once instead of giving up.
            .env("ARBOR__SUPERVISORS__BROKER_SUP__MAX_RESTARTS", "10")
            .env("ARBOR__SUPERVISORS__BROKER_SUP__MAX_SECONDS", "60"),
    );
    let mut seen = Vec::new();
    wait_for_line(&rx, &mut seen, "broker_sup reacting to the panic of sys", |l| {
        l.contains("child_terminated") && l.contains("child=broker_sup/sys ")
    });
    // After the restart, the admin API (on port 0) has a new address.
    let admin = wait_for_line(&rx, &mut seen, "the admin API listening again", |l| {
        l.contains("admin API listening")
    });
    let admin = format!("http://{}", field(&admin, "addr"));
    let crashed = arbor()
        .args(["ctl", "--admin", &admin, "crash", "broker_sup/sm_sup/sm/0"])
        .output()
        .expect("run arbor ctl");
    assert!(crashed.status.success(), "{crashed:?}");
    wait_for_line(&rx, &mut seen, "sm_sup reacting to the crash", |l| {
        l.contains("child_terminated") && l.contains("child=broker_sup/sm_sup/sm/0 ")
    });
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success());
    assert_eq!(
        wait_with_timeout(&mut child, Duration::from_secs(12)).code(),
        Some(0)
    );
    seen.extend(rx.try_iter());
    let all = seen.join("\n");
    for noise in ["panicked at", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!all.contains(noise), "`{noise}` printed:\n{all}");
    }
    let fault: Vec<&String> = seen.iter().filter(|l| l.contains("injected fault ")).collect();
    assert_eq!(fault.len(), 1, "{all}");
    assert!(
        fault[0].contains("path=broker_sup/sys ") && fault[0].contains("rule=panic@broker_sup/sys:after=1"),
        "{}",
        fault[0]
    );
    let crash: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains(" crashed through the admin API path="))
        .collect();
    assert_eq!(crash.len(), 1, "{all}");
    assert!(crash[0].contains("path=broker_sup/sm_sup/sm/0"), "{}", crash[0]);
}

/// Runs `arbor` until it logs that it started, then stops it with SIGTERM; returns what it
/// wrote to stdout and to stderr.
fn run_until_started(cmd: &mut Command) -> (String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn arbor");
    let mut stdout = child.stdout.take().expect("stdout");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut err = Vec::new();
    wait_for_line(&rx, &mut err, "arbor started", |l| l.contains("arbor started"));
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success());
    assert_eq!(
        wait_with_timeout(&mut child, Duration::from_secs(12)).code(),
        Some(0)
    );
    let stdout = out.join().expect("stdout reader");
    // The reader thread ends at EOF, which the exit has caused.
    err.extend(rx.iter());
    (stdout, err.join("\n"))
}

/// Logs go to stderr, and with stderr not a terminal (here a pipe) they hold no ANSI colour
/// codes, unless asked for with `CLICOLOR_FORCE`; `log.format = "json"` is one JSON object per
/// line.
#[test]
fn logs_go_to_stderr_with_colour_only_when_asked() {
    let plain = || {
        let mut cmd = arbor();
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        cmd
    };
    let (stdout, stderr) = run_until_started(&mut plain());
    assert_eq!(stdout, "", "nothing but logs, and they go to stderr");
    assert!(stderr.contains(" INFO arbor started"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI codes in a pipe:\n{stderr:?}");

    let (_, forced) = run_until_started(plain().env("CLICOLOR_FORCE", "1"));
    assert!(
        forced.contains("\u{1b}["),
        "CLICOLOR_FORCE=1 asks for colour: {forced:?}"
    );

    let (_, json) = run_until_started(plain().env("ARBOR__LOG__FORMAT", "json"));
    for line in json.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value["fields"]["message"].is_string(), "{line}");
    }
    assert!(json.contains("\"arbor started\""), "{json}");
}

/// A port already in use is one line naming the address, exit 1: not the chain of every
/// supervisor above the listener, once per level. The same for the admin API's port.
#[test]
fn a_port_in_use_is_one_line_and_exit_one() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    for (var, what) in [
        ("ARBOR__LISTENERS__TCP__BIND", ""),
        ("ARBOR__ADMIN__BIND", "admin API: "),
    ] {
        let out = arbor().env(var, addr.to_string()).output().expect("run");
        assert_eq!(out.status.code(), Some(1), "{var}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = format!("arbor: {what}cannot listen on {addr}: address in use");
        let mentions: Vec<&str> = stderr.lines().filter(|l| l.contains("cannot listen")).collect();
        assert_eq!(mentions, [expected.as_str()], "{var}:\n{stderr}");
        assert!(!stderr.contains("failed to start child"), "{stderr}");
        assert!(!stderr.contains("failed_to_start_child"), "{stderr}");
    }
    drop(taken);
}
