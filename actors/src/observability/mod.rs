//! What the broker tells about itself: counters and gauges, and the `$SYS` publisher.

pub mod metrics;
pub mod sys;
