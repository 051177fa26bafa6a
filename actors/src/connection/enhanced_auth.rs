//! MQTT 5 enhanced authentication during CONNECT (section 4.12): the AUTH packets between a
//! CONNECT that names an Authentication Method and its CONNACK, run by the connection actor
//! (which still owns the socket then) over the methods of [`crate::auth::enhanced`].
//!
//! CONNECT with method M → [`AuthMethods::begin`](crate::auth::enhanced::AuthMethods::begin):
//! each `Continue` is an AUTH 0x18 to the client, whose reader must answer with AUTH 0x18 and
//! the same method [MQTT-4.12.0-2]..[MQTT-4.12.0-4] (anything else is a protocol error); a
//! `Success` accepts the CONNECT as the user the method names, with its final data in the
//! CONNACK; a failure is CONNACK with its reason code (0x8C unknown method, 0x87 refused).
//! Re-authentication after CONNACK (AUTH 0x19) is not offered: the reader treats it as a
//! protocol error.

use bytes::Bytes;
use ractor::ActorRef;

use crate::auth::enhanced::{AuthExchange, AuthStep};
use crate::codec::{Auth, Connect, Packet, Properties, ReasonCode};
use crate::connection::{Answer, Close, ConnectionMsg, ConnectionState};
use crate::observability::metrics::Metrics;

/// A CONNECT waiting for the client's next AUTH.
pub(super) struct Pending {
    connect: Box<Connect>,
    method: String,
    exchange: Box<dyn AuthExchange>,
}

/// What a successful exchange hands the CONNECT: the method, and its data for the CONNACK.
pub(super) struct Authenticated {
    pub method: String,
    pub data: Option<Vec<u8>>,
}

impl ConnectionState {
    /// A CONNECT naming `method`: the exchange's first step.
    pub(super) async fn begin_auth(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        connect: Box<Connect>,
        method: String,
    ) -> Result<Answer, Close> {
        let data = connect
            .properties
            .as_ref()
            .and_then(|p| p.authentication_data.clone());
        let begun = self
            .deps
            .access
            .current()
            .methods()
            .begin(&method, data.as_deref());
        match begun {
            Ok((exchange, step)) => {
                let pending = Box::new(Pending {
                    connect,
                    method,
                    exchange,
                });
                self.auth_step(myself, pending, step).await
            }
            Err(failure) => {
                self.auth_failed(failure.connack_code(), failure.to_string())
                    .await
            }
        }
    }

    /// The client's AUTH while a CONNECT waits: the exchange's next step.
    pub(super) async fn continue_auth(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        auth: Auth,
    ) -> Result<Answer, Close> {
        let Some(mut pending) = self.pending_auth.take() else {
            return Err(Close::Protocol("AUTH without an authentication under way".into()));
        };
        let props = auth.properties.unwrap_or_default();
        if auth.reason != ReasonCode::CONTINUE_AUTHENTICATION
            || props.authentication_method.as_deref() != Some(pending.method.as_str())
        {
            let why = "AUTH must continue the CONNECT's method [MQTT-4.12.0-4]".to_string();
            return self
                .auth_failed(crate::codec::ConnectReturnCode::ProtocolError, why)
                .await;
        }
        let data = props.authentication_data.unwrap_or_default();
        match pending.exchange.step(&data) {
            Ok(step) => self.auth_step(myself, pending, step).await,
            Err(failure) => {
                self.auth_failed(failure.connack_code(), failure.to_string())
                    .await
            }
        }
    }

    async fn auth_step(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        pending: Box<Pending>,
        step: AuthStep,
    ) -> Result<Answer, Close> {
        match step {
            AuthStep::Continue(data) => {
                let challenge = Auth {
                    reason: ReasonCode::CONTINUE_AUTHENTICATION,
                    properties: Some(Box::new(Properties {
                        authentication_method: Some(pending.method.clone()),
                        authentication_data: Some(Bytes::from(data)),
                        ..Properties::default()
                    })),
                };
                self.write_own(&Packet::Auth(challenge)).await;
                self.pending_auth = Some(pending);
                Ok(Answer::Continue)
            }
            AuthStep::Success { username, data } => {
                let Pending {
                    mut connect, method, ..
                } = *pending;
                connect.username = Some(username);
                let done = Authenticated { method, data };
                self.complete(myself, connect, Some(done))
                    .await
                    .map(Answer::Attached)
            }
        }
    }

    async fn auth_failed(
        &mut self,
        code: crate::codec::ConnectReturnCode,
        why: String,
    ) -> Result<Answer, Close> {
        Metrics::add(&self.deps.metrics.auth_failures, 1);
        self.refuse(code).await;
        Err(Close::Refused(format!("enhanced authentication: {why}")))
    }
}
