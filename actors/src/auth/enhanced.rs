//! Enhanced authentication (MQTT 5 section 4.12): the hook the connection calls when a CONNECT
//! names an Authentication Method (property 0x15), and the methods the broker offers. It owns
//! the API between the packet flow (the connection's, which sends and reads AUTH) and a
//! method's challenge–response logic (here, [`crate::auth::scram`]); no I/O, no actor, no
//! async, so an exchange is plain data the connection keeps between two packets.
//!
//! How the connection uses it (`access.current().methods()` is an [`AuthMethods`]):
//!
//! | the client sends | the connection calls | and answers |
//! |---|---|---|
//! | CONNECT, method M, data D (0x16) | [`AuthMethods::begin`]`(M, D)` | see the result below |
//! | AUTH 0x18, method M, data D | [`AuthExchange::step`]`(D)` on the kept exchange | see the result below |
//! | AUTH 0x19 (re-authenticate), method M, data D | [`AuthMethods::begin`]`(M, D)`, a new exchange | see the result below |
//!
//! - `Ok(`[`AuthStep::Continue`]`(data))`: AUTH 0x18 with method M and `data`; keep the
//!   exchange for the client's next AUTH.
//! - `Ok(`[`AuthStep::Success`]`{ username, data })`: CONNACK 0x00 (AUTH 0x00 when
//!   re-authenticating) with method M and `data` if any; `username` is the identity the ACL's
//!   `%u` and `user:` rules see. Drop the exchange.
//! - `Err(failure)`: CONNACK [`AuthFailure::connack_code`] during CONNECT, DISCONNECT
//!   [`AuthFailure::reason_code`] after it; close. An unknown method is
//!   [`AuthFailure::BadMethod`]: CONNACK 0x8C. The failure's text is for the log line, not
//!   for the client (it would tell an attacker which check failed).
//!
//! Re-authentication reuses the same API: a method's exchange knows nothing of CONNECT. What
//! is the connection's to check: the AUTH's method is the CONNECT's [MQTT-4.12.1-1], and a
//! successful re-authentication names the connection's user (a different one is refused with
//! 0x87). A method may call back with [`AuthStep::Continue`] any number of times; an exchange
//! that has answered `Success` or an error is over, and `step` on it is
//! [`AuthFailure::Protocol`].
//!
//! [`AuthMethods`] is built with the password file ([`AuthMethods::from_password_file`]): a
//! loaded file offers SCRAM-SHA-256 over its `$scram-sha-256$` entries, no file offers no
//! method. It lives in [`crate::auth::AccessControl`], so a reload (SIGHUP, `arbor ctl acl
//! reload`) swaps the credentials with the password file; an exchange already under way keeps
//! the credentials it started with.

use std::fmt;
use std::sync::Arc;

use crate::auth::passwd::PasswordFile;
use crate::auth::scram::ScramSha256;
use crate::codec::{ConnectReturnCode, ReasonCode};

/// One enhanced-authentication method, such as SCRAM-SHA-256.
pub trait AuthMethod: Send + Sync {
    /// The name clients give in the Authentication Method property (case-sensitive).
    fn name(&self) -> &str;

    /// Starts an exchange with the CONNECT's (or AUTH 0x19's) authentication data; the first
    /// step is the server's answer to it.
    fn begin(&self, data: Option<&[u8]>) -> Result<(Box<dyn AuthExchange>, AuthStep), AuthFailure>;
}

/// One exchange under way, between two packets.
pub trait AuthExchange: Send {
    /// The next step, given the data of the client's AUTH 0x18.
    fn step(&mut self, data: &[u8]) -> Result<AuthStep, AuthFailure>;
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// More is needed: send AUTH 0x18 with this authentication data.
    Continue(Vec<u8>),
    /// Authenticated as `username`; `data` goes in the CONNACK (or AUTH 0x00) as
    /// authentication data.
    Success {
        /// Who the client is, for the ACL.
        username: String,
        /// The method's last word (SCRAM's server-final).
        data: Option<Vec<u8>>,
    },
}

/// Why an exchange failed, and so which reason code the client gets. The text is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// The method is not offered: 0x8C.
    #[error("unknown authentication method {0:?}")]
    BadMethod(String),
    /// Wrong credentials, unknown user, a replayed or changed message: 0x87.
    #[error("not authorized: {0}")]
    NotAuthorized(String),
    /// The authentication data breaks the method's grammar: 0x81.
    #[error("malformed authentication data: {0}")]
    Malformed(String),
    /// A step out of order (data missing, the exchange already over): 0x82.
    #[error("authentication out of order: {0}")]
    Protocol(String),
}

impl AuthFailure {
    /// The CONNACK's code while connecting.
    pub fn connack_code(&self) -> ConnectReturnCode {
        match self {
            Self::BadMethod(_) => ConnectReturnCode::BadAuthenticationMethod,
            Self::NotAuthorized(_) => ConnectReturnCode::NotAuthorized,
            Self::Malformed(_) => ConnectReturnCode::MalformedPacket,
            Self::Protocol(_) => ConnectReturnCode::ProtocolError,
        }
    }

    /// The DISCONNECT's reason code when re-authentication fails (the same bytes as
    /// [`AuthFailure::connack_code`] in MQTT 5).
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::BadMethod(_) => ReasonCode::BAD_AUTHENTICATION_METHOD,
            Self::NotAuthorized(_) => ReasonCode::NOT_AUTHORIZED,
            Self::Malformed(_) => ReasonCode::MALFORMED_PACKET,
            Self::Protocol(_) => ReasonCode::PROTOCOL_ERROR,
        }
    }
}

/// The methods on offer, by name.
#[derive(Clone, Default)]
pub struct AuthMethods {
    methods: Vec<Arc<dyn AuthMethod>>,
}

impl fmt::Debug for AuthMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl AuthMethods {
    /// What a password file offers: SCRAM-SHA-256 over its SCRAM entries; nothing without one.
    pub fn from_password_file(file: Option<&PasswordFile>) -> Self {
        match file {
            Some(file) => Self::default().with(Arc::new(ScramSha256::new(
                file.scram_users()
                    .map(|(user, keys)| (user.to_string(), keys.clone())),
            ))),
            None => Self::default(),
        }
    }

    /// Adds `method`, replacing one of the same name.
    pub fn with(mut self, method: Arc<dyn AuthMethod>) -> Self {
        self.methods.retain(|m| m.name() != method.name());
        self.methods.push(method);
        self
    }

    /// The method called `name`.
    pub fn get(&self, name: &str) -> Option<&dyn AuthMethod> {
        self.methods.iter().find(|m| m.name() == name).map(|m| m.as_ref())
    }

    /// The names on offer.
    pub fn names(&self) -> Vec<&str> {
        self.methods.iter().map(|m| m.name()).collect()
    }

    /// Starts an exchange with `method`: [`AuthFailure::BadMethod`] when it is not on offer.
    pub fn begin(
        &self,
        method: &str,
        data: Option<&[u8]>,
    ) -> Result<(Box<dyn AuthExchange>, AuthStep), AuthFailure> {
        self.get(method)
            .ok_or_else(|| AuthFailure::BadMethod(method.to_string()))?
            .begin(data)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::auth::scram::client::ScramClient;
    use crate::auth::scram::ScramCredentials;

    fn file() -> PasswordFile {
        let keys = ScramCredentials::derive(b"pw", b"salt", 4096).to_entry();
        PasswordFile::parse(&format!("ann:{keys}\n"), Path::new("p")).unwrap()
    }

    #[test]
    fn an_unknown_method_is_bad_authentication_method_0x8c() {
        let methods = AuthMethods::from_password_file(Some(&file()));
        assert_eq!(methods.names(), ["SCRAM-SHA-256"]);
        let Err(err) = methods.begin("SCRAM-SHA-1", Some(b"n,,n=ann,r=x")) else {
            panic!("began an unknown method")
        };
        assert_eq!(err.connack_code(), ConnectReturnCode::BadAuthenticationMethod);
        assert_eq!(err.reason_code(), ReasonCode(0x8C));
        // Without a password file nothing is on offer, not even SCRAM.
        let none = AuthMethods::from_password_file(None);
        assert!(none.begin("SCRAM-SHA-256", Some(b"n,,n=ann,r=x")).is_err());
    }

    #[test]
    fn failures_map_to_their_reason_codes() {
        for (failure, code) in [
            (AuthFailure::NotAuthorized(String::new()), 0x87),
            (AuthFailure::Malformed(String::new()), 0x81),
            (AuthFailure::Protocol(String::new()), 0x82),
            (AuthFailure::BadMethod(String::new()), 0x8C),
        ] {
            assert_eq!(failure.reason_code(), ReasonCode(code));
            assert_eq!(failure.connack_code().reason_code(), ReasonCode(code));
        }
    }

    /// Re-authentication is a second `begin` on the same methods: same API, same result.
    #[test]
    fn a_whole_exchange_through_the_hook_and_again_for_reauthentication() {
        let methods = AuthMethods::from_password_file(Some(&file()));
        for _ in 0..2 {
            let mut client = ScramClient::new("ann", "pw");
            let (mut exchange, step) = methods
                .begin("SCRAM-SHA-256", Some(&client.client_first()))
                .unwrap();
            let AuthStep::Continue(server_first) = step else {
                panic!("{step:?}")
            };
            let step = exchange
                .step(&client.client_final(&server_first).unwrap())
                .unwrap();
            let AuthStep::Success { username, data } = step else {
                panic!("{step:?}")
            };
            assert_eq!(username, "ann");
            client.verify_server_final(&data.unwrap()).unwrap();
            assert!(matches!(exchange.step(b"again"), Err(AuthFailure::Protocol(_))));
        }
    }
}
