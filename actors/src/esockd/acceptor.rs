//! `acceptor/i`: accepts connections on the listener's socket (esockd_acceptor).
//!
//! Each accept is one message handled, so a fault plan's `after=n` counts accepted sockets and
//! a kill lands between or inside accepts (a cancelled accept loses no connection: the kernel
//! keeps it in the backlog). On EMFILE/ENFILE the acceptor logs, sleeps 100 ms and goes on, as
//! esockd does; other transient errors are skipped; anything else fails the acceptor and
//! acceptor_sup restarts it. When the listener that started it is gone (its token dropped) the
//! acceptor exits normally, so as a transient child it is not restarted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_supervisors::{start_fn, FaultHook, StartCtx, StartFn, Started};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::broker::Broker;
use crate::esockd::admission;
use crate::esockd::listener::ListenerShared;

/// How long an acceptor rests after running out of file descriptors.
const EMFILE_PAUSE: Duration = Duration::from_millis(100);

/// Messages of an acceptor.
pub enum AcceptorMsg {
    /// Accept the next connection (each handler run sends the next one).
    Accept,
}

/// The acceptor worker.
pub struct Acceptor;

/// Its state.
pub struct AcceptorState {
    broker: Arc<Broker>,
    shared: Arc<ListenerShared>,
    socket: Arc<TcpListener>,
    listener_alive: watch::Receiver<()>,
    fault: FaultHook,
    last_emfile_log: Option<Instant>,
}

type Args = (
    Arc<Broker>,
    Arc<ListenerShared>,
    Arc<TcpListener>,
    watch::Receiver<()>,
    FaultHook,
);

/// The start function for `acceptor/i`; it runs again on every restart with the same socket.
pub fn start(
    broker: Arc<Broker>,
    shared: Arc<ListenerShared>,
    socket: Arc<TcpListener>,
    alive: watch::Receiver<()>,
) -> StartFn {
    start_fn(move |ctx: StartCtx| {
        let args = (
            broker.clone(),
            shared.clone(),
            socket.clone(),
            alive.clone(),
            ctx.fault.clone(),
        );
        async move {
            let (actor, _) = Actor::spawn_linked(None, Acceptor, args, ctx.supervisor).await?;
            Ok(Some(Started::from(actor)))
        }
    })
}

impl Actor for Acceptor {
    type Msg = AcceptorMsg;
    type State = AcceptorState;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<AcceptorMsg>,
        (broker, shared, socket, listener_alive, fault): Args,
    ) -> Result<AcceptorState, ActorProcessingErr> {
        myself.send_message(AcceptorMsg::Accept)?;
        Ok(AcceptorState {
            broker,
            shared,
            socket,
            listener_alive,
            fault,
            last_emfile_log: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<AcceptorMsg>,
        AcceptorMsg::Accept: AcceptorMsg,
        state: &mut AcceptorState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        let accepted = tokio::select! {
            _ = state.listener_alive.changed() => {
                myself.stop(None);
                return Ok(());
            }
            accepted = state.socket.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => state.admit(socket, peer).await,
            Err(e) if matches!(e.raw_os_error(), Some(24) | Some(23)) => {
                let quiet = state
                    .last_emfile_log
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(5));
                if !quiet {
                    tracing::warn!(listener = %state.shared.id, error = %e, "accept: out of file descriptors, pausing");
                    state.last_emfile_log = Some(Instant::now());
                }
                tokio::time::sleep(EMFILE_PAUSE).await;
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(Box::new(e)),
        }
        myself.send_message(AcceptorMsg::Accept)?;
        Ok(())
    }
}

impl AcceptorState {
    async fn admit(&self, socket: TcpStream, peer: SocketAddr) {
        admission::admit(&self.broker, &self.shared, socket, peer).await;
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}
