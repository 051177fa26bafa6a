#!/usr/bin/env bash
# Does an acknowledged QoS 1 message survive kill -9 with durability "os"? `loadgen fill`
# makes N persistent sessions and publishes 10 QoS 1 messages to each, every PUBACK awaited;
# then arbor is killed with SIGKILL (at once, or after a pause), started again on the same
# store, and its `store opened` line says what it found.   kill9.sh OUT [TARGET_DIR]
set -euo pipefail
OUT="$1"; T="${2:-target}/release"
store="$OUT/store"
trial() { # sessions, seconds before the kill, durability
  rm -rf "$store"
  ARBOR__LISTENERS__TCP__BIND=127.0.0.1:24893 ARBOR__ADMIN__BIND=127.0.0.1:24894 ARBOR__STORAGE__DIR="$store" \
    ARBOR__STORAGE__DURABILITY="$3" ARBOR__LOG__LEVEL=warn "$T/arbor" >/dev/null 2>&1 &
  local p=$!; sleep 0.5
  local t0; t0=$(date +%s%N)
  "$T/loadgen" fill --port 24893 --sessions "$1" --per-session 10 --prefix k9 >"$OUT/fill.json"
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  sleep "$2"; kill -KILL "$p"; wait "$p" 2>/dev/null || true
  ARBOR__LISTENERS__TCP__BIND=127.0.0.1:24893 ARBOR__ADMIN__BIND=127.0.0.1:24894 ARBOR__STORAGE__DIR="$store" \
    ARBOR__STORAGE__DURABILITY="$3" ARBOR__LOG__LEVEL=info "$T/arbor" >"$OUT/boot.log" 2>&1 &
  p=$!; sleep 1.5; kill "$p"; wait "$p" || true
  echo "| $3 | $1 | $(jq .acked "$OUT/fill.json") in $ms ms | $2 s | $(grep -o 'sessions=[0-9]* messages=[0-9]*' "$OUT/boot.log") |"
  rm -rf "$store" "$OUT/fill.json" "$OUT/boot.log"
}
echo "| durability | sessions made | QoS 1 messages acknowledged | pause before kill -9 | found at restart |"
echo "|---|---:|---:|---:|---|"
trial 1000 0 os
trial 1000 2 os
trial 5000 0 os
trial 1000 0 sync
trial 5000 0 sync
