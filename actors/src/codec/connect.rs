//! CONNECT (MQTT 3.1.1 section 3.1, MQTT 3.1 section 3.1, MQTT 5 section 3.1): the first
//! packet of every connection, and the one that decides its protocol level.
//!
//! The protocol name and level are checked first and on their own, whatever follows in the
//! packet: a name that is not MQTT's (`MQTU`, empty, `mqtt`) is
//! [`CodecError::UnknownProtocolName`], closed without a reply [MQTT-3.1.2-1]; MQTT's name with
//! a level we do not speak (a level 6, `MQIsdp` level 4) is [`CodecError::UnsupportedProtocol`],
//! which the connection answers with a 3.1.1 CONNACK 0x01 [MQTT-3.1.2-2]. Once the level is
//! known to be 5, every later error is wrapped in [`CodecError::InvalidV5Connect`]: the client
//! speaks MQTT 5 and is told why in an MQTT 5 CONNACK (0x81 malformed, 0x82 protocol error)
//! [MQTT-3.1.4-1].
//!
//! MQTT 5 adds CONNECT properties after the keep alive and will properties before the will
//! topic, allows a password without a user name (section 3.1.2.9), and, like every MQTT 5
//! variable byte integer, wants the remaining length in its shortest form [MQTT-1.5.5-1].
//!
//! The client id is any valid UTF-8 string, empty included: whether to accept it (3.1's
//! 23-character limit, an empty id without clean session [MQTT-3.1.3-8]) is the broker's
//! decision, answered with CONNACK 0x02 (0x85), not a malformed packet.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::CodecError;
use super::fields::{PacketType, ProtocolLevel, QoS};
use super::properties::{self, Properties, PropertiesOf};
use super::topic_rules::TopicName;
use super::wire::{prefixed_len, put_prefixed, Reader};

const FLAG_RESERVED: u8 = 0x01;
const FLAG_CLEAN_SESSION: u8 = 0x02;
const FLAG_WILL: u8 = 0x04;
const WILL_QOS_SHIFT: u8 = 3;
const FLAG_WILL_QOS: u8 = 0b11 << WILL_QOS_SHIFT;
const FLAG_WILL_RETAIN: u8 = 0x20;
const FLAG_PASSWORD: u8 = 0x40;
const FLAG_USERNAME: u8 = 0x80;

/// A client's request to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol the client speaks; pass it to `decode` for the rest of the connection.
    pub level: ProtocolLevel,
    /// Client identifier, possibly empty; the broker decides whether to accept it.
    pub client_id: String,
    /// Discard any previous session and start a new one [MQTT-3.1.2-6]. In MQTT 5 this is
    /// Clean Start [MQTT-3.1.2-4]: how long the session lasts is the Session Expiry Interval.
    pub clean_session: bool,
    /// Seconds the client may stay silent; 0 turns the keepalive off [MQTT-3.1.2-24].
    pub keep_alive: u16,
    /// Will published if the connection ends without DISCONNECT.
    pub will: Option<Will>,
    /// User name, if the username flag was set.
    pub username: Option<String>,
    /// Password: binary data, not a string, and never shown by `Debug`.
    pub password: Option<Bytes>,
    /// MQTT 5 only: session expiry, receive maximum, maximum packet size, topic alias
    /// maximum, authentication and the other CONNECT properties.
    pub properties: Option<Box<Properties>>,
}

/// The will message of a CONNECT [MQTT-3.1.2-8].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Where the will is published; already checked like a PUBLISH topic.
    pub topic: TopicName,
    /// The will message, a zero-copy view of the CONNECT frame.
    pub payload: Bytes,
    /// QoS the will is published with.
    pub qos: QoS,
    /// Whether the will is published retained.
    pub retain: bool,
    /// MQTT 5 only: will delay interval and the properties the will's PUBLISH carries.
    pub properties: Option<Box<Properties>>,
}

impl Connect {
    /// `shortest_header`: whether the fixed header's remaining length was in its shortest
    /// form, which MQTT 5 requires.
    pub(crate) fn decode(mut r: Reader, shortest_header: bool) -> Result<Connect, CodecError> {
        let name = r.binary("protocol name")?;
        let level_byte = r.u8("protocol level")?;
        let Some(level) = ProtocolLevel::from_name_and_level(&name, level_byte) else {
            if !ProtocolLevel::is_known_name(&name) {
                return Err(CodecError::UnknownProtocolName { name });
            }
            return Err(CodecError::UnsupportedProtocol {
                name,
                level: level_byte,
            });
        };
        if level != ProtocolLevel::V5 {
            return Self::decode_after_level(r, level);
        }
        if !shortest_header {
            let error = CodecError::NonMinimalVarInt {
                field: "remaining length",
            };
            return Err(CodecError::InvalidV5Connect(Box::new(error)));
        }
        Self::decode_after_level(r, level).map_err(|error| CodecError::InvalidV5Connect(Box::new(error)))
    }

    fn decode_after_level(mut r: Reader, level: ProtocolLevel) -> Result<Connect, CodecError> {
        let v5 = level == ProtocolLevel::V5;
        let flags = r.u8("connect flags")?;
        if flags & FLAG_RESERVED != 0 {
            return Err(CodecError::ConnectReservedFlag(flags));
        }
        let will_qos_bits = (flags & FLAG_WILL_QOS) >> WILL_QOS_SHIFT;
        let has_will = flags & FLAG_WILL != 0;
        if !has_will && flags & (FLAG_WILL_QOS | FLAG_WILL_RETAIN) != 0 {
            return Err(CodecError::WillFlagsWithoutWill(flags));
        }
        let will_qos = QoS::from_u8(will_qos_bits).ok_or(CodecError::InvalidWillQoS(flags))?;
        let has_username = flags & FLAG_USERNAME != 0;
        let has_password = flags & FLAG_PASSWORD != 0;
        // MQTT 3.1 and 5 allow a password alone; 3.1.1 does not.
        if level == ProtocolLevel::V311 && has_password && !has_username {
            return Err(CodecError::PasswordWithoutUsername(flags));
        }

        let keep_alive = r.u16("keep alive")?;
        let properties = if v5 {
            Properties::decode(&mut r, PropertiesOf::Packet(PacketType::Connect))?
        } else {
            None
        };
        let client_id = r.string("client id")?;
        let will = if has_will {
            let properties = if v5 {
                Properties::decode(&mut r, PropertiesOf::Will)?
            } else {
                None
            };
            Some(Will {
                topic: r.topic_name("will topic")?,
                payload: r.binary("will payload")?,
                qos: will_qos,
                retain: flags & FLAG_WILL_RETAIN != 0,
                properties,
            })
        } else {
            None
        };
        let username = if has_username {
            Some(r.string("username")?)
        } else {
            None
        };
        let password = if has_password {
            Some(r.binary("password")?)
        } else {
            None
        };
        r.finish(PacketType::Connect)?;

        Ok(Connect {
            level,
            client_id,
            clean_session: flags & FLAG_CLEAN_SESSION != 0,
            keep_alive,
            will,
            username,
            password,
            properties,
        })
    }

    /// Written at the CONNECT's own `level`: properties only at level 5.
    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        let v5 = self.level == ProtocolLevel::V5;
        put_prefixed(buf, self.level.name().as_bytes(), "protocol name");
        buf.put_u8(self.level.as_u8());
        buf.put_u8(self.flags());
        buf.put_u16(self.keep_alive);
        if v5 {
            let of = PropertiesOf::Packet(PacketType::Connect);
            properties::encode(self.properties.as_deref(), of, buf);
        }
        put_prefixed(buf, self.client_id.as_bytes(), "client id");
        if let Some(will) = &self.will {
            if v5 {
                properties::encode(will.properties.as_deref(), PropertiesOf::Will, buf);
            }
            put_prefixed(buf, will.topic.as_bytes(), "will topic");
            put_prefixed(buf, &will.payload, "will payload");
        }
        if let Some(username) = &self.username {
            put_prefixed(buf, username.as_bytes(), "username");
        }
        if let Some(password) = &self.password {
            put_prefixed(buf, password, "password");
        }
    }

    /// Length of the body: protocol name, level, flags, keep alive, properties, then the
    /// payload.
    pub(crate) fn len(&self) -> usize {
        let v5 = self.level == ProtocolLevel::V5;
        let mut len = prefixed_len(self.level.name().as_bytes()) + 1 + 1 + 2;
        if v5 {
            len += properties::encoded_len(self.properties.as_deref());
        }
        len += prefixed_len(self.client_id.as_bytes());
        if let Some(will) = &self.will {
            len += prefixed_len(will.topic.as_bytes()) + prefixed_len(&will.payload);
            if v5 {
                len += properties::encoded_len(will.properties.as_deref());
            }
        }
        len += self.username.as_ref().map_or(0, |u| prefixed_len(u.as_bytes()));
        len += self.password.as_ref().map_or(0, |p| prefixed_len(p));
        len
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_session {
            flags |= FLAG_CLEAN_SESSION;
        }
        if let Some(will) = &self.will {
            flags |= FLAG_WILL | will.qos.as_u8() << WILL_QOS_SHIFT;
            if will.retain {
                flags |= FLAG_WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= FLAG_USERNAME;
        }
        if self.password.is_some() {
            flags |= FLAG_PASSWORD;
        }
        flags
    }
}

/// Shows everything but the password, so a CONNECT can be logged.
impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect")
            .field("level", &self.level)
            .field("client_id", &self.client_id)
            .field("clean_session", &self.clean_session)
            .field("keep_alive", &self.keep_alive)
            .field("will", &self.will)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("properties", &self.properties)
            .finish()
    }
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
#[cfg(test)]
#[path = "connect_v5_tests.rs"]
mod v5_tests;
