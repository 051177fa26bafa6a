//! Exit reasons, OTP style, encoded on top of ractor's reason strings.
//!
//! ractor reports an actor's end as `ActorTerminated(cell, state, Option<String>)` or
//! `ActorFailed(cell, err)`; a kill arrives as terminated with `"killed"`. OTP distinguishes
//! `normal`, `shutdown`, `{shutdown, Detail}`, `killed` and any other (abnormal) reason, and the
//! restart policy depends on that difference (a `Transient` child is restarted only after an
//! abnormal exit). This module is the only code that writes or reads ractor's reason strings.

use std::fmt;

use ractor::SupervisionEvent;

/// Why an actor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// A normal, expected end (OTP `normal`).
    Normal,
    /// An orderly stop asked for by a supervisor or the actor itself (OTP `shutdown` /
    /// `{shutdown, Detail}`). Not abnormal: a `Transient` child is not restarted.
    Shutdown(Option<String>),
    /// Killed without cleanup (OTP `killed`, from `exit(Pid, kill)` or a brutal kill).
    Killed,
    /// A failure: a panic, an `Err` from a handler, or any reason this module does not know.
    Failed(String),
}

const NORMAL: &str = "normal";
const SHUTDOWN: &str = "shutdown";
const SHUTDOWN_PREFIX: &str = "shutdown: ";
const KILLED: &str = "killed";

impl ExitReason {
    /// Reads the reason out of a ractor supervision event about a child's end; `None` for
    /// events that are not an end (started, process-group changes).
    pub fn from_event(evt: &SupervisionEvent) -> Option<Self> {
        match evt {
            SupervisionEvent::ActorTerminated(_, _, reason) => Some(Self::from_reason(reason.as_deref())),
            SupervisionEvent::ActorFailed(_, err) => Some(Self::Failed(err.to_string())),
            _ => None,
        }
    }

    /// Decodes a ractor stop reason string.
    pub fn from_reason(reason: Option<&str>) -> Self {
        match reason {
            None | Some(NORMAL) | Some("Drained") => Self::Normal,
            Some(SHUTDOWN) => Self::Shutdown(None),
            Some(KILLED) | Some("actor_task_cancelled") => Self::Killed,
            Some(other) => match other.strip_prefix(SHUTDOWN_PREFIX) {
                Some(detail) => Self::Shutdown(Some(detail.to_string())),
                None => Self::Failed(other.to_string()),
            },
        }
    }

    /// The string to hand to `ActorCell::stop` so that `from_reason` reads this reason back.
    pub fn to_reason(&self) -> String {
        self.to_string()
    }

    /// Abnormal exits (killed, failed) restart `Transient` children; normal and shutdown do not.
    pub fn is_abnormal(&self) -> bool {
        matches!(self, Self::Killed | Self::Failed(_))
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str(NORMAL),
            Self::Shutdown(None) => f.write_str(SHUTDOWN),
            Self::Shutdown(Some(detail)) => write!(f, "{SHUTDOWN_PREFIX}{detail}"),
            Self::Killed => f.write_str(KILLED),
            Self::Failed(reason) => f.write_str(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_ractor_strings() {
        for reason in [
            ExitReason::Normal,
            ExitReason::Shutdown(None),
            ExitReason::Shutdown(Some("reached_max_restart_intensity".into())),
            ExitReason::Killed,
            ExitReason::Failed("boom".into()),
        ] {
            assert_eq!(ExitReason::from_reason(Some(&reason.to_reason())), reason);
        }
        assert_eq!(ExitReason::from_reason(None), ExitReason::Normal);
    }

    #[test]
    fn only_killed_and_failed_are_abnormal() {
        assert!(!ExitReason::Normal.is_abnormal());
        assert!(!ExitReason::Shutdown(Some("x".into())).is_abnormal());
        assert!(ExitReason::Killed.is_abnormal());
        assert!(ExitReason::Failed("x".into()).is_abnormal());
    }
}
