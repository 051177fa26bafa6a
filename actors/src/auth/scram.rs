//! SCRAM-SHA-256 (RFC 5802, RFC 7677), the server side: the enhanced-authentication method an
//! MQTT 5 client names `SCRAM-SHA-256`, checked against the password file's `$scram-sha-256$`
//! entries ([`ScramCredentials`]). It owns the credential math (also used to check a plain
//! CONNECT password against such an entry) and the exchange; the message grammar is in
//! `messages`, the client side (for tests and tools) in [`client`].
//!
//! The exchange as MQTT 5 carries it (section 4.12), authentication data in quotes:
//!
//! 1. CONNECT, method `SCRAM-SHA-256`, client-first `n,,n=<user>,r=<client nonce>`;
//! 2. AUTH 0x18, server-first `r=<client nonce><server nonce>,s=<salt>,i=<iterations>`;
//! 3. AUTH 0x18, client-final `c=biws,r=<the same nonce>,p=<ClientProof>`;
//! 4. CONNACK 0x00, server-final `v=<ServerSignature>` (or CONNACK 0x87 on a wrong proof).
//!
//! What is supported, and what not:
//!
//! - No channel binding: the gs2 header is `n,,` (or `y,,`, which RFC 5802 section 6 says a
//!   server without channel binding accepts); `p=…` is refused, and so is an authorization
//!   identity (`a=`) and the reserved mandatory extension `m=`. Optional extensions are
//!   ignored.
//! - SASLprep (RFC 4013) is approximated as "printable ASCII only": every message must be
//!   bytes 0x20..=0x7E, on which SASLprep is the identity; anything else is malformed.
//!   `arbor passwd --scram` likewise refuses a password outside printable ASCII, so a stored
//!   key never depends on a normalisation this module does not do.
//! - User names carry RFC 5802's `=2C` (`,`) and `=3D` (`=`) escapes; any other `=` is
//!   malformed.
//! - An unknown user (or one whose entry is not a SCRAM entry) gets a server-first with a
//!   made-up but stable salt and fails at client-final with the same 0x87 as a wrong
//!   password, so the exchange does not tell who exists (RFC 5802 section 9's advice).
//! - The proof is compared in constant time; every malformed message is an
//!   [`AuthFailure::Malformed`], never a panic (a proptest pass feeds it random and mutated
//!   messages).

pub mod client;
mod messages;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::constant_time_eq;
use super::enhanced::{AuthExchange, AuthFailure, AuthMethod, AuthStep};

/// The method's name in CONNECT's and AUTH's Authentication Method property.
pub const METHOD: &str = "SCRAM-SHA-256";
/// The iteration count `arbor passwd --scram` uses unless told otherwise, and the least it
/// accepts (RFC 7677 section 4: at least 4096).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// How a password file entry in this format starts.
pub const ENTRY_PREFIX: &str = "$scram-sha-256$";

const KEY_LEN: usize = 32;
const SALT_LEN: usize = 16;
type Key = [u8; KEY_LEN];

/// What the server keeps of a SCRAM-SHA-256 password (RFC 5802 section 3): enough to check a
/// proof and sign the answer, not enough to log in as the user.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// PBKDF2 iterations (`i=`).
    pub iterations: u32,
    /// PBKDF2 salt (`s=`).
    pub salt: Vec<u8>,
    /// H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Key,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Key,
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredentials {
    /// The credentials of `password` with `salt` and `iterations`.
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Self {
        let salted = salted_password(password, salt, iterations);
        Self {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&hmac(&salted, b"Client Key")),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// The credentials of `password` with a fresh random 16-byte salt. Refuses a password
    /// outside printable ASCII (see the module docs on SASLprep) and fewer than
    /// [`DEFAULT_ITERATIONS`] iterations.
    pub fn generate(password: &[u8], iterations: u32) -> Result<Self, String> {
        if password.is_empty() || !password.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err("a SCRAM-SHA-256 password must be non-empty printable ASCII".into());
        }
        if iterations < DEFAULT_ITERATIONS {
            return Err(format!(
                "SCRAM-SHA-256 needs at least {DEFAULT_ITERATIONS} iterations"
            ));
        }
        let mut salt = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        Ok(Self::derive(password, &salt, iterations))
    }

    /// Whether `password` is the one these credentials were made from (a plain CONNECT
    /// password against a SCRAM entry): derives SaltedPassword and compares StoredKey in
    /// constant time.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        let salted = salted_password(password, &self.salt, self.iterations);
        constant_time_eq(&sha256(&hmac(&salted, b"Client Key")), &self.stored_key)
    }

    /// The password file form:
    /// `$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>`, base64 fields.
    pub fn to_entry(&self) -> String {
        format!(
            "{ENTRY_PREFIX}{}${}${}${}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }

    /// Parses [`ScramCredentials::to_entry`]'s form; the error says which field is wrong.
    pub fn parse_entry(text: &str) -> Result<Self, String> {
        let fields = text
            .strip_prefix(ENTRY_PREFIX)
            .ok_or_else(|| format!("a SCRAM-SHA-256 entry starts with {ENTRY_PREFIX}"))?;
        let [iterations, salt, stored, server] = fields.split('$').collect::<Vec<_>>()[..] else {
            return Err(format!(
                "expected {ENTRY_PREFIX}<iterations>$<salt>$<StoredKey>$<ServerKey>"
            ));
        };
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|&i| i > 0)
            .ok_or_else(|| format!("iterations `{iterations}` is not a positive number"))?;
        let salt = B64.decode(salt).map_err(|_| "salt is not base64".to_string())?;
        if salt.is_empty() {
            return Err("empty salt".into());
        }
        let key = |field: &str, what: &str| -> Result<Key, String> {
            B64.decode(field)
                .ok()
                .and_then(|k| Key::try_from(k).ok())
                .ok_or_else(|| format!("{what} is not {KEY_LEN} bytes of base64"))
        };
        Ok(Self {
            iterations,
            salt,
            stored_key: key(stored, "StoredKey")?,
            server_key: key(server, "ServerKey")?,
        })
    }
}

/// The SCRAM-SHA-256 method: the users with SCRAM entries, by name.
pub struct ScramSha256 {
    users: HashMap<String, ScramCredentials>,
    nonce: Arc<dyn Fn() -> String + Send + Sync>,
}

impl ScramSha256 {
    /// The method over these users' credentials, with random server nonces.
    pub fn new(users: impl IntoIterator<Item = (String, ScramCredentials)>) -> Self {
        Self {
            users: users.into_iter().collect(),
            nonce: Arc::new(random_nonce),
        }
    }

    /// Replaces the server nonce generator; for tests that replay a known exchange (RFC 7677's
    /// vector). The nonce must be printable ASCII without `,`.
    pub fn with_nonce_source(mut self, nonce: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.nonce = Arc::new(nonce);
        self
    }
}

impl AuthMethod for ScramSha256 {
    fn name(&self) -> &str {
        METHOD
    }

    fn begin(&self, data: Option<&[u8]>) -> Result<(Box<dyn AuthExchange>, AuthStep), AuthFailure> {
        let data = data.ok_or_else(|| {
            AuthFailure::Protocol("SCRAM-SHA-256 starts with client-first as authentication data".into())
        })?;
        let first = messages::text(data)
            .and_then(messages::ClientFirst::parse)
            .map_err(AuthFailure::Malformed)?;
        if first.authzid {
            return Err(AuthFailure::NotAuthorized(
                "an authorization identity (a=) is not supported".into(),
            ));
        }
        let (credentials, known) = match self.users.get(&first.username) {
            Some(c) => (c.clone(), true),
            None => (decoy(&first.username), false),
        };
        let nonce = format!("{}{}", first.nonce, (self.nonce)());
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credentials.salt),
            credentials.iterations
        );
        let exchange = ServerExchange::Waiting(Box::new(Pending {
            gs2_header: first.gs2_header.to_string(),
            auth_message_start: format!("{},{server_first}", first.bare),
            username: first.username,
            nonce,
            credentials,
            known,
        }));
        Ok((Box::new(exchange), AuthStep::Continue(server_first.into_bytes())))
    }
}

/// What the server remembers between server-first and client-final.
struct Pending {
    username: String,
    gs2_header: String,
    nonce: String,
    /// client-first-bare "," server-first: the start of AuthMessage.
    auth_message_start: String,
    credentials: ScramCredentials,
    known: bool,
}

/// One exchange: waiting for client-final, then over (whatever the outcome).
enum ServerExchange {
    Waiting(Box<Pending>),
    Over,
}

impl AuthExchange for ServerExchange {
    fn step(&mut self, data: &[u8]) -> Result<AuthStep, AuthFailure> {
        let Self::Waiting(pending) = std::mem::replace(self, Self::Over) else {
            return Err(AuthFailure::Protocol("the SCRAM-SHA-256 exchange is over".into()));
        };
        let last = messages::text(data)
            .and_then(messages::ClientFinal::parse)
            .map_err(AuthFailure::Malformed)?;
        if last.channel_binding != pending.gs2_header.as_bytes() {
            return Err(AuthFailure::NotAuthorized(
                "client-final's c= is not client-first's gs2 header".into(),
            ));
        }
        if last.nonce != pending.nonce {
            return Err(AuthFailure::NotAuthorized(
                "client-final's nonce is not the exchange's".into(),
            ));
        }
        let auth_message = format!("{},{}", pending.auth_message_start, last.without_proof);
        let keys = &pending.credentials;
        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) must be StoredKey.
        let signature = hmac(&keys.stored_key, auth_message.as_bytes());
        let client_key = xor(&last.proof, &signature);
        let proof_ok = constant_time_eq(&sha256(&client_key), &keys.stored_key);
        if !(proof_ok && pending.known) {
            return Err(AuthFailure::NotAuthorized(
                "wrong SCRAM-SHA-256 proof (wrong password or unknown user)".into(),
            ));
        }
        let server_signature = hmac(&keys.server_key, auth_message.as_bytes());
        Ok(AuthStep::Success {
            username: pending.username,
            data: Some(format!("v={}", B64.encode(server_signature)).into_bytes()),
        })
    }
}

/// Stable made-up credentials for a user without a SCRAM entry: the salt is keyed by a
/// per-process secret, so it is the same on every attempt and guessable by no one.
fn decoy(username: &str) -> ScramCredentials {
    static SECRET: OnceLock<Key> = OnceLock::new();
    let secret = SECRET.get_or_init(|| {
        let mut key = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut key);
        key
    });
    let keyed = |what: &str| hmac(secret, format!("{what}\0{username}").as_bytes());
    ScramCredentials {
        iterations: DEFAULT_ITERATIONS,
        salt: keyed("salt")[..SALT_LEN].to_vec(),
        stored_key: keyed("stored"),
        server_key: keyed("server"),
    }
}

/// 18 random bytes in base64: 24 printable characters, no `,`.
fn random_nonce() -> String {
    let mut bytes = [0u8; 18];
    OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

fn hmac(key: &[u8], data: &[u8]) -> Key {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC accepts every key length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256(data: &[u8]) -> Key {
    Sha256::digest(data).into()
}

fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> Key {
    let mut out = [0u8; KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

fn xor(a: &[u8], b: &Key) -> Key {
    let mut out = *b;
    for (o, x) in out.iter_mut().zip(a) {
        *o ^= x;
    }
    out
}
