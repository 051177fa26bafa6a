//! The client side of SCRAM-SHA-256, for tests and tools: the broker never runs it. Integration
//! tests use it to drive the exchange over raw MQTT bytes, and the unit tests of [`super`] test
//! the server against it. It shares the message grammar and the key derivation with the server
//! (`messages`, [`super::ScramCredentials`]), and like it speaks printable ASCII only.
//!
//! ```
//! use arbor_actors::auth::scram::client::ScramClient;
//! let mut client = ScramClient::new("alice", "secret");
//! let client_first = client.client_first(); // CONNECT's authentication data
//! // … the server's AUTH 0x18 carries server-first:
//! // let client_final = client.client_final(&server_first)?; // the client's AUTH 0x18
//! // … the CONNACK carries server-final:
//! // client.verify_server_final(&server_final)?;
//! # let _ = client_first;
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::{hmac, messages, random_nonce, salted_password, sha256, xor, Key};
use crate::auth::constant_time_eq;

/// What went wrong on the client's side of an exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramClientError {
    /// A server message breaks the grammar, or the server sent `e=`.
    #[error("bad server message: {0}")]
    Malformed(String),
    /// server-first's nonce does not start with the client's.
    #[error("the server's nonce does not extend the client's")]
    Nonce,
    /// server-final's signature is not the one the password gives: the server does not know it.
    #[error("the server's signature is wrong")]
    ServerSignature,
    /// A message out of turn (server-final before server-first).
    #[error("{0} out of turn")]
    OutOfTurn(&'static str),
}

/// One client exchange.
pub struct ScramClient {
    username: String,
    password: String,
    nonce: String,
    /// ServerSignature, once client-final is made.
    expected: Option<Key>,
}

impl ScramClient {
    /// An exchange for `username` with a random client nonce.
    pub fn new(username: &str, password: &str) -> Self {
        Self::with_nonce(username, password, &random_nonce())
    }

    /// An exchange with a chosen client nonce (printable ASCII without `,`: RFC 7677's test
    /// vector uses `rOprNGfwEbeRWgbNEkqO`).
    pub fn with_nonce(username: &str, password: &str, nonce: &str) -> Self {
        Self {
            username: username.to_string(),
            password: password.to_string(),
            nonce: nonce.to_string(),
            expected: None,
        }
    }

    fn client_first_bare(&self) -> String {
        format!("n={},r={}", messages::escape(&self.username), self.nonce)
    }

    /// client-first: the CONNECT's authentication data.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare()).into_bytes()
    }

    /// client-final, the answer to server-first (the data of the server's AUTH 0x18).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramClientError> {
        let text = messages::text(server_first).map_err(ScramClientError::Malformed)?;
        let first = messages::ServerFirst::parse(text).map_err(ScramClientError::Malformed)?;
        if first.nonce.len() <= self.nonce.len() || !first.nonce.starts_with(&self.nonce) {
            return Err(ScramClientError::Nonce);
        }
        let without_proof = format!("c={},r={}", B64.encode("n,,"), first.nonce);
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare());
        let salted = salted_password(self.password.as_bytes(), &first.salt, first.iterations);
        let client_key = hmac(&salted, b"Client Key");
        let signature = hmac(&sha256(&client_key), auth_message.as_bytes());
        let proof = xor(&client_key, &signature);
        self.expected = Some(hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks server-final (the CONNACK's authentication data): the server proved it knows the
    /// password's ServerKey.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramClientError> {
        let expected = self.expected.ok_or(ScramClientError::OutOfTurn("server-final"))?;
        let signature = messages::text(server_final)
            .and_then(messages::server_final)
            .map_err(ScramClientError::Malformed)?;
        if constant_time_eq(&signature, &expected) {
            Ok(())
        } else {
            Err(ScramClientError::ServerSignature)
        }
    }
}
