//! Access control (emqttd_access_control): who may connect, and what they may publish and
//! subscribe to.
//!
//! One [`AccessControl`] combines `auth.allow_anonymous`, the password file
//! ([`crate::auth::passwd`]) and the ACL ([`crate::auth::acl`]). [`Access`] is the handle every
//! connection and session reads it through; it is swapped whole on reload (`arbor ctl acl
//! reload`, SIGHUP): a reload that fails (a malformed line) keeps the old rules and says why, and
//! no connection is dropped either way.
//!
//! MQTT 5 enhanced authentication ([`crate::auth::enhanced`]: the AUTH exchange's hook, and
//! [`crate::auth::scram`], SCRAM-SHA-256) hangs off the same [`AccessControl`]: its methods are
//! built from the password file, so a reload swaps their credentials too.

pub mod acl;
pub mod enhanced;
pub mod passwd;
pub mod scram;

use std::sync::Arc;

use crate::auth::acl::{Acl, Action, Permission, Who};
use crate::auth::enhanced::AuthMethods;
use crate::auth::passwd::PasswordFile;
use parking_lot::RwLock;

use crate::codec::ConnectReturnCode;
use crate::config::BrokerConfig;

/// The loaded rules.
pub struct AccessControl {
    allow_anonymous: bool,
    passwords: Option<PasswordFile>,
    methods: AuthMethods,
    acl: Acl,
}

impl AccessControl {
    /// Allows everything (the defaults).
    pub fn allow_all() -> Self {
        Self {
            allow_anonymous: true,
            passwords: None,
            methods: AuthMethods::default(),
            acl: Acl::allow_all(),
        }
    }

    /// Loads the password file and ACL the configuration names; the error names the file and
    /// line, or the rule.
    pub fn load(config: &BrokerConfig) -> Result<Self, String> {
        let passwords = match &config.auth.password_file {
            Some(path) => Some(PasswordFile::load(path).map_err(|e| e.to_string())?),
            None => None,
        };
        let acl = Acl::new(&config.acl.rules, config.acl.no_match)?;
        Ok(Self {
            allow_anonymous: config.auth.allow_anonymous,
            methods: AuthMethods::from_password_file(passwords.as_ref()),
            passwords,
            acl,
        })
    }

    /// CONNECT's credentials: `Err` carries the CONNACK code, 0x05 for an anonymous client when
    /// that is not allowed, 0x04 for a wrong user name or password [MQTT-3.2.2-5].
    pub fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ConnectReturnCode> {
        match (username, &self.passwords) {
            (None, _) if self.allow_anonymous => Ok(()),
            (None, _) => Err(ConnectReturnCode::NotAuthorized),
            (Some(user), Some(file)) => {
                if file.verify(user, password.unwrap_or_default()) {
                    Ok(())
                } else {
                    Err(ConnectReturnCode::BadUsernameOrPassword)
                }
            }
            (Some(_), None) if self.allow_anonymous => Ok(()),
            (Some(_), None) => Err(ConnectReturnCode::NotAuthorized),
        }
    }

    /// The enhanced-authentication methods on offer (MQTT 5 CONNECT with an Authentication
    /// Method): see [`crate::auth::enhanced`].
    pub fn methods(&self) -> &AuthMethods {
        &self.methods
    }

    /// Whether `who` may `action` on `topic`.
    pub fn allowed(&self, who: &Who<'_>, action: Action, topic: &str) -> bool {
        self.acl.check(who, action, topic) == Permission::Allow
    }
}

/// Compares without stopping at the first difference, so timing does not leak a secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The rules in force, shared by everyone who checks them; see the module docs.
#[derive(Clone)]
pub struct Access(Arc<RwLock<Arc<AccessControl>>>);

impl Access {
    /// The rules `config` names, loaded.
    pub fn load(config: &BrokerConfig) -> Result<Self, String> {
        Ok(Self(Arc::new(RwLock::new(Arc::new(AccessControl::load(
            config,
        )?)))))
    }

    /// The rules now (a reload does not change what a caller already holds).
    pub fn current(&self) -> Arc<AccessControl> {
        self.0.read().clone()
    }

    /// Loads the password file and ACL that `config` names and puts them in force; on any error
    /// the old rules stay and the error says why.
    pub fn reload(&self, config: &BrokerConfig) -> Result<(), String> {
        let access = AccessControl::load(config)
            .inspect_err(|e| tracing::warn!(error = %e, "reload failed, old rules kept"))?;
        *self.0.write() = Arc::new(access);
        tracing::info!("access control reloaded");
        Ok(())
    }
}
