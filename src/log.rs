//! Logging: where log lines go and how they look (`[log] level, format`).
//!
//! Lines go to stderr, like every other diagnostic of the binary, so stdout stays free for
//! output a program may read. `log.format = "text"` writes lines for people, `"json"` one JSON
//! object per line for machines.
//!
//! Text is coloured only when someone will see the colours: when stderr is a terminal, or when
//! asked with `CLICOLOR_FORCE` (set and not `0`). `NO_COLOR` (set and not empty,
//! <https://no-color.org>) turns colour off even then. A log file or a pipe thus never holds
//! ANSI escape codes. `RUST_LOG`, when set, replaces `log.level` as the filter.

use std::io::IsTerminal;

use arbor_actors::config::{LogConfig, LogFormat};

/// Sets up the global subscriber for `config`. Call once, before anything logs.
pub fn init(config: &LogConfig) {
    use tracing_subscriber::EnvFilter;
    // ractor wraps every actor in an `Actor{id=..}` span at info; our own lines carry paths.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},ractor=warn", config.level.as_str())));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    match config.format {
        LogFormat::Json => builder.json().with_ansi(false).init(),
        LogFormat::Text => builder
            .with_ansi(colour_from_env(std::io::stderr().is_terminal()))
            .init(),
    }
}

/// [`colour`] with this process's `NO_COLOR` and `CLICOLOR_FORCE`.
fn colour_from_env(stderr_is_terminal: bool) -> bool {
    colour(
        stderr_is_terminal,
        std::env::var("NO_COLOR").ok().as_deref(),
        std::env::var("CLICOLOR_FORCE").ok().as_deref(),
    )
}

/// Whether text lines are coloured: never with a non-empty `no_color`; always with a
/// `clicolor_force` other than empty or `0`; otherwise only on a terminal.
pub fn colour(stderr_is_terminal: bool, no_color: Option<&str>, clicolor_force: Option<&str>) -> bool {
    if no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    stderr_is_terminal
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_unless_asked_or_refused() {
        assert!(colour(true, None, None));
        assert!(!colour(false, None, None), "a pipe or a file gets no ANSI codes");
        assert!(colour(false, None, Some("1")), "CLICOLOR_FORCE asks for colour");
        assert!(!colour(false, None, Some("0")));
        assert!(!colour(false, None, Some("")));
        assert!(!colour(true, Some("1"), None), "NO_COLOR refuses it");
        assert!(!colour(false, Some("1"), Some("1")), "NO_COLOR wins");
        assert!(colour(true, Some(""), None), "an empty NO_COLOR is unset");
    }
}
