#!/usr/bin/env bash
# The chaos runs by hand, against a release build, for longer:
#   bench/chaos.sh [seconds=120] [seed=1]
#     20 QoS 1 publishers and 20 persistent QoS 1 subscribers while a seeded fault plan kills
#     sm/*, router, acceptor/* and listener at random (tests/chaos.rs); prints the summary
#     (faults per rule, restarts per supervisor, messages sent/delivered/duplicated).
#   bench/chaos.sh kill9 [seconds=120]
#     5 QoS 1 publishers and 5 persistent QoS 1 subscribers while the whole broker process is
#     killed with SIGKILL every ~2 s and started again on the same store (tests/durability/kill9_chaos.rs);
#     prints the summary (kills, longest restart, messages acknowledged, per subscriber
#     received/duplicates/reconnects).
# Either fails on any acknowledged message lost.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == kill9 ]]; then
  ARBOR_KILL9_SECS="${2:-120}" \
    cargo test --release --test durability kill9_chaos -- --nocapture
else
  ARBOR_CHAOS_SECS="${1:-120}" ARBOR_CHAOS_SEED="${2:-1}" \
    cargo test --release --test chaos -- --nocapture
fi
