//! `connection/<peer>`: one TCP connection (emqttd_client).
//!
//! A reader task owns the read half and casts what it reads to the actor; the actor owns the
//! write half. The first packet must arrive within `mqtt.connect_timeout`.

use std::net::SocketAddr;
use std::sync::Arc;

use arbor_supervisors::{FaultHook, StartCtx, StartError, Started};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::connection_sup::ConnectionPermit;

/// Messages of a connection.
pub enum ConnectionMsg {
    /// The reader saw the socket close (or fail).
    ReaderClosed(Option<String>),
    /// No CONNECT in time.
    ConnectTimeout,
}

/// The connection actor.
pub struct Connection;

/// Its state. Dropping it (even on kill) aborts the reader and frees the permit.
pub struct ConnectionState {
    peer: SocketAddr,
    _writer: OwnedWriteHalf,
    reader: JoinHandle<()>,
    _permit: ConnectionPermit,
    fault: FaultHook,
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Starts the connection actor for an admitted socket.
pub async fn start(
    ctx: StartCtx,
    broker: Arc<Broker>,
    socket: TcpStream,
    peer: SocketAddr,
    permit: ConnectionPermit,
) -> Result<Option<Started>, StartError> {
    let args = (broker, socket, peer, permit, ctx.fault.clone());
    let (actor, _) = Actor::spawn_linked(None, Connection, args, ctx.supervisor).await?;
    Ok(Some(Started::from(actor)))
}

impl Actor for Connection {
    type Msg = ConnectionMsg;
    type State = ConnectionState;
    type Arguments = (Arc<Broker>, TcpStream, SocketAddr, ConnectionPermit, FaultHook);

    async fn pre_start(
        &self,
        myself: ActorRef<ConnectionMsg>,
        (broker, socket, peer, permit, fault): Self::Arguments,
    ) -> Result<ConnectionState, ActorProcessingErr> {
        let _ = socket.set_nodelay(true);
        let (mut read, writer) = socket.into_split();
        let me = myself.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let reason = loop {
                match read.read(&mut buf).await {
                    Ok(0) => break None,
                    Ok(_) => continue,
                    Err(e) => break Some(e.to_string()),
                }
            };
            let _ = me.send_message(ConnectionMsg::ReaderClosed(reason));
        });
        myself.send_after(broker.config.mqtt.connect_timeout, || {
            ConnectionMsg::ConnectTimeout
        });
        Ok(ConnectionState {
            peer,
            _writer: writer,
            reader,
            _permit: permit,
            fault,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ConnectionMsg>,
        msg: ConnectionMsg,
        state: &mut ConnectionState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            ConnectionMsg::ReaderClosed(reason) => {
                tracing::debug!(peer = %state.peer, ?reason, "socket closed");
                myself.stop(None);
            }
            ConnectionMsg::ConnectTimeout => {
                tracing::info!(peer = %state.peer, "no CONNECT within connect_timeout, closing");
                myself.stop(None);
            }
        }
        Ok(())
    }
}
