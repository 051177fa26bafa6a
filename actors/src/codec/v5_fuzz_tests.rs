//! A deterministic fuzz pass over the MQTT 5 decoder: a million random and mutated frames.
//!
//! Same generator and mutations as the 3.1.1 pass (`fuzz_tests.rs`), plus mutations aimed at
//! what MQTT 5 added: property identifiers, property lengths and variable byte integers.
//! Seeds are valid MQTT 5 packets of every type (drawn once, deterministically, from the
//! proptest strategies, so every property appears), the MQTT 5 corpus and its edge cases.
//! For each input, decoded as a connection would (level `None` until a CONNECT, then its
//! level): no panic; `Ok(None)` consumed nothing; a decoded packet took exactly the frame
//! `peek_header` announced, at most `max_packet_size`, and re-encodes at its level to bytes
//! of `encoded_len` that decode to the same packet; and every error names the reply an MQTT
//! 5 peer gets (a DISCONNECT reason code or a CONNACK code).

use std::collections::HashSet;
use std::mem::{discriminant, Discriminant};

use bytes::BytesMut;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use super::fuzz_tests::{mutate, XorShift};
use super::test_support::encode_vec_at;
use super::test_support_v5::arb_packet_v5;
use super::v5_corpus::{v5_edge_cases, v5_malformed_corpus, valid_connect_v5};
use super::*;

/// Bytes to send, and whether after a CONNECT was accepted.
type Seed = (Vec<u8>, bool);

/// Valid MQTT 5 frames (each after `valid_connect_v5` unless it is a CONNECT), and the
/// corpus with its edge cases.
fn seeds() -> (Vec<Seed>, Vec<Seed>) {
    let mut runner = TestRunner::deterministic();
    let strategy = arb_packet_v5();
    let mut valid = Vec::new();
    for _ in 0..300 {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let packet = tree.current();
        let after_connect = !matches!(packet, Packet::Connect(_));
        valid.push((encode_vec_at(&packet, ProtocolLevel::V5), after_connect));
    }
    valid.push((valid_connect_v5(), false));
    let corpus = v5_malformed_corpus()
        .into_iter()
        .map(|case| (case.bytes, case.after_connect))
        .chain(
            v5_edge_cases()
                .into_iter()
                .map(|edge| (edge.bytes, edge.after_connect)),
        )
        .filter(|(bytes, _)| bytes.len() < 4096)
        .collect();
    (valid, corpus)
}

/// One random change aimed at MQTT 5's fields, or one of the 3.1.1 pass's.
fn mutate_v5(rng: &mut XorShift, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    // Identifiers around the 27 properties, and variable byte integer bytes.
    const PROPERTY_IDS: [u8; 14] = [
        0x01, 0x02, 0x0B, 0x11, 0x15, 0x16, 0x1F, 0x21, 0x23, 0x24, 0x26, 0x27, 0x2A, 0x2B,
    ];
    const VAR_INT: [u8; 6] = [0x00, 0x7F, 0x80, 0xFF, 0x81, 0x01];
    let len = input.len();
    match rng.below(4) {
        0 if len > 2 => {
            let at = 2 + rng.below(len - 2);
            input[at] = PROPERTY_IDS[rng.below(PROPERTY_IDS.len())];
        }
        1 if len > 2 => {
            let at = 2 + rng.below(len - 2);
            input[at] = VAR_INT[rng.below(VAR_INT.len())];
        }
        // A property inserted somewhere: identifier and a short value.
        2 => {
            let at = rng.below(len + 1);
            let id = PROPERTY_IDS[rng.below(PROPERTY_IDS.len())];
            let value = [id, 0x00, rng.byte() & 0x03, rng.byte()];
            input.splice(at..at, value[..1 + rng.below(4)].iter().copied());
        }
        _ => mutate(rng, input, seeds),
    }
}

#[derive(Default, Debug)]
struct Outcomes {
    packets: usize,
    incomplete: usize,
    errors: usize,
    /// The distinct errors reached, by variant.
    rules: HashSet<Discriminant<CodecError>>,
}

/// Decodes everything in `input` as a connection would, checking the contract at every step.
fn check(input: &[u8], max: usize, mut level: Option<ProtocolLevel>, outcomes: &mut Outcomes) {
    let mut buf = BytesMut::from(input);
    loop {
        let before = buf.clone();
        let header = peek_header(&before, max, level);
        match decode(&mut buf, max, level) {
            Ok(None) => {
                assert_eq!(buf, before, "Ok(None) consumed bytes of {input:02x?}");
                outcomes.incomplete += 1;
                return;
            }
            Err(e) => {
                // Every error names its reply, but an unknown protocol name: not an MQTT
                // client, closed without one [MQTT-3.1.2-1].
                assert!(
                    e.disconnect_reason().is_some()
                        || e.connack_code().is_some()
                        || matches!(e, CodecError::UnknownProtocolName { .. }),
                    "{e:?} names no reply, from {input:02x?}"
                );
                outcomes.errors += 1;
                outcomes.rules.insert(discriminant(&e));
                return;
            }
            Ok(Some(packet)) => {
                outcomes.packets += 1;
                let consumed = before.len() - buf.len();
                let Ok(Some(header)) = header else {
                    panic!("decoded without a valid header: {input:02x?}")
                };
                assert_eq!(consumed, header.frame_len());
                assert!(consumed <= max);
                // Written as the connection's level reads it; a CONNECT at its own.
                let write_level = level.unwrap_or(ProtocolLevel::V311);
                let again = encode_vec_at(&packet, write_level);
                assert_eq!(again.len(), packet.encoded_len(write_level));
                let mut again = BytesMut::from(&again[..]);
                assert_eq!(
                    decode(&mut again, usize::MAX, level),
                    Ok(Some(packet.clone())),
                    "re-encoding {input:02x?}"
                );
                if let (None, Packet::Connect(connect)) = (level, &packet) {
                    level = Some(connect.level);
                }
                if buf.is_empty() {
                    return;
                }
            }
        }
    }
}

#[test]
fn fuzz_one_million_v5_frames_never_panic() {
    const FRAMES: usize = 1_000_000;
    let (valid, corpus) = seeds();
    let all: Vec<Vec<u8>> = valid.iter().chain(&corpus).map(|(b, _)| b.clone()).collect();
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let mut outcomes = Outcomes::default();
    let mut input = Vec::with_capacity(512);
    for _ in 0..FRAMES {
        input.clear();
        let after_connect = match rng.below(10) {
            // Pure noise.
            0 => {
                input.extend((0..rng.below(48)).map(|_| rng.byte()));
                rng.below(2) == 0
            }
            // A plausible header (any type, AUTH included, small length) over noise.
            1 => {
                input.push((1 + rng.below(15) as u8) << 4 | (rng.byte() & 0x0F));
                let body = rng.below(40);
                input.push(body as u8);
                input.extend((0..body).map(|_| rng.byte()));
                true
            }
            // One to three mutations of a corpus or edge case.
            2 | 3 => {
                let (bytes, after) = &corpus[rng.below(corpus.len())];
                input.extend_from_slice(bytes);
                for _ in 0..=rng.below(3) {
                    mutate_v5(&mut rng, &mut input, &all);
                }
                *after
            }
            // One to three mutations of a valid frame.
            _ => {
                let (bytes, after) = &valid[rng.below(valid.len())];
                input.extend_from_slice(bytes);
                for _ in 0..=rng.below(3) {
                    mutate_v5(&mut rng, &mut input, &all);
                }
                *after
            }
        };
        let level = after_connect.then_some(ProtocolLevel::V5);
        let max = [16, 300, 1 << 20][rng.below(3)];
        check(&input, max, level, &mut outcomes);
    }
    // The pass reached every outcome often, so it explored past the fixed header.
    let Outcomes {
        packets,
        incomplete,
        errors,
        ref rules,
    } = outcomes;
    assert!(
        packets > FRAMES / 20 && incomplete > FRAMES / 50 && errors > FRAMES / 5,
        "{outcomes:?}"
    );
    // And it reached most of the decoder's rules (37 of 39 variants with this seed), MQTT 5's
    // included.
    assert!(rules.len() >= 35, "{} rules reached", rules.len());
}
