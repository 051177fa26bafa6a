//! `listener_sup/mqtt:<kind>:<addr>/listener`: owns the bound socket and starts the acceptors
//! (esockd_listener).
//!
//! Its listener_sup is rest_for_one over `connection_sup`, `acceptor_sup`, `listener` (built by
//! [`crate::tree`]), as esockd's: a crashed connection_sup takes the acceptors and the listener
//! with it, a crashed listener restarts alone. The listener binds in its start (a bind failure
//! is a start error naming the address, so the broker does not start), then starts the acceptors
//! with the socket. Acceptors hold the socket too, so a new listener first stops any acceptors
//! left from its previous incarnation, then binds the same address again (the port it got, when
//! configured with 0).

use std::net::SocketAddr;
use std::sync::Arc;

use arbor_supervisors::{DynamicChild, StartError, Worker};
use ractor::{ActorProcessingErr, ActorRef};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::connection::ConnectionDeps;
use crate::esockd::acceptor::{self, AcceptorArgs};
use crate::esockd::listen_error::ListenError;
use crate::esockd::table::ListenerTable;
use crate::timeouts;

/// Messages of the listener worker: it only owns the socket, so it needs none but the fault
/// hook's turn (a ping lets `ctl crash` reach its handler).
pub enum ListenerMsg {
    /// Does nothing but run the handler (and so the fault hook).
    Ping,
}

/// What the listener starts with.
pub struct ListenerArgs {
    /// What its connections need.
    pub deps: Arc<ConnectionDeps>,
    /// Its table.
    pub table: Arc<ListenerTable>,
}

/// The listener worker.
pub struct Listener;

/// Its state: the socket, and the token whose drop tells its acceptors to exit.
pub struct ListenerState {
    _socket: Arc<TcpListener>,
    _alive: watch::Sender<()>,
}

impl Worker for Listener {
    type Msg = ListenerMsg;
    type Args = ListenerArgs;
    type State = ListenerState;

    async fn init(
        _myself: ActorRef<ListenerMsg>,
        args: ListenerArgs,
    ) -> Result<ListenerState, ActorProcessingErr> {
        let table = args.table;
        let acceptor_sup = table
            .acceptor_sup
            .get()
            .ok_or_else(|| StartError::failed("acceptor_sup is not running"))?;
        // Acceptors of a previous incarnation still hold the old socket: stop them first.
        for child in acceptor_sup.which_children() {
            if let Some(cell) = child.cell {
                let _ = acceptor_sup.terminate_actor(cell.get_id()).await;
            }
        }
        // The last acceptor's end may still be in flight; wait (briefly) for the old socket.
        let old = table.last_socket.lock().clone();
        let waited = std::time::Instant::now();
        while old.strong_count() > 0 && waited.elapsed() < timeouts::LISTENER_OLD_SOCKET {
            tokio::time::sleep(timeouts::LISTENER_POLL).await;
        }
        let rebinding = table.local_addr();
        let addr = rebinding.unwrap_or(table.config().bind);
        let socket = Arc::new(bind(addr, rebinding.is_some()).await?);
        *table.last_socket.lock() = Arc::downgrade(&socket);
        let local = socket
            .local_addr()
            .map_err(|e| StartError::failed(ListenError::new(addr, &e)))?;
        let (alive, _) = watch::channel(());
        let acceptors = table.config().acceptors;
        for index in 0..acceptors {
            let start = acceptor::start(AcceptorArgs {
                deps: args.deps.clone(),
                table: table.clone(),
                socket: socket.clone(),
                listener_alive: alive.subscribe(),
            });
            acceptor_sup
                .start_child(DynamicChild::repeat(format!("acceptor/{index}"), start))
                .await?;
        }
        table.set_bound(local);
        tracing::info!(listener = %table.id(), addr = %local, acceptors, "listening");
        Ok(ListenerState {
            _socket: socket,
            _alive: alive,
        })
    }

    async fn handle(
        _myself: ActorRef<ListenerMsg>,
        msg: ListenerMsg,
        _state: &mut ListenerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ListenerMsg::Ping => Ok(()),
        }
    }
}

/// Binds with SO_REUSEADDR and a deep backlog. A rebind right after a restart may find the old
/// socket not yet closed by an acceptor's task, so then `AddrInUse` is retried briefly.
async fn bind(addr: SocketAddr, rebinding: bool) -> Result<TcpListener, StartError> {
    let mut attempts = 0;
    loop {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| StartError::failed(ListenError::new(addr, &e)))?;
        let bound = socket
            .set_reuseaddr(true)
            .and_then(|()| socket.bind(addr))
            .and_then(|()| socket.listen(1024));
        match bound {
            Ok(listener) => return Ok(listener),
            Err(e)
                if rebinding
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempts < timeouts::REBIND_ATTEMPTS =>
            {
                attempts += 1;
                tokio::time::sleep(timeouts::REBIND_RETRY).await;
            }
            Err(e) => return Err(StartError::failed(ListenError::new(addr, &e))),
        }
    }
}
