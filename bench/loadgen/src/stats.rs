//! What a subscriber records: a latency histogram and, per publisher, which sequence numbers
//! arrived.
//!
//! Each subscriber task owns its [`RecvStats`] and hands it back when it ends, so the hot
//! path takes no lock and touches no shared cache line; the scenario merges them.

use serde::Serialize;

/// Sub-bucket bits: 128 sub-buckets per power of two, so a recorded value is off by under 1%.
const SUB_BITS: u32 = 7;
const SUB_COUNT: usize = 1 << SUB_BITS;
const HALF: usize = SUB_COUNT / 2;
/// Buckets needed to cover every `u64`.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * HALF + HALF;

/// A log-linear histogram of nanosecond values (the HdrHistogram layout, fixed precision).
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            max: 0,
        }
    }
}

fn index_of(value: u64) -> usize {
    if value < SUB_COUNT as u64 {
        return value as usize;
    }
    let magnitude = 63 - value.leading_zeros();
    let shift = magnitude + 1 - SUB_BITS;
    shift as usize * HALF + (value >> shift) as usize
}

/// The middle of the values bucket `index` holds.
fn value_of(index: usize) -> u64 {
    if index < SUB_COUNT {
        return index as u64;
    }
    let shift = index / HALF - 1;
    let sub = (index - shift * HALF) as u64;
    (sub << shift) + ((1u64 << shift) >> 1)
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.counts[index_of(value)] += 1;
        self.count += 1;
        self.max = self.max.max(value);
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0 to 1), or 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return value_of(index).min(self.max);
            }
        }
        self.max
    }

    /// The usual summary, in microseconds.
    pub fn summary(&self) -> Latency {
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        Latency {
            count: self.count,
            p50: us(self.quantile(0.50)),
            p99: us(self.quantile(0.99)),
            p999: us(self.quantile(0.999)),
            max: us(self.max),
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Messages measured.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest seen.
    pub max: f64,
}

/// Which sequence numbers of one publisher arrived at one subscriber.
#[derive(Clone, Default)]
pub struct SeqTracker {
    seen: Vec<u64>,
    max: Option<u64>,
    /// Distinct sequence numbers received.
    pub unique: u64,
    /// Arrivals of a sequence number already received.
    pub duplicated: u64,
    /// Arrivals after a higher sequence number of the same publisher.
    pub reordered: u64,
}

/// Sequence numbers above this are not ours (a run sends far fewer): counted as foreign.
const MAX_SEQ: u64 = 1 << 34;

impl SeqTracker {
    /// Records an arrival; `false` if the number is implausible.
    pub fn record(&mut self, seq: u64) -> bool {
        if seq > MAX_SEQ {
            return false;
        }
        let word = (seq / 64) as usize;
        let bit = 1u64 << (seq % 64);
        if word >= self.seen.len() {
            self.seen.resize((word + 1).max(self.seen.len() * 2), 0);
        }
        if self.seen[word] & bit != 0 {
            self.duplicated += 1;
            return true;
        }
        self.seen[word] |= bit;
        self.unique += 1;
        match self.max {
            Some(max) if seq < max => self.reordered += 1,
            _ => self.max = Some(seq),
        }
        true
    }
}

/// Everything one subscriber measured.
#[derive(Clone, Default)]
pub struct RecvStats {
    /// Latency of the messages received inside the window.
    pub latency: Histogram,
    /// Messages received inside the window.
    pub in_window: u64,
    /// Messages received in all, window or not.
    pub total: u64,
    /// Payloads that did not carry a stamp of this run.
    pub foreign: u64,
    /// Per publisher id.
    pub streams: Vec<SeqTracker>,
}

impl RecvStats {
    /// The tracker of publisher `id`, created on first use.
    pub fn stream(&mut self, id: u32) -> Option<&mut SeqTracker> {
        let id = id as usize;
        // Ids are dense from 0; anything far past the publisher count is not ours.
        if id > 1 << 20 {
            return None;
        }
        if id >= self.streams.len() {
            self.streams.resize_with(id + 1, SeqTracker::default);
        }
        self.streams.get_mut(id)
    }

    /// Distinct messages of publisher `id` received.
    pub fn unique_from(&self, id: u32) -> u64 {
        self.streams.get(id as usize).map_or(0, |s| s.unique)
    }

    /// Duplicates over all publishers.
    pub fn duplicated(&self) -> u64 {
        self.streams.iter().map(|s| s.duplicated).sum()
    }

    /// Reorderings over all publishers.
    pub fn reordered(&self) -> u64 {
        self.streams.iter().map(|s| s.reordered).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_within_one_percent() {
        let mut last = 0;
        for value in (0..20_000_000u64).step_by(997).chain([u64::MAX / 3, u64::MAX]) {
            let index = index_of(value);
            assert!(index >= last && index < BUCKETS, "{value}");
            last = index;
            let back = value_of(index);
            assert!(
                back.abs_diff(value) as f64 <= value as f64 * 0.01 + 1.0,
                "{value} -> {back}"
            );
        }
    }

    #[test]
    fn quantiles_of_a_uniform_range() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 / 99_000_000.0 - 1.0).abs() < 0.01, "{p99}");
        assert_eq!(h.quantile(1.0), 100_000_000);
        assert_eq!(h.summary().max, 100_000.0);
    }

    #[test]
    fn tracker_counts_duplicates_and_reordering() {
        let mut t = SeqTracker::default();
        for seq in [0, 1, 3, 2, 3, 5, 1000] {
            assert!(t.record(seq));
        }
        assert_eq!((t.unique, t.duplicated, t.reordered), (6, 1, 1));
        assert!(!t.record(MAX_SEQ + 1));
    }
}
