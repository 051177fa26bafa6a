//! What every benchmark payload starts with: who sent it, its place in that sender's
//! sequence and when it was sent.
//!
//! Publishers and subscribers live in one process, so the send time is a reading of the same
//! monotonic clock ([`crate::clock`]) the subscriber reads on arrival: latency needs no clock
//! sync. Sequence numbers are per publisher and start at 0, which is what lets a subscriber
//! count lost, duplicated and reordered messages ([`crate::stats::SeqTracker`]).

/// Bytes of the stamp; payloads are at least this long, the rest is zeros.
pub const STAMP_LEN: usize = 20;

/// The fields at the front of every payload (little endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The publisher's id, unique within a run.
    pub publisher: u32,
    /// The publisher's sequence number, from 0.
    pub seq: u64,
    /// [`crate::clock::now_ns`] just before the write.
    pub sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp over the front of `payload`, which is at least [`STAMP_LEN`] long.
    pub fn write(&self, payload: &mut [u8]) {
        payload[0..4].copy_from_slice(&self.publisher.to_le_bytes());
        payload[4..12].copy_from_slice(&self.seq.to_le_bytes());
        payload[12..20].copy_from_slice(&self.sent_ns.to_le_bytes());
    }

    /// Reads a stamp; `None` if the payload is too short to be one of ours.
    pub fn read(payload: &[u8]) -> Option<Stamp> {
        let publisher = payload.get(0..4)?.try_into().ok()?;
        let seq = payload.get(4..12)?.try_into().ok()?;
        let sent_ns = payload.get(12..20)?.try_into().ok()?;
        Some(Stamp {
            publisher: u32::from_le_bytes(publisher),
            seq: u64::from_le_bytes(seq),
            sent_ns: u64::from_le_bytes(sent_ns),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_roundtrips_and_short_payloads_are_refused() {
        let stamp = Stamp {
            publisher: 7,
            seq: 1 << 40,
            sent_ns: 123_456_789,
        };
        let mut payload = [0u8; 64];
        stamp.write(&mut payload);
        assert_eq!(Stamp::read(&payload), Some(stamp));
        assert_eq!(Stamp::read(&payload[..STAMP_LEN - 1]), None);
    }
}
