//! `broker_sup/restorer`: brings the stored persistent sessions back at boot.
//!
//! It sits after `session_sup` and before the listeners in broker_sup's children, and its
//! start is the restore: each `sm/i` is handed the stored sessions of the client ids it owns
//! and starts them, detached, registering each ([`super::sm::SmMsg::Restore`]); only then does
//! broker_sup go on to start the listeners, so no client connects to a broker that has not yet
//! found its session. The images are taken once: a later start (broker_sup restarting its
//! children) finds none, as the sessions are then already running or ended.

use std::sync::Arc;
use std::time::Instant;

use arbor_supervisors::Worker;
use parking_lot::Mutex;
use ractor::rpc::CallResult;
use ractor::{ActorProcessingErr, ActorRef};

use crate::session::sm::{pool_index, SmMsg, SmPool};
use crate::store::SessionImage;

/// How long the boot waits for one sm worker to start its share.
const RESTORE_CALL: std::time::Duration = std::time::Duration::from_secs(600);

/// What the restorer starts with: the stored sessions (taken by its first start) and the pool.
#[derive(Clone)]
pub struct RestorerArgs {
    /// The sessions the store held at boot.
    pub images: Arc<Mutex<Option<Vec<SessionImage>>>>,
    /// The sm pool.
    pub pool: SmPool,
}

/// The restorer worker (idle once the boot's restore is done).
pub struct Restorer;

impl Worker for Restorer {
    type Msg = ();
    type Args = RestorerArgs;
    type State = ();

    async fn init(_myself: ActorRef<()>, args: RestorerArgs) -> Result<(), ActorProcessingErr> {
        let Some(images) = args.images.lock().take() else {
            return Ok(());
        };
        if images.is_empty() {
            return Ok(());
        }
        let started_at = Instant::now();
        let total = images.len();
        let workers = args.pool.len();
        let mut shares: Vec<Vec<SessionImage>> = (0..workers).map(|_| Vec::new()).collect();
        for image in images {
            shares[pool_index(&image.client_id, workers)].push(image);
        }
        let calls = shares.into_iter().enumerate().map(|(i, share)| {
            let worker = args.pool.slot(i).get();
            async move {
                let worker = worker.ok_or("an sm worker is not running")?;
                match worker
                    .call(|r| SmMsg::Restore(share, r), Some(RESTORE_CALL))
                    .await
                {
                    Ok(CallResult::Success(n)) => Ok(n),
                    _ => Err("an sm worker did not finish restoring its sessions"),
                }
            }
        });
        let mut restored = 0;
        for result in futures_util::future::join_all(calls).await {
            restored += result?;
        }
        tracing::info!(restored, stored = total, elapsed = ?started_at.elapsed(), "persistent sessions restored from the store");
        Ok(())
    }

    async fn handle(_myself: ActorRef<()>, _msg: (), _state: &mut ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}
