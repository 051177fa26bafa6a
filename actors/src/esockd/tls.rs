//! A TLS listener's certificates and options (`[listeners.<name>.tls]`), turned into the rustls
//! server configuration its connections handshake with (emqttd's `ssl_options`).
//!
//! Loading reads every file the options name and fails with a [`TlsError`] naming the file and
//! what is wrong with it, so a bad certificate stops the boot with one line. The loaded
//! configuration lives in the listener's table and is swapped whole by a reload
//! ([`crate::esockd::table::ListenerTable::reload_tls`]): connections already up keep the one they
//! handshook with, new ones get the new one, nothing is dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// `[listeners.<name>.tls]`: required by the kinds `tls` and `wss`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain, PEM, leaf first.
    pub certfile: PathBuf,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub keyfile: PathBuf,
    /// CA certificates (PEM) that client certificates are checked against; `""` for none.
    pub cacertfile: PathBuf,
    /// Whether client certificates are asked for and checked.
    pub verify: Verify,
    /// With `verify = "peer"`: whether a client without a certificate is refused.
    pub fail_if_no_peer_cert: bool,
    /// TLS versions offered: `"tlsv1.2"`, `"tlsv1.3"`.
    pub versions: Vec<String>,
    /// Cipher suites offered, by their IANA names (`TLS13_AES_128_GCM_SHA256`, …); empty for
    /// the provider's defaults.
    pub ciphers: Vec<String>,
    /// emqttd's `peer_cert_as_username`: `""` (off), `"cn"` or `"dn"` of the client
    /// certificate becomes the username, so the ACL applies to it.
    pub peer_cert_as_username: PeerCertAsUsername,
}

/// `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// No client certificate is asked for.
    None,
    /// Client certificates are asked for and checked against `cacertfile`.
    Peer,
}

/// `peer_cert_as_username`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PeerCertAsUsername {
    /// Off.
    #[serde(rename = "")]
    Off,
    /// The subject's common name.
    #[serde(rename = "cn")]
    Cn,
    /// The whole subject, as RFC 4514 writes it.
    #[serde(rename = "dn")]
    Dn,
}

/// A TLS option that cannot be used; names the file or key and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds nothing usable.
    #[error("{}: {problem}", file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// An option's value is wrong.
    #[error("`{key}`: {problem}")]
    Option {
        /// The key, relative to the listener's `tls` table.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// The options in force, as the connections use them.
#[derive(Clone)]
pub struct LoadedTls {
    /// What handshakes use.
    pub server: Arc<ServerConfig>,
    /// Whether the client certificate names the user.
    pub peer_cert_as_username: PeerCertAsUsername,
}

impl std::fmt::Debug for LoadedTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedTls").finish_non_exhaustive()
    }
}

/// The ALPN protocol offered (a client that names none is served too).
const ALPN_MQTT: &[u8] = b"mqtt";

impl TlsConfig {
    /// Reads the files and builds the server configuration. `alpn` lists protocols to
    /// advertise besides `mqtt` (a WebSocket listener adds `http/1.1`).
    pub fn load(&self, alpn: &[&[u8]]) -> Result<LoadedTls, TlsError> {
        let provider = Arc::new(self.provider()?);
        let versions = self.versions()?;
        let certs = read_certs(&self.certfile)?;
        let key = PrivateKeyDer::from_pem_file(&self.keyfile).map_err(|e| file_error(&self.keyfile, e))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| option("versions", e))?;
        let builder = match self.verify {
            Verify::None => builder.with_no_client_auth(),
            Verify::Peer => {
                if self.cacertfile.as_os_str().is_empty() {
                    return Err(option(
                        "cacertfile",
                        "must name the CA file when verify = \"peer\"",
                    ));
                }
                let mut roots = RootCertStore::empty();
                for cert in read_certs(&self.cacertfile)? {
                    roots.add(cert).map_err(|e| file_error(&self.cacertfile, e))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if self.fail_if_no_peer_cert {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                builder
                    .with_client_cert_verifier(verifier.build().map_err(|e| file_error(&self.cacertfile, e))?)
            }
        };
        let mut server = builder.with_single_cert(certs, key).map_err(|e| {
            file_error(
                &self.keyfile,
                format!("does not match {}: {e}", self.certfile.display()),
            )
        })?;
        server.alpn_protocols = std::iter::once(ALPN_MQTT)
            .chain(alpn.iter().copied())
            .map(<[u8]>::to_vec)
            .collect();
        Ok(LoadedTls {
            server: Arc::new(server),
            peer_cert_as_username: self.peer_cert_as_username,
        })
    }

    fn provider(&self) -> Result<CryptoProvider, TlsError> {
        let mut provider = ring::default_provider();
        if !self.ciphers.is_empty() {
            let mut chosen = Vec::new();
            for name in &self.ciphers {
                let suite = ring::ALL_CIPHER_SUITES
                    .iter()
                    .find(|s| s.suite().as_str() == Some(name.as_str()))
                    .ok_or_else(|| option("ciphers", format!("unknown cipher suite {name:?}")))?;
                chosen.push(*suite);
            }
            provider.cipher_suites = chosen;
        }
        Ok(provider)
    }

    fn versions(&self) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
        if self.versions.is_empty() {
            return Err(option(
                "versions",
                "must name at least one of \"tlsv1.2\", \"tlsv1.3\"",
            ));
        }
        self.versions
            .iter()
            .map(|v| match v.as_str() {
                "tlsv1.2" => Ok(&rustls::version::TLS12),
                "tlsv1.3" => Ok(&rustls::version::TLS13),
                other => Err(option(
                    "versions",
                    format!("expected \"tlsv1.2\" or \"tlsv1.3\", found {other:?}"),
                )),
            })
            .collect()
    }
}

/// Every certificate of a PEM file; none is an error.
fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| file_error(file, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(file, e))?;
    if certs.is_empty() {
        return Err(file_error(file, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn file_error(file: &Path, problem: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        file: file.to_path_buf(),
        problem: problem.to_string(),
    }
}

fn option(key: &'static str, problem: impl std::fmt::Display) -> TlsError {
    TlsError::Option {
        key,
        problem: problem.to_string(),
    }
}

/// The username a client certificate gives under `how`: its subject's CN or whole DN. `None`
/// when off, when there is no certificate, or when it has no such field.
pub fn peer_cert_username(how: PeerCertAsUsername, cert: Option<&CertificateDer<'_>>) -> Option<String> {
    if how == PeerCertAsUsername::Off {
        return None;
    }
    let (_, parsed) = x509_parser::parse_x509_certificate(cert?.as_ref()).ok()?;
    let subject = parsed.subject();
    match how {
        PeerCertAsUsername::Off => None,
        PeerCertAsUsername::Cn => subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned),
        PeerCertAsUsername::Dn => Some(subject.to_string()),
    }
}
