//! MQTT 5 properties (section 2.2.2): the optional, typed fields a v5 packet carries between
//! its variable header and its payload.
//!
//! One [`Properties`] struct for every packet, with a field per property, rather than one
//! struct per packet type: the broker copies properties from one packet to another (a will's
//! to its PUBLISH, a PUBLISH's to each delivery), which is a move here, and the rules on which
//! property may appear where live in one table ([`PropertyId::is_allowed_in`]) instead of
//! fourteen types. Packets hold it as `Option<Box<Properties>>`: `None` on every 3.1/3.1.1
//! packet and on a v5 packet without properties (a property length of 0 decodes to `None`),
//! so the v3 hot path pays one null pointer per packet and no allocation.
//!
//! # Decoding
//! The property length is a variable byte integer checked against what remains of the frame;
//! the block is then split off and read to its end, so a property that runs past the block is
//! malformed rather than read into the payload. For each property, in order: an identifier
//! MQTT 5 does not define, or one not allowed in this packet, is a malformed packet (section
//! 2.2.2.2); a second occurrence of a property other than User Property (and Subscription
//! Identifier in PUBLISH) is a protocol error, as is a value the spec forbids (a Receive
//! Maximum of 0, a Maximum QoS of 2, a Byte flag other than 0 or 1...). A Topic Alias of 0
//! has its own reason code, 0x94 [MQTT-3.3.2-8].
//!
//! # Encoding
//! Properties are written in identifier order; the allowed-property table is checked by a
//! debug assertion, since only a broker bug can build a packet that breaks it.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::CodecError;
use super::fields::QoS;
// The identifiers live apart (see property_id.rs); every packet file takes them from here.
pub(super) use super::property_id::{PropertiesOf, PropertyId};
use super::topic_rules::TopicName;
use super::wire::{prefixed_len, put_prefixed, put_var_int, var_int_len, Reader, MAX_VAR_INT};

/// The properties of one packet (MQTT 5.0 section 2.2.2.2): each `Option` is a property that
/// may appear at most once, `None` when absent; user properties and subscription identifiers
/// may repeat and keep their order.
///
/// Values are typed: a Byte property that may only be 0 or 1 is a `bool`, Maximum QoS is a
/// [`QoS`], a Response Topic a [`TopicName`]. Which properties a packet may carry is checked
/// when it is decoded; the doc of each field names the packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0x01, PUBLISH and will: `true` when the payload is UTF-8 text, `false` for unspecified
    /// bytes.
    pub payload_format_indicator: Option<bool>,
    /// 0x02, PUBLISH and will: seconds the message lives; absent means it never expires.
    pub message_expiry_interval: Option<u32>,
    /// 0x03, PUBLISH and will: the payload's content type, e.g. a MIME type.
    pub content_type: Option<String>,
    /// 0x08, PUBLISH and will: where a response goes; a topic name, so never a wildcard
    /// [MQTT-3.3.2-14].
    pub response_topic: Option<TopicName>,
    /// 0x09, PUBLISH and will: matches a response to its request.
    pub correlation_data: Option<Bytes>,
    /// 0x0B, PUBLISH (any number, one per matching subscription) and SUBSCRIBE (at most one):
    /// 1 to 268,435,455, 0 is a protocol error.
    pub subscription_ids: Vec<u32>,
    /// 0x11, CONNECT, CONNACK and DISCONNECT: seconds the session outlives the connection;
    /// 0xFFFFFFFF never expires.
    pub session_expiry_interval: Option<u32>,
    /// 0x12, CONNACK: the client id the server chose for an empty one.
    pub assigned_client_identifier: Option<String>,
    /// 0x13, CONNACK: the keep alive the server imposes instead of the client's.
    pub server_keep_alive: Option<u16>,
    /// 0x15, CONNECT, CONNACK and AUTH: the name of the enhanced authentication method.
    pub authentication_method: Option<String>,
    /// 0x16, CONNECT, CONNACK and AUTH: method-specific data; only with a method.
    pub authentication_data: Option<Bytes>,
    /// 0x17, CONNECT: whether the server may send reason strings and user properties on
    /// failures (absent means yes).
    pub request_problem_information: Option<bool>,
    /// 0x18, will: seconds to wait before publishing the will.
    pub will_delay_interval: Option<u32>,
    /// 0x19, CONNECT: whether the client asks for response information in the CONNACK.
    pub request_response_information: Option<bool>,
    /// 0x1A, CONNACK: the basis for response topics.
    pub response_information: Option<String>,
    /// 0x1C, CONNACK and DISCONNECT: another server to use.
    pub server_reference: Option<String>,
    /// 0x1F, CONNACK, the acknowledgements, DISCONNECT and AUTH: a human-readable reason.
    pub reason_string: Option<String>,
    /// 0x21, CONNECT and CONNACK: unacknowledged QoS 1 and 2 PUBLISHes the sender accepts;
    /// never 0.
    pub receive_maximum: Option<u16>,
    /// 0x22, CONNECT and CONNACK: the highest topic alias the sender accepts.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23, PUBLISH: an alias for the topic; never 0.
    pub topic_alias: Option<u16>,
    /// 0x24, CONNACK: the highest QoS the server supports, 0 or 1 (absent means 2).
    pub maximum_qos: Option<QoS>,
    /// 0x25, CONNACK: whether the server supports retained messages.
    pub retain_available: Option<bool>,
    /// 0x26, every packet with properties but PINGs: name/value pairs, in order, repeats
    /// allowed.
    pub user_properties: Vec<(String, String)>,
    /// 0x27, CONNECT and CONNACK: the largest packet the sender accepts; never 0.
    pub maximum_packet_size: Option<u32>,
    /// 0x28, CONNACK: whether the server supports wildcard subscriptions.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29, CONNACK: whether the server supports subscription identifiers.
    pub subscription_identifier_available: Option<bool>,
    /// 0x2A, CONNACK: whether the server supports shared subscriptions.
    pub shared_subscription_available: Option<bool>,
}

impl Properties {
    /// No property set: what a block of length 0 holds.
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }

    /// Reads a property length and the properties of `of` it announces (see the module
    /// docs): `None` for an empty block, so a packet without properties allocates nothing.
    pub(crate) fn decode(r: &mut Reader, of: PropertiesOf) -> Result<Option<Box<Properties>>, CodecError> {
        let len = r.var_int("property length")?;
        let mut block = r.split(usize::try_from(len).unwrap_or(usize::MAX), "properties")?;
        if block.is_empty() {
            return Ok(None);
        }
        let mut props = Box::<Properties>::default();
        // Identifiers are below 64: one bit each.
        let mut seen = 0u64;
        while !block.is_empty() {
            let raw = block.var_int("property identifier")?;
            let id = u8::try_from(raw)
                .ok()
                .and_then(PropertyId::from_u8)
                .ok_or(CodecError::UnknownProperty(raw))?;
            if !id.is_allowed_in(of) {
                return Err(CodecError::PropertyNotAllowed { property: id, of });
            }
            let bit = 1u64 << (id as u8);
            if seen & bit != 0 && !id.may_repeat_in(of) {
                return Err(CodecError::DuplicateProperty { property: id, of });
            }
            seen |= bit;
            props.read_value(id, &mut block)?;
        }
        // Authentication data only comes with a method: sections 3.1.2.11.10 (CONNECT) and
        // 3.2.2.3.18 (CONNACK); AUTH needs the method anyway (3.15.2.2.2).
        if props.authentication_data.is_some() && props.authentication_method.is_none() {
            return Err(CodecError::AuthDataWithoutMethod(of));
        }
        Ok(Some(props))
    }

    fn read_value(&mut self, id: PropertyId, r: &mut Reader) -> Result<(), CodecError> {
        let name = id.name();
        match id {
            PropertyId::PayloadFormatIndicator => self.payload_format_indicator = Some(flag(id, r)?),
            PropertyId::MessageExpiryInterval => self.message_expiry_interval = Some(r.u32(name)?),
            PropertyId::ContentType => self.content_type = Some(r.string(name)?),
            PropertyId::ResponseTopic => self.response_topic = Some(r.topic_name(name)?),
            PropertyId::CorrelationData => self.correlation_data = Some(r.binary(name)?),
            PropertyId::SubscriptionIdentifier => {
                let value = r.var_int(name)?;
                if value == 0 {
                    return Err(CodecError::InvalidPropertyValue { property: id, value });
                }
                self.subscription_ids.push(value);
            }
            PropertyId::SessionExpiryInterval => self.session_expiry_interval = Some(r.u32(name)?),
            PropertyId::AssignedClientIdentifier => self.assigned_client_identifier = Some(r.string(name)?),
            PropertyId::ServerKeepAlive => self.server_keep_alive = Some(r.u16(name)?),
            PropertyId::AuthenticationMethod => self.authentication_method = Some(r.string(name)?),
            PropertyId::AuthenticationData => self.authentication_data = Some(r.binary(name)?),
            PropertyId::RequestProblemInformation => self.request_problem_information = Some(flag(id, r)?),
            PropertyId::WillDelayInterval => self.will_delay_interval = Some(r.u32(name)?),
            PropertyId::RequestResponseInformation => self.request_response_information = Some(flag(id, r)?),
            PropertyId::ResponseInformation => self.response_information = Some(r.string(name)?),
            PropertyId::ServerReference => self.server_reference = Some(r.string(name)?),
            PropertyId::ReasonString => self.reason_string = Some(r.string(name)?),
            PropertyId::ReceiveMaximum => self.receive_maximum = Some(non_zero_u16(id, r)?),
            PropertyId::TopicAliasMaximum => self.topic_alias_maximum = Some(r.u16(name)?),
            PropertyId::TopicAlias => self.topic_alias = Some(non_zero_u16(id, r)?),
            PropertyId::MaximumQos => {
                let value = r.u8(name)?;
                self.maximum_qos = Some(match value {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => {
                        return Err(CodecError::InvalidPropertyValue {
                            property: id,
                            value: value.into(),
                        })
                    }
                });
            }
            PropertyId::RetainAvailable => self.retain_available = Some(flag(id, r)?),
            PropertyId::UserProperty => self.user_properties.push(r.string_pair(name)?),
            PropertyId::MaximumPacketSize => {
                let value = r.u32(name)?;
                if value == 0 {
                    return Err(CodecError::InvalidPropertyValue { property: id, value });
                }
                self.maximum_packet_size = Some(value);
            }
            PropertyId::WildcardSubscriptionAvailable => {
                self.wildcard_subscription_available = Some(flag(id, r)?);
            }
            PropertyId::SubscriptionIdentifierAvailable => {
                self.subscription_identifier_available = Some(flag(id, r)?);
            }
            PropertyId::SharedSubscriptionAvailable => {
                self.shared_subscription_available = Some(flag(id, r)?);
            }
        }
        Ok(())
    }

    /// Bytes of the properties, without the property length.
    fn len(&self) -> usize {
        let byte = |v: Option<bool>| v.map_or(0, |_| 2);
        let two = |v: Option<u16>| v.map_or(0, |_| 3);
        let four = |v: Option<u32>| v.map_or(0, |_| 5);
        let string = |v: &Option<String>| v.as_ref().map_or(0, |s| 1 + prefixed_len(s.as_bytes()));
        let binary = |v: &Option<Bytes>| v.as_ref().map_or(0, |b| 1 + prefixed_len(b));
        byte(self.payload_format_indicator)
            + four(self.message_expiry_interval)
            + string(&self.content_type)
            + self
                .response_topic
                .as_ref()
                .map_or(0, |t| 1 + prefixed_len(t.as_bytes()))
            + binary(&self.correlation_data)
            + self
                .subscription_ids
                .iter()
                .map(|&id| 1 + var_int_len(id as usize))
                .sum::<usize>()
            + four(self.session_expiry_interval)
            + string(&self.assigned_client_identifier)
            + two(self.server_keep_alive)
            + string(&self.authentication_method)
            + binary(&self.authentication_data)
            + byte(self.request_problem_information)
            + four(self.will_delay_interval)
            + byte(self.request_response_information)
            + string(&self.response_information)
            + string(&self.server_reference)
            + string(&self.reason_string)
            + two(self.receive_maximum)
            + two(self.topic_alias_maximum)
            + two(self.topic_alias)
            + self.maximum_qos.map_or(0, |_| 2)
            + byte(self.retain_available)
            + self
                .user_properties
                .iter()
                .map(|(k, v)| 1 + prefixed_len(k.as_bytes()) + prefixed_len(v.as_bytes()))
                .sum::<usize>()
            + four(self.maximum_packet_size)
            + byte(self.wildcard_subscription_available)
            + byte(self.subscription_identifier_available)
            + byte(self.shared_subscription_available)
    }

    /// Writes the properties in identifier order, without the property length.
    fn write(&self, of: PropertiesOf, buf: &mut BytesMut) {
        let mut w = Writer { of, buf };
        w.byte(
            PropertyId::PayloadFormatIndicator,
            self.payload_format_indicator.map(u8::from),
        );
        w.four(PropertyId::MessageExpiryInterval, self.message_expiry_interval);
        w.string(PropertyId::ContentType, self.content_type.as_deref());
        w.string(PropertyId::ResponseTopic, self.response_topic.as_deref());
        w.binary(PropertyId::CorrelationData, self.correlation_data.as_deref());
        for &id in &self.subscription_ids {
            w.id(PropertyId::SubscriptionIdentifier);
            put_var_int(w.buf, id as usize, "subscription identifier");
        }
        w.four(PropertyId::SessionExpiryInterval, self.session_expiry_interval);
        w.string(
            PropertyId::AssignedClientIdentifier,
            self.assigned_client_identifier.as_deref(),
        );
        w.two(PropertyId::ServerKeepAlive, self.server_keep_alive);
        w.string(
            PropertyId::AuthenticationMethod,
            self.authentication_method.as_deref(),
        );
        w.binary(
            PropertyId::AuthenticationData,
            self.authentication_data.as_deref(),
        );
        w.byte(
            PropertyId::RequestProblemInformation,
            self.request_problem_information.map(u8::from),
        );
        w.four(PropertyId::WillDelayInterval, self.will_delay_interval);
        w.byte(
            PropertyId::RequestResponseInformation,
            self.request_response_information.map(u8::from),
        );
        w.string(
            PropertyId::ResponseInformation,
            self.response_information.as_deref(),
        );
        w.string(PropertyId::ServerReference, self.server_reference.as_deref());
        w.string(PropertyId::ReasonString, self.reason_string.as_deref());
        w.two(PropertyId::ReceiveMaximum, self.receive_maximum);
        w.two(PropertyId::TopicAliasMaximum, self.topic_alias_maximum);
        w.two(PropertyId::TopicAlias, self.topic_alias);
        w.byte(PropertyId::MaximumQos, self.maximum_qos.map(QoS::as_u8));
        w.byte(PropertyId::RetainAvailable, self.retain_available.map(u8::from));
        for (name, value) in &self.user_properties {
            w.id(PropertyId::UserProperty);
            put_prefixed(w.buf, name.as_bytes(), "user property name");
            put_prefixed(w.buf, value.as_bytes(), "user property value");
        }
        w.four(PropertyId::MaximumPacketSize, self.maximum_packet_size);
        w.byte(
            PropertyId::WildcardSubscriptionAvailable,
            self.wildcard_subscription_available.map(u8::from),
        );
        w.byte(
            PropertyId::SubscriptionIdentifierAvailable,
            self.subscription_identifier_available.map(u8::from),
        );
        w.byte(
            PropertyId::SharedSubscriptionAvailable,
            self.shared_subscription_available.map(u8::from),
        );
    }
}

/// Bytes a property block takes on the wire: property length and properties.
pub(crate) fn encoded_len(props: Option<&Properties>) -> usize {
    let len = props.map_or(0, Properties::len);
    var_int_len(len) + len
}

/// Writes a property block: property length and properties (a length of 0 for `None`).
///
/// # Panics
/// If the block is longer than a variable byte integer holds, or a string in it longer than
/// 65,535 bytes (see [`encode`](super::encode)).
pub(crate) fn encode(props: Option<&Properties>, of: PropertiesOf, buf: &mut BytesMut) {
    let len = props.map_or(0, Properties::len);
    put_var_int(buf, len, "property length");
    if let Some(props) = props {
        props.write(of, buf);
    }
}

/// Writes properties, checking (in debug builds) that each is allowed in `of`.
struct Writer<'a> {
    of: PropertiesOf,
    buf: &'a mut BytesMut,
}

impl Writer<'_> {
    fn id(&mut self, id: PropertyId) {
        debug_assert!(id.is_allowed_in(self.of), "{id} is not allowed in {}", self.of);
        self.buf.put_u8(id as u8);
    }

    fn byte(&mut self, id: PropertyId, value: Option<u8>) {
        if let Some(value) = value {
            self.id(id);
            self.buf.put_u8(value);
        }
    }

    fn two(&mut self, id: PropertyId, value: Option<u16>) {
        if let Some(value) = value {
            self.id(id);
            self.buf.put_u16(value);
        }
    }

    fn four(&mut self, id: PropertyId, value: Option<u32>) {
        if let Some(value) = value {
            self.id(id);
            self.buf.put_u32(value);
        }
    }

    fn string(&mut self, id: PropertyId, value: Option<&str>) {
        self.binary(id, value.map(str::as_bytes));
    }

    fn binary(&mut self, id: PropertyId, value: Option<&[u8]>) {
        if let Some(value) = value {
            self.id(id);
            put_prefixed(self.buf, value, id.name());
        }
    }
}

/// A Byte property that may only be 0 or 1: a protocol error otherwise (e.g. sections
/// 3.1.2.11.6, 3.2.2.3.5).
fn flag(id: PropertyId, r: &mut Reader) -> Result<bool, CodecError> {
    match r.u8(id.name())? {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(CodecError::InvalidPropertyValue {
            property: id,
            value: value.into(),
        }),
    }
}

/// A Two Byte Integer property the spec forbids to be 0 (Receive Maximum, Topic Alias).
fn non_zero_u16(id: PropertyId, r: &mut Reader) -> Result<u16, CodecError> {
    match r.u16(id.name())? {
        0 => Err(CodecError::InvalidPropertyValue {
            property: id,
            value: 0,
        }),
        value => Ok(value),
    }
}

/// The largest subscription identifier, for the strategies and the broker's own checks.
pub const MAX_SUBSCRIPTION_ID: u32 = MAX_VAR_INT;

#[cfg(test)]
#[path = "properties_tests.rs"]
mod tests;
