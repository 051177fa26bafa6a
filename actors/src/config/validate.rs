//! The configuration's cross-field rules: what no single value's type can say (ranges that
//! depend on each other, listener names and addresses, the admin token). Each broken rule is a
//! [`ConfigInvalid`] naming its key.

use super::*;

impl BrokerConfig {
    /// Checks the rules no single value can: ranges, listener names, the admin token.
    /// Returns the first broken rule, in file order.
    pub fn validate(&self) -> Result<(), ConfigInvalid> {
        let invalid = |key: &str, reason: String| {
            Err(ConfigInvalid {
                key: key.to_owned(),
                reason,
            })
        };
        if self.node.name.is_empty() {
            return invalid("node.name", "must not be empty".into());
        }
        if self.storage.is_disk() && self.storage.dir.as_os_str().is_empty() {
            return invalid(
                "storage.dir",
                "must not be empty with storage.backend = \"disk\"".into(),
            );
        }
        if self.listeners.is_empty() {
            return invalid("listeners", "must define at least one listener".into());
        }
        let mut binds: BTreeMap<SocketAddr, &str> = BTreeMap::new();
        for (name, listener) in &self.listeners {
            let key = |field: &str| format!("listeners.{name}.{field}");
            if !valid_listener_name(name) {
                return invalid(
                    &format!("listeners.{name}"),
                    "a listener name is lower case letters, digits and single `_`, \
                     starting with a letter"
                        .into(),
                );
            }
            if listener.acceptors == 0 {
                return invalid(&key("acceptors"), "must be at least 1".into());
            }
            if listener.max_connections == 0 {
                return invalid(&key("max_connections"), "must be at least 1".into());
            }
            if listener.kind.uses_tls() && listener.tls.is_none() {
                return invalid(
                    &key("tls"),
                    format!("kind \"{}\" needs a [listeners.{name}.tls] table", listener.kind),
                );
            }
            if listener.kind.uses_ws() && !listener.ws.as_ref().is_some_and(|w| w.path.starts_with('/')) {
                return invalid(
                    &key("ws"),
                    format!(
                        "kind \"{}\" needs [listeners.{name}.ws] with a path starting with `/`",
                        listener.kind
                    ),
                );
            }
            if listener.bind.port() != 0 {
                if let Some(other) = binds.insert(listener.bind, name) {
                    return invalid(
                        &key("bind"),
                        format!("{} is also the address of listener `{other}`", listener.bind),
                    );
                }
            }
        }
        if self.admin.token.is_none() && !self.admin.bind.ip().is_loopback() {
            return invalid(
                "admin.token",
                format!(
                    "must be set when `admin.bind` ({}) is not a loopback address",
                    self.admin.bind
                ),
            );
        }
        if !(2..=MAX_MQTT_FRAME).contains(&self.mqtt.max_packet_size) {
            return invalid(
                "mqtt.max_packet_size",
                format!("must be between 2 and {MAX_MQTT_FRAME} bytes"),
            );
        }
        if self.mqtt.max_qos > 2 {
            return invalid("mqtt.max_qos", "must be 0, 1 or 2".into());
        }
        if self.mqtt.receive_maximum == 0 {
            return invalid("mqtt.receive_maximum", "must be at least 1".into());
        }
        let non_zero = [
            ("mqtt.connect_timeout", self.mqtt.connect_timeout),
            ("mqtt.frame_timeout", self.mqtt.frame_timeout),
            ("session.retry_interval", self.session.retry_interval),
            ("session.await_rel_timeout", self.session.await_rel_timeout),
            ("sys.interval", self.sys.interval),
        ];
        for (key, duration) in non_zero {
            if duration.is_zero() {
                return invalid(key, "must be longer than zero".into());
            }
        }
        if self.session.max_inflight == 0 {
            return invalid("session.max_inflight", "must be at least 1".into());
        }
        for (name, intensity) in self.supervisors.iter() {
            if intensity.max_seconds == 0 {
                return invalid(
                    &format!("supervisors.{name}.max_seconds"),
                    "must be at least 1".into(),
                );
            }
        }
        Ok(())
    }
}

/// Lower case ASCII letters, digits and `_`, starting with a letter and with no `__`, so that
/// every listener can be named in an `ARBOR__LISTENERS__<NAME>__…` variable and a tree path.
fn valid_listener_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
}
