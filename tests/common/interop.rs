//! Programs outside Rust that interoperability tests drive (mosquitto's clients and
//! `mosquitto_passwd`, python3 with paho-mqtt, chromium and chromedriver): the one place that
//! decides whether such a test runs, skips or fails.
//!
//! The README promises that `cargo test --workspace` passes on a machine with only Rust on it.
//! So when a program is missing, the test prints one visible line naming what it skipped and
//! why, and passes. CI cannot pass that way: `.ci/run` installs the programs and sets
//! `ARBOR_INTEROP=require`, under which a missing program fails the test instead.
//!
//! The line goes straight to the process's stderr rather than through `eprintln!`, which
//! libtest captures (and hides) for a test that passes.
//!
//! ```ignore
//! let Some(driver) = common::interop::require_program("chromedriver", "the dashboard in a browser") else {
//!     return;
//! };
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable that turns a missing program into a failure: `ARBOR_INTEROP=require`.
pub const ENV: &str = "ARBOR_INTEROP";

/// Whether missing programs fail tests (`ARBOR_INTEROP=require`, as `.ci/run` sets it).
pub fn required() -> bool {
    std::env::var(ENV).is_ok_and(|v| v == "require")
}

/// The path of `program` on PATH, or `None` after reporting it missing (one line naming
/// `what` the test would have proved). Panics instead when [`required`].
pub fn require_program(program: &str, what: &str) -> Option<PathBuf> {
    let found = find_on_path(program);
    if found.is_none() {
        missing(what, &format!("`{program}` is not on PATH"));
    }
    found
}

/// Whether every one of `programs` is on PATH; if not, one line names all that are missing.
/// Panics instead when [`required`].
pub fn require_programs(programs: &[&str], what: &str) -> bool {
    let absent: Vec<String> = programs
        .iter()
        .filter(|p| find_on_path(p).is_none())
        .map(|p| format!("`{p}`"))
        .collect();
    if absent.is_empty() {
        return true;
    }
    missing(what, &format!("{} not on PATH", absent.join(", ")));
    false
}

/// Whether `python3` is on PATH and can import `module` (`paho.mqtt`); if not, one line says
/// which of the two is missing. Panics instead when [`required`].
pub fn require_python_module(module: &str, what: &str) -> bool {
    let Some(python) = find_on_path("python3") else {
        missing(what, "`python3` is not on PATH");
        return false;
    };
    let imported = Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !imported {
        missing(what, &format!("python3 cannot import `{module}`"));
    }
    imported
}

/// Reports a missing program: a failure when required, else the one skip line.
fn missing(what: &str, why: &str) {
    assert!(
        !required(),
        "{what}: {why}, and {ENV}=require is set (.ci/run installs the interop programs)"
    );
    let line = format!("SKIPPED {what}: {why} (installed by .ci/run; {ENV}=require makes this a failure)\n");
    // Straight to the file descriptor: libtest would swallow an `eprintln!` of a passing test.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The first executable file named `program` in PATH's directories.
fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(file: &Path) -> bool {
    file.is_file()
}

/// Runs a prepared external client to its end, at most 20 s, with its output captured.
pub async fn finish(command: &mut tokio::process::Command, what: &str) -> std::process::Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} starts: {e}"));
    tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish in 20 s"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}
