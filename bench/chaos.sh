#!/usr/bin/env bash
# The chaos run by hand, against a release build, for longer:
#   bench/chaos.sh [seconds=120] [seed=1]
# 20 QoS 1 publishers and 20 persistent QoS 1 subscribers while a seeded fault plan kills
# sm/*, router, acceptor/* and listener at random; prints the summary (faults per rule,
# restarts per supervisor, messages sent/delivered/duplicated) and fails on any lost message.
set -euo pipefail
cd "$(dirname "$0")/.."
ARBOR_CHAOS_SECS="${1:-120}" ARBOR_CHAOS_SEED="${2:-1}" \
  cargo test --release --test chaos -- --nocapture
