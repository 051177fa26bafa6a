//! MQTT 5 property blocks (section 2.2.2) as the bench client reads them: skipped by their
//! length, except the CONNACK's Receive Maximum, which bounds a QoS 1 publisher.
//!
//! Apart from `client.rs` because nothing else there knows a property's type; every length is
//! checked against the packet, so a broker's malformed block is an error, never a panic.

use anyhow::{bail, Result};

/// Reads a variable byte integer at `at`: its value and the offset after it.
pub fn var_int(body: &[u8], at: usize) -> Result<(usize, usize)> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&byte) = body.get(at + i) else {
            bail!("variable byte integer past the end of the packet");
        };
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, at + i + 1));
        }
    }
    bail!("variable byte integer longer than 4 bytes")
}

/// The MQTT 5 property block at `at` (its length, then the properties), without its length.
pub fn property_block(body: &[u8], at: usize) -> Result<&[u8]> {
    let (len, start) = var_int(body, at)?;
    match body.get(start..start + len) {
        Some(props) => Ok(props),
        None => bail!("properties of {len} bytes run past the end of the packet"),
    }
}

/// Skips the MQTT 5 property block at `at`: the offset after it.
pub fn skip_properties(body: &[u8], at: usize) -> Result<usize> {
    let (len, start) = var_int(body, at)?;
    if start + len > body.len() {
        bail!("properties of {len} bytes run past the end of the packet");
    }
    Ok(start + len)
}

/// Finds Receive Maximum (0x21) in a property block, walking each property by its type
/// (MQTT 5 section 2.2.2.2).
pub fn receive_maximum(mut props: &[u8]) -> Result<Option<u16>> {
    let mut found = None;
    while let Some((&id, rest)) = props.split_first() {
        let len = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            0x13 | 0x21 | 0x22 | 0x23 => 2,
            0x02 | 0x11 | 0x18 | 0x27 => 4,
            0x0B => var_int(rest, 0)?.1,
            0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => prefixed(rest, 0)?,
            0x26 => prefixed(rest, prefixed(rest, 0)?)?,
            other => bail!("unknown property {other:#04x}"),
        };
        let Some(value) = rest.get(..len) else {
            bail!("property {id:#04x} runs past the block");
        };
        if id == 0x21 {
            found = Some(u16::from_be_bytes([value[0], value[1]]));
        }
        props = &rest[len..];
    }
    Ok(found)
}

/// The offset after the length-prefixed string or binary at `at`.
fn prefixed(body: &[u8], at: usize) -> Result<usize> {
    match body.get(at..at + 2) {
        Some(len) => Ok(at + 2 + usize::from(u16::from_be_bytes([len[0], len[1]]))),
        None => bail!("string length past the end of the block"),
    }
}
