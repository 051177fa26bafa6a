//! Errors at the engine's boundary: starting a child, and asking a supervisor to do something.

use ractor::SpawnErr;

/// Why a child (or a supervisor's own start) failed. OTP: `{error, Reason}` from a start function,
/// and `{shutdown, {failed_to_start_child, Id, Reason}}` from a supervisor whose static child
/// failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    /// The start function returned an error of its own.
    #[error("{0}")]
    Failed(String),
    /// A static child failed to start, so its supervisor did not start.
    #[error("failed to start child {path}: {reason}")]
    ChildFailed {
        /// The path of the child that failed.
        path: String,
        /// Why it failed.
        reason: Box<StartError>,
    },
    /// The request does not fit this supervisor (wrong strategy, a once-only start for a child
    /// that would need a restart, duplicate id).
    #[error("invalid child: {0}")]
    Invalid(String),
    /// The supervisor is gone or did not answer.
    #[error("supervisor unavailable: {0}")]
    Unavailable(String),
}

impl StartError {
    /// A start error with a message.
    pub fn failed(msg: impl std::fmt::Display) -> Self {
        Self::Failed(msg.to_string())
    }

    /// The innermost reason (what actually went wrong, without the chain of supervisors).
    pub fn root_cause(&self) -> &StartError {
        match self {
            Self::ChildFailed { reason, .. } => reason.root_cause(),
            other => other,
        }
    }
}

impl From<SpawnErr> for StartError {
    fn from(err: SpawnErr) -> Self {
        match err {
            SpawnErr::StartupFailed(inner) => match inner.downcast::<StartError>() {
                Ok(start) => *start,
                Err(other) => Self::Failed(other.to_string()),
            },
            other => Self::Failed(other.to_string()),
        }
    }
}

/// Errors of supervisor requests other than starting (terminate, restart, lookups).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SupervisorError {
    /// No child with that id or path.
    #[error("no child `{0}`")]
    NotFound(String),
    /// The request does not fit this supervisor's strategy or the child's state.
    #[error("{0}")]
    Invalid(String),
    /// The supervisor is gone or did not answer.
    #[error("supervisor unavailable: {0}")]
    Unavailable(String),
}
