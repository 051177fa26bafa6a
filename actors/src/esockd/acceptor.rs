//! `acceptor/i`: accepts connections on the listener's socket (esockd_acceptor).
//!
//! Each accept is one message handled, so a fault plan's `after=n` counts accepted sockets and
//! a kill lands between or inside accepts (a cancelled accept loses no connection: the kernel
//! keeps it in the backlog). On EMFILE/ENFILE the acceptor logs, sleeps 100 ms and goes on, as
//! esockd does; other transient errors are skipped; anything else fails the acceptor and
//! acceptor_sup restarts it. When the listener that started it is gone (its token dropped) the
//! acceptor exits normally, so as a transient child it is not restarted.

use std::sync::Arc;
use std::time::Instant;

use arbor_supervisors::{start_fn, StartCtx, StartFn, Worker};
use ractor::{ActorProcessingErr, ActorRef};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::connection::ConnectionDeps;
use crate::esockd::admission;
use crate::esockd::table::ListenerTable;
use crate::timeouts;

/// Messages of an acceptor.
pub enum AcceptorMsg {
    /// Accept the next connection (each handler run sends the next one).
    Accept,
}

/// What an acceptor starts with (the same on every restart).
#[derive(Clone)]
pub struct AcceptorArgs {
    /// What its connections need.
    pub deps: Arc<ConnectionDeps>,
    /// Its listener's table.
    pub table: Arc<ListenerTable>,
    /// The listening socket.
    pub socket: Arc<TcpListener>,
    /// Changes (closes) when the listener that started it is gone.
    pub listener_alive: watch::Receiver<()>,
}

/// The acceptor worker.
pub struct Acceptor;

/// Its state.
pub struct AcceptorState {
    args: AcceptorArgs,
    last_emfile_log: Option<Instant>,
}

/// The start function for `acceptor/i`; it runs again on every restart with the same socket.
pub fn start(args: AcceptorArgs) -> StartFn {
    start_fn(move |ctx: StartCtx| {
        let args = args.clone();
        arbor_supervisors::worker::start::<Acceptor>(ctx, args)
    })
}

impl Worker for Acceptor {
    type Msg = AcceptorMsg;
    type Args = AcceptorArgs;
    type State = AcceptorState;

    async fn init(
        myself: ActorRef<AcceptorMsg>,
        args: AcceptorArgs,
    ) -> Result<AcceptorState, ActorProcessingErr> {
        myself.send_message(AcceptorMsg::Accept)?;
        Ok(AcceptorState {
            args,
            last_emfile_log: None,
        })
    }

    async fn handle(
        myself: ActorRef<AcceptorMsg>,
        AcceptorMsg::Accept: AcceptorMsg,
        state: &mut AcceptorState,
    ) -> Result<(), ActorProcessingErr> {
        let args = &mut state.args;
        let accepted = tokio::select! {
            _ = args.listener_alive.changed() => {
                myself.stop(None);
                return Ok(());
            }
            accepted = args.socket.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => admission::admit(&args.deps, &args.table, socket, peer).await,
            Err(e) if matches!(e.raw_os_error(), Some(24) | Some(23)) => {
                let quiet = state
                    .last_emfile_log
                    .is_some_and(|t| t.elapsed() < timeouts::EMFILE_LOG_EVERY);
                if !quiet {
                    tracing::warn!(listener = %state.args.table.id(), error = %e, "accept: out of file descriptors, pausing");
                    state.last_emfile_log = Some(Instant::now());
                }
                tokio::time::sleep(timeouts::EMFILE_PAUSE).await;
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(Box::new(e)),
        }
        myself.send_message(AcceptorMsg::Accept)?;
        Ok(())
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}
