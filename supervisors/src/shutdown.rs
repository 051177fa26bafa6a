//! Stopping children: OTP's `shutdown/2` and `terminate_dynamic_children`.
//!
//! One child: ask it to stop (`shutdown` reason), wait for its end up to its shutdown timeout,
//! then kill it and wait again. We wait on the child itself (`ActorCell::wait`), not on its
//! supervision event, so a child that unlinked itself still cannot hang its supervisor (OTP's
//! `child_unlink`). Dynamic children are all signalled at once and waited for under one timer.

use futures::future::join_all;
use ractor::{ActorCell, ActorStatus};
use tokio::time::timeout;

use crate::exit::ExitReason;
use crate::spec::Shutdown;

/// Stops one child as its shutdown says; returns once it has ended.
pub(crate) async fn terminate(cell: &ActorCell, shutdown: Shutdown) {
    terminate_all(std::slice::from_ref(cell), shutdown).await;
}

/// Stops many children at once under one timer; returns once all have ended.
pub(crate) async fn terminate_all(cells: &[ActorCell], shutdown: Shutdown) {
    match shutdown {
        Shutdown::BrutalKill => {
            for cell in cells {
                cell.kill();
            }
        }
        Shutdown::Timeout(limit) => {
            signal_stop(cells);
            if timeout(limit, wait_all(cells)).await.is_err() {
                for cell in cells {
                    if cell.get_status() != ActorStatus::Stopped {
                        tracing::warn!(child = ?cell.get_id(), ?limit, "child ignored stop, killing it");
                        cell.kill();
                    }
                }
            }
        }
        Shutdown::Infinity => signal_stop(cells),
    }
    wait_all(cells).await;
}

fn signal_stop(cells: &[ActorCell]) {
    let reason = ExitReason::Shutdown(None).to_reason();
    for cell in cells {
        cell.stop(Some(reason.clone()));
    }
}

async fn wait_all(cells: &[ActorCell]) {
    join_all(cells.iter().map(|cell| cell.wait(None))).await;
}
