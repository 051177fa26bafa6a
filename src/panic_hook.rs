//! The process's panic hook: an injected fault's panic prints nothing, a real panic prints what
//! Rust's default hook prints (message, location, backtrace when `RUST_BACKTRACE` asks for one).
//!
//! `--fault panic@…` makes actors panic on purpose, possibly thousands of times in a chaos run.
//! Each one is already logged as one line with its path and rule when it fires
//! (`arbor_supervisors::fault`), and the supervisor logs how it reacted, so the default hook's
//! message and 75-line backtrace would only bury that, the more so with `RUST_BACKTRACE=1` set
//! for the real panics, which must keep theirs.

use arbor_supervisors::fault::is_injected_panic;

/// Installs the hook over the current one (the default hook, in the binary), which still
/// handles every panic that is not an injected fault.
pub fn install() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_injected_panic(info.payload()) {
            previous(info);
        }
    }));
}
