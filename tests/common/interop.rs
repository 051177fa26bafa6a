//! External programs an interoperability test drives (a browser, a WebDriver). Where one is
//! missing the test skips with one line on the terminal, unless `ARBOR_INTEROP=require` (as
//! `.ci/run` sets it): then a missing program is a failure, so CI cannot pass by skipping.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Whether the run must fail rather than skip when a program is missing.
pub fn interop_required() -> bool {
    std::env::var("ARBOR_INTEROP").is_ok_and(|v| v == "require")
}

/// The program `name` (a path, or a name looked up in `PATH`), if it is there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// True when `name` is installed. Otherwise prints one `SKIPPED` line saying `why` it is needed
/// (straight to the terminal: the test harness would hide a `println!` of a passing test) and
/// returns false, or fails the test under `ARBOR_INTEROP=require`.
pub fn require_program(name: &str, why: &str) -> bool {
    if find_program(name).is_some() {
        return true;
    }
    assert!(
        !interop_required(),
        "`{name}` is missing and ARBOR_INTEROP=require: {why} (.ci/run installs it)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: `{name}` is not installed ({why}); ARBOR_INTEROP=require makes this a failure"
    );
    false
}
