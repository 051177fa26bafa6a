//! Password files: one `username:hash` a line (emqttd's auth_username / Mosquitto's
//! password_file).
//!
//! Hashes understood: argon2id in PHC form (`$argon2id$v=19$…`, what `arbor passwd` writes), and
//! Mosquitto's two formats so existing `mosquitto_passwd` files work unchanged: `$7$<iter>$<salt>$
//! <hash>` (PBKDF2-HMAC-SHA512, the Mosquitto 2 default) and `$6$<salt>$<hash>` (salted SHA-512),
//! both with base64 fields. Comparisons of derived keys are constant time. A malformed line is an
//! error naming the file and the line, so a bad file never half-loads.
//!
//! SCRAM-SHA-256 entries (`arbor passwd --scram`) are
//! `$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>`, base64 fields: what
//! PostgreSQL stores for the same method. They serve both MQTT 5 enhanced authentication
//! ([`crate::auth::scram`], which an argon2id or Mosquitto hash cannot: SCRAM needs the salted
//! key, not a one-way hash of the password) and a plain CONNECT password (PBKDF2-HMAC-SHA256
//! gives SaltedPassword, whose StoredKey is compared in constant time).
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha512};

use crate::auth::scram::{self, ScramCredentials};

/// A malformed password file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswdError {
    /// The file cannot be read.
    #[error("cannot read password file {path}: {reason}")]
    Read {
        /// File.
        path: PathBuf,
        /// OS reason.
        reason: String,
    },
    /// A line is not `username:hash` with a known hash.
    #[error("password file {path} line {line}: {reason}")]
    Line {
        /// File.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A parsed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hash {
    Argon2(String),
    Pbkdf2 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Sha512 {
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Scram(ScramCredentials),
}

impl Hash {
    fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("$argon2") {
            PasswordHash::new(text).map_err(|e| format!("bad argon2 hash: {e}"))?;
            return Ok(Self::Argon2(text.to_string()));
        }
        if text.starts_with(scram::ENTRY_PREFIX) {
            return ScramCredentials::parse_entry(text).map(Self::Scram);
        }
        let parts: Vec<&str> = text.split('$').collect();
        let b64 = |field: &str, what: &str| B64.decode(field).map_err(|_| format!("{what} is not base64"));
        match parts.as_slice() {
            ["", "7", iterations, salt, hash] => Ok(Self::Pbkdf2 {
                iterations: iterations
                    .parse()
                    .map_err(|_| format!("iterations `{iterations}` is not a number"))?,
                salt: b64(salt, "salt")?,
                hash: b64(hash, "hash")?,
            }),
            ["", "6", salt, hash] => Ok(Self::Sha512 {
                salt: b64(salt, "salt")?,
                hash: b64(hash, "hash")?,
            }),
            _ => Err("unknown hash format (expected $argon2id$…, $scram-sha-256$…, $7$… or $6$…)".into()),
        }
    }

    fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Argon2(phc) => {
                PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok())
            }
            Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut out);
                constant_time_eq(&out, hash)
            }
            Self::Sha512 { salt, hash } => {
                let digest = Sha512::new().chain_update(password).chain_update(salt).finalize();
                constant_time_eq(&digest, hash)
            }
            Self::Scram(keys) => keys.verify_password(password),
        }
    }
}

pub use crate::auth::constant_time_eq;

/// The users of a password file.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    users: HashMap<String, Hash>,
}

impl PasswordFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, PasswdError> {
        let text = std::fs::read_to_string(path).map_err(|e| PasswdError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a file (`path` is for error messages). Blank lines and `#` comments
    /// are skipped.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PasswdError> {
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| PasswdError::Line {
                path: path.to_path_buf(),
                line: n + 1,
                reason,
            };
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected `username:hash`".into()))?;
            if user.is_empty() {
                return Err(bad("empty user name".into()));
            }
            users.insert(user.to_string(), Hash::parse(hash).map_err(bad)?);
        }
        Ok(Self { users })
    }

    /// Whether `password` is `username`'s.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        self.users.get(username).is_some_and(|h| h.verify(password))
    }

    /// The users with a SCRAM-SHA-256 entry, and their credentials.
    pub fn scram_users(&self) -> impl Iterator<Item = (&str, &ScramCredentials)> {
        self.users.iter().filter_map(|(user, hash)| match hash {
            Hash::Scram(keys) => Some((user.as_str(), keys)),
            _ => None,
        })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// An argon2id hash of `password` with a fresh salt, in PHC form (for `arbor passwd`).
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A SCRAM-SHA-256 entry for `password` with a fresh 16-byte salt (for `arbor passwd
/// --scram`); the password must be printable ASCII and `iterations` at least 4096.
pub fn hash_scram(password: &[u8], iterations: u32) -> Result<String, String> {
    ScramCredentials::generate(password, iterations).map(|keys| keys.to_entry())
}

/// Adds or replaces `username` in the text of a password file, keeping the other lines.
pub fn upsert(text: &str, username: &str, hash: &str) -> String {
    let mut out = String::new();
    let mut replaced = false;
    for line in text.lines() {
        if line.split_once(':').is_some_and(|(u, _)| u == username) {
            out.push_str(&format!("{username}:{hash}\n"));
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(&format!("{username}:{hash}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by `mosquitto_passwd -c -b f alice secret` (Mosquitto 2.0.11).
    const MOSQUITTO_7: &str = "alice:$7$101$vQU3WWoCcPOlWZ3u$FoDhEcQuZ8Yo1uJrzj4eHlFePI9nO7INcB6vQcPY/EEVyIzZtXmsp4skD5yzbdYN/Qw0l9pzMZ1RduViNfOefA==";

    #[test]
    fn mosquitto_pbkdf2_sha512_entries_verify() {
        let file = PasswordFile::parse(MOSQUITTO_7, Path::new("p")).unwrap();
        assert!(file.verify("alice", b"secret"));
        assert!(!file.verify("alice", b"Secret"));
        assert!(!file.verify("bob", b"secret"));
    }

    #[test]
    fn argon2id_round_trip_and_upsert() {
        let hash = hash_password(b"pw").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let text = upsert(&upsert("# users\n", "bob", "x"), "bob", &hash);
        assert_eq!(text.lines().count(), 2);
        let file = PasswordFile::parse(&text, Path::new("p")).unwrap();
        assert!(file.verify("bob", b"pw") && !file.verify("bob", b"nope"));
    }

    #[test]
    fn salted_sha512_entries_verify() {
        let salt = b"0123456789ab";
        let digest = Sha512::new().chain_update(b"pw").chain_update(salt).finalize();
        let line = format!("carol:$6${}${}", B64.encode(salt), B64.encode(digest));
        assert!(PasswordFile::parse(&line, Path::new("p"))
            .unwrap()
            .verify("carol", b"pw"));
    }

    #[test]
    fn scram_entries_verify_plain_passwords_and_offer_their_credentials() {
        let entry = hash_scram(b"pencil", 4096).unwrap();
        assert!(entry.starts_with("$scram-sha-256$4096$"), "{entry}");
        let text = format!("user:{entry}\nother:{}\n", hash_password(b"x").unwrap());
        let file = PasswordFile::parse(&text, Path::new("p")).unwrap();
        assert!(file.verify("user", b"pencil") && !file.verify("user", b"pencil!"));
        assert_eq!(file.scram_users().map(|(u, _)| u).collect::<Vec<_>>(), ["user"]);
        // RFC 7677's credentials, written by hand, load and verify.
        let rfc = "user:$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=$wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
        assert!(PasswordFile::parse(rfc, Path::new("p"))
            .unwrap()
            .verify("user", b"pencil"));
        assert!(
            hash_scram("pëncil".as_bytes(), 4096).is_err(),
            "non-ASCII: no SASLprep here"
        );
        assert!(hash_scram(b"pencil", 1000).is_err(), "below RFC 7677's 4096");
        for bad in [
            "$scram-sha-256$0$AAAA$AAAA$AAAA",
            "$scram-sha-256$4096$AAAA$AAAA",
            "$scram-sha-256$4096$$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
            "$scram-sha-256$4096$AAAA$AAAA$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
        ] {
            let err = PasswordFile::parse(&format!("u:{bad}"), Path::new("f")).unwrap_err();
            assert!(err.to_string().starts_with("password file f line 1: "), "{err}");
        }
    }

    #[test]
    fn a_malformed_line_names_file_and_line() {
        let err =
            PasswordFile::parse("alice:$7$101$AAAA$AAAA\nbroken line\n", Path::new("/etc/pw")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "password file /etc/pw line 2: expected `username:hash`"
        );
        let err = PasswordFile::parse("x:$9$a$b", Path::new("f")).unwrap_err();
        assert!(err.to_string().contains("line 1: unknown hash format"), "{err}");
    }
}
