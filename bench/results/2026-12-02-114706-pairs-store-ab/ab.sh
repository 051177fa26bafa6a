#!/usr/bin/env bash
# Follow-up of the 2026-12-02 durability sitting: `pairs` (clean sessions: nothing is stored)
# against the same arbor build with its default store (backend "disk", durability "sync") and
# with backend "memory", alternating, 20 s windows, to tell the store's cost from the noise.
set -euo pipefail
T="${CARGO_TARGET_DIR:-target}/release"
OUT="$1"; ROUNDS="${ROUNDS:-3}"
mkdir -p "$OUT/logs"
busy() { # other CPU over 1 s, % of one core
  local a b; a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat); sleep 1
  b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  awk -v a="$a" -v b="$b" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%d", (y[1]-x[1]) * 100 * n / ((y[1]-x[1]) + (y[2]-x[2]) + 1e-9) }'
}
quiet() { local w=0; while [ "$(busy)" -gt 50 ] && [ $w -lt 60 ]; do sleep 4; w=$((w + 5)); done; }
P=""; trap '[ -z "$P" ] || kill "$P" 2>/dev/null || true' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for backend in disk memory; do
    quiet
    label=arbor; [ "$backend" = disk ] || label=arbor-memory
    store="$OUT/store-$round-$backend"; rm -rf "$store"
    ARBOR__LISTENERS__TCP__BIND=127.0.0.1:25883 ARBOR__ADMIN__BIND=127.0.0.1:25884 \
      ARBOR__STORAGE__BACKEND=$backend ARBOR__STORAGE__DIR="$store" ARBOR__LOG__LEVEL=warn \
      "$T/arbor" >"$OUT/logs/pairs.$round.$label.arbor.log" 2>&1 &
    P=$!; sleep 1
    "$T/loadgen" run pairs --port 25883 --broker-pid "$P" --label "$label" --warmup 2 --window 20 \
      --drain 30 >>"$OUT/results.jsonl" 2>"$OUT/logs/pairs.$round.$label.loadgen.log"
    kill "$P"; wait "$P" || true; P=""; rm -rf "$store"
    tail -1 "$OUT/results.jsonl" | jq -c '{broker, deliver_rate, p99: .latency_us.p99, lost, broker_cpu_pct, other_cpu_pct}'
  done
done
