//! A deterministic fuzz pass: a million random and mutated frames through [`decode`].
//!
//! No fuzzing crate: a xorshift generator with a fixed seed, so a failure reproduces exactly
//! and the pass runs in every `cargo test`. Inputs are mostly mutations of valid encoded
//! packets (bit flips, truncations, inserted and deleted bytes, corrupted length bytes,
//! splices), because random bytes alone rarely get past the fixed header. For each input:
//! no panic; `Ok(None)` consumed nothing; a decoded packet took exactly the frame
//! `peek_header` announced, at most `max_packet_size`, and re-encodes to bytes that decode to
//! the same packet.

use bytes::{Bytes, BytesMut};

use super::corpus::malformed_corpus;
use super::test_support::{encode_vec, pkid, topic};
use super::*;

/// xorshift64* (Vigna 2016): small, fast, good enough to pick mutations.
pub(super) struct XorShift(pub(super) u64);

impl XorShift {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..n` for `n` far below 2^64.
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

/// Valid packets of every type and both levels, and the malformed corpus.
fn seeds() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let will = Will {
        topic: topic("w/t"),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: None,
    };
    let connect = Connect {
        level: ProtocolLevel::V311,
        client_id: String::from("fuzz-é"),
        clean_session: true,
        keep_alive: 30,
        will: Some(will),
        username: Some(String::from("u")),
        password: Some(Bytes::from_static(b"p\xFF")),
        properties: None,
    };
    let mut v31 = connect.clone();
    v31.level = ProtocolLevel::V31;
    v31.username = None;
    v31.will = None;
    let publish = |qos, id: Option<u16>, len: usize| Publish {
        dup: id.is_some(),
        qos,
        retain: true,
        topic: topic("a/b/c"),
        pkid: id.map(pkid),
        payload: Bytes::from(vec![0x5A; len]),
        properties: None,
    };
    let packets = [
        Packet::Connect(Box::new(connect)),
        Packet::Connect(Box::new(v31)),
        Packet::ConnAck(ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted,
            properties: None,
        }),
        Packet::Publish(publish(QoS::AtMostOnce, None, 3)),
        Packet::Publish(publish(QoS::AtLeastOnce, Some(1), 0)),
        Packet::Publish(publish(QoS::ExactlyOnce, Some(0xFFFF), 200)),
        Packet::PubAck(Ack::new(pkid(1))),
        Packet::PubRec(Ack::new(pkid(0x100))),
        Packet::PubRel(Ack::new(pkid(2))),
        Packet::PubComp(Ack::new(pkid(3))),
        Packet::Subscribe(Subscribe {
            pkid: pkid(4),
            filters: vec![
                ("a/+/c".into(), QoS::AtLeastOnce.into()),
                ("#".into(), QoS::ExactlyOnce.into()),
            ],
            properties: None,
        }),
        Packet::SubAck(SubAck {
            pkid: pkid(4),
            return_codes: vec![SubackCode::Success(QoS::AtLeastOnce), SubackCode::FAILURE],
            properties: None,
        }),
        Packet::Unsubscribe(Unsubscribe {
            pkid: pkid(5),
            filters: vec!["a/+/c".into(), "x".into()],
            properties: None,
        }),
        Packet::UnsubAck(UnsubAck::new(pkid(5))),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect(Disconnect::NORMAL),
    ];
    let valid = packets.iter().map(encode_vec).collect();
    let corpus = malformed_corpus()
        .into_iter()
        .map(|case| case.bytes)
        .filter(|b| b.len() < 4096)
        .collect();
    (valid, corpus)
}

/// One random change to `input`.
pub(super) fn mutate(rng: &mut XorShift, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    const INTERESTING: [u8; 10] = [0x00, 0xFF, 0x7F, 0x80, 0x01, b'+', b'#', b'/', 0xC0, 0xED];
    let len = input.len();
    match rng.below(9) {
        0 if len > 0 => {
            let at = rng.below(len);
            input[at] ^= 1 << rng.below(8);
        }
        1 => input.truncate(rng.below(len + 1)),
        2 => input.insert(rng.below(len + 1), rng.byte()),
        3 if len > 0 => {
            input.remove(rng.below(len));
        }
        // The remaining length bytes.
        4 if len > 1 => {
            let at = 1 + rng.below(len.min(5) - 1);
            input[at] = INTERESTING[rng.below(INTERESTING.len())] | (rng.byte() & 0x80);
        }
        5 if len > 0 => input[0] = rng.byte(),
        6 if len > 0 => {
            let at = rng.below(len);
            input[at] = INTERESTING[rng.below(INTERESTING.len())];
        }
        // Splice: our head, another seed's tail.
        7 => {
            let other = &seeds[rng.below(seeds.len())];
            input.truncate(rng.below(len + 1));
            input.extend_from_slice(&other[rng.below(other.len() + 1)..]);
        }
        // Two frames back to back.
        _ => {
            let other = &seeds[rng.below(seeds.len())];
            input.extend_from_slice(other);
        }
    }
}

#[derive(Default, Debug)]
struct Outcomes {
    packets: usize,
    incomplete: usize,
    errors: usize,
}

/// Decodes everything in `input`, checking the contract at every step.
fn check(input: &[u8], max: usize, level: Option<ProtocolLevel>, outcomes: &mut Outcomes) {
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
            Err(_) => {
                outcomes.errors += 1;
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
                let again = encode_vec(&packet);
                assert_eq!(again.len(), packet.encoded_len(ProtocolLevel::V311));
                let mut again = BytesMut::from(&again[..]);
                assert_eq!(
                    decode(&mut again, usize::MAX, level),
                    Ok(Some(packet)),
                    "re-encoding {input:02x?}"
                );
                if buf.is_empty() {
                    return;
                }
            }
        }
    }
}

#[test]
fn fuzz_one_million_frames_never_panic() {
    const FRAMES: usize = 1_000_000;
    let (valid, corpus) = seeds();
    let seeds: Vec<Vec<u8>> = valid.iter().chain(&corpus).cloned().collect();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut outcomes = Outcomes::default();
    let mut input = Vec::with_capacity(512);
    for _ in 0..FRAMES {
        input.clear();
        match rng.below(10) {
            // Pure noise.
            0 => input.extend((0..rng.below(48)).map(|_| rng.byte())),
            // A plausible header (valid type, small length) over noise.
            1 => {
                input.push((1 + rng.below(14) as u8) << 4 | (rng.byte() & 0x0F));
                let body = rng.below(40);
                input.push(body as u8);
                input.extend((0..body).map(|_| rng.byte()));
            }
            // One to three mutations of a corpus frame.
            2 | 3 => {
                input.extend_from_slice(&corpus[rng.below(corpus.len())]);
                for _ in 0..=rng.below(3) {
                    mutate(&mut rng, &mut input, &seeds);
                }
            }
            // One to three mutations of a valid frame.
            _ => {
                input.extend_from_slice(&valid[rng.below(valid.len())]);
                for _ in 0..=rng.below(3) {
                    mutate(&mut rng, &mut input, &seeds);
                }
            }
        }
        let level = [None, Some(ProtocolLevel::V31), Some(ProtocolLevel::V311)][rng.below(3)];
        let max = [16, 300, 1 << 20][rng.below(3)];
        check(&input, max, level, &mut outcomes);
    }
    // The pass reached every outcome often, so it explored past the fixed header.
    let Outcomes {
        packets,
        incomplete,
        errors,
    } = outcomes;
    assert!(
        packets > FRAMES / 20 && incomplete > FRAMES / 50 && errors > FRAMES / 5,
        "{outcomes:?}"
    );
}
