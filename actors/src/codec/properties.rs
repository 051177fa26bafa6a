//! MQTT 5 properties (section 2.2.2): the optional, typed fields a v5 packet carries between
//! its variable header and its payload.
//!
//! One [`Properties`] struct for every packet, with a field per property, rather than one
//! struct per packet type: the broker copies properties from one packet to another (a will's
//! to its PUBLISH, a PUBLISH's to each delivery), which is a move here, and the rules on which
//! property may appear where live in one table instead of fourteen types. Packets hold it as
//! `Option<Box<Properties>>`: `None` on every 3.1/3.1.1 packet and on a v5 packet without
//! properties, so the v3 hot path pays one null pointer per packet and no allocation.

use bytes::Bytes;

use super::fields::QoS;
use super::topic_rules::TopicName;

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
