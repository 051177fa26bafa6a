//! [`Slot`]: where a restartable child publishes its live reference.

use std::sync::Arc;

use parking_lot::RwLock;

/// Where a restartable child publishes its live reference on every (re)start, so that callers
/// reach the current incarnation (`None` while it is down). ractor's global names would do this
/// too, but they are process-wide, and tests run many trees in one process.
pub struct Slot<T>(Arc<RwLock<Option<T>>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Clone> Slot<T> {
    /// The live reference, if the child is running.
    pub fn get(&self) -> Option<T> {
        self.0.read().clone()
    }

    /// Records a new incarnation.
    pub fn set(&self, value: T) {
        *self.0.write() = Some(value);
    }
}
