//! What the broker tells about itself: counters and gauges ([`metrics`]), the figures read out
//! under emqttd's names with the worker that keeps their maxima ([`stats`]), the `$SYS`
//! publisher ([`sys`]) and the client connect/disconnect notices ([`notices`]).

pub mod metrics;
pub mod notices;
pub mod stats;
pub mod sys;
