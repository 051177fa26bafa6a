#!/usr/bin/env bash
# How long arbor takes to come back with a full store (the durability issue). See bench/README.md.
#
#   bench/recovery.sh
#
# 1. Starts arbor (release build) on a new, empty store directory, durability "sync".
# 2. `loadgen fill`: SESSIONS persistent sessions (3.1.1 clean session 0), each subscribed at
#    QoS 1 to its own topic and then disconnected, CONCURRENCY at a time; then PER_SESSION
#    QoS 1 messages of PAYLOAD bytes to each topic from PUBLISHERS connections, every PUBACK
#    awaited: everything is stored.
# 3. Kills arbor with SIGKILL and starts it again on the same directory, timing from the
#    process start to its `arbor started` line (listeners open), with the log's own figures:
#    the store's read (`store opened ... read_ms`), the restore of the sessions
#    (`persistent sessions restored ... elapsed`), and their timestamps; the RSS once started,
#    and again after SETTLE_S, and the store's size on disk.
# 4. `loadgen check`: comes back as CHECK_SAMPLE of the sessions (all by default), each
#    expecting Session Present and its PER_SESSION messages in order, once each.
#
# Results go to bench/results/<date>-recovery/: recovery.json (one JSON object), table.md,
# machine.txt, and logs/ (both boots' logs, fill.json, check.json). The store (hundreds of MB)
# is deleted at the end unless KEEP_STORE=1. arbor is stopped on any exit of the script.
#
# Environment: CARGO_TARGET_DIR (default target/), SESSIONS (100000), PER_SESSION (10),
# PAYLOAD (64), CONCURRENCY (64), PUBLISHERS (50), MAX_INFLIGHT (64), DURABILITY (sync),
# CHECK_SAMPLE (SESSIONS; 0 skips the check), SETTLE_S (10), KEEP_STORE (0), GOAL_S (10).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TARGET_DIR="$TARGET"
case "${1:-}" in -h|--help) sed -n '2,26p' "$0"; exit 0 ;; "") ;; *) echo "recovery.sh: no arguments (see --help)" >&2; exit 2 ;; esac

SESSIONS="${SESSIONS:-100000}"
PER_SESSION="${PER_SESSION:-10}"
PAYLOAD="${PAYLOAD:-64}"
CONCURRENCY="${CONCURRENCY:-64}"
PUBLISHERS="${PUBLISHERS:-50}"
MAX_INFLIGHT="${MAX_INFLIGHT:-64}"
DURABILITY="${DURABILITY:-sync}"
CHECK_SAMPLE="${CHECK_SAMPLE:-$SESSIONS}"
SETTLE_S="${SETTLE_S:-10}"
KEEP_STORE="${KEEP_STORE:-0}"
GOAL_S="${GOAL_S:-10}"

STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT="$ROOT/bench/results/$STAMP-recovery"
STORE="$OUT/store"
mkdir -p "$OUT/logs"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

ARBOR_PID=""
stop_arbor() {
  [ -n "$ARBOR_PID" ] || return 0
  if kill -0 "$ARBOR_PID" 2>/dev/null; then
    kill -TERM "$ARBOR_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$ARBOR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ARBOR_PID" 2>/dev/null || true
  fi
  wait "$ARBOR_PID" 2>/dev/null || true
  ARBOR_PID=""
}
cleanup() {
  stop_arbor
  [ "$KEEP_STORE" = 1 ] || rm -rf "$STORE"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

log "building arbor and loadgen (release) into $TARGET"
cargo build --release --bin arbor >"$OUT/logs/build.log" 2>&1 || { cat "$OUT/logs/build.log" >&2; exit 1; }
cargo build --release -p arbor-bench --bin loadgen >>"$OUT/logs/build.log" 2>&1 || { cat "$OUT/logs/build.log" >&2; exit 1; }
ARBOR="$TARGET/release/arbor"
LOADGEN="$TARGET/release/loadgen"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$((21000 + ($$ % 400) * 20))
while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
ADMIN=$((PORT + 1))
while ! port_free "$ADMIN"; do ADMIN=$((ADMIN + 1)); done

{
  echo "date: $(date -Is)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB total, " $7 " MiB available"}')"
  echo "kernel: $(uname -srm)"
  echo "storage: $(df -T "$OUT" | awk 'NR == 2 {print $2 " on " $1}')"
  echo "fd limit: soft $(ulimit -n), hard $(ulimit -Hn)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rustc: $(rustc --version)"
  echo "arbor: $("$ARBOR" --version)"
  echo "load: $SESSIONS sessions x $PER_SESSION QoS 1 messages of $PAYLOAD B, durability $DURABILITY"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# Starts arbor on $STORE at log level $1 (JSON lines), logging to $2; sets ARBOR_PID.
start_arbor() {
  ARBOR__LISTENERS__TCP__BIND="127.0.0.1:$PORT" ARBOR__ADMIN__BIND="127.0.0.1:$ADMIN" \
    ARBOR__STORAGE__DIR="$STORE" ARBOR__STORAGE__DURABILITY="$DURABILITY" \
    ARBOR__LOG__LEVEL="$1" ARBOR__LOG__FORMAT=json "$ARBOR" >"$2" 2>&1 &
  ARBOR_PID=$!
}

# Waits (at most $1 s) for the MQTT port to accept a connection.
wait_listening() {
  local end=$(( $(date +%s) + $1 ))
  while port_free "$PORT"; do
    kill -0 "$ARBOR_PID" 2>/dev/null || return 1
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.01
  done
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%d", (f[12] + f[13]) * 1000 / hz }' "/proc/$1/stat"; }
store_api() { curl -sf --max-time 10 "http://127.0.0.1:$ADMIN/api/v1/store" || echo '{}'; }
# Nanoseconds since the epoch of the first log line whose message is $2, in log $1 (0: none).
line_ns() {
  local ts
  ts=$(jq -r --arg m "$2" 'select(.fields.message == $m) | .timestamp' "$1" 2>/dev/null | head -1)
  [ -n "$ts" ] && date -d "$ts" +%s%N || echo 0
}
line_field() { jq -r --arg m "$2" --arg f "$3" 'select(.fields.message == $m) | .fields[$f] // empty' "$1" 2>/dev/null | head -1; }
# A Rust Duration's Debug form (1.5s, 812.3ms, 40µs) in milliseconds.
duration_ms() {
  awk -v d="$1" 'BEGIN {
    if (d ~ /ms$/) { sub(/ms$/, "", d); print d + 0 }
    else if (d ~ /µs$/) { sub(/µs$/, "", d); print d / 1000 }
    else if (d ~ /ns$/) { sub(/ns$/, "", d); print d / 1000000 }
    else if (d ~ /s$/) { sub(/s$/, "", d); print d * 1000 }
    else print -1 }'
}

# --- 1 and 2: fill ----------------------------------------------------------------------------
rm -rf "$STORE"; mkdir -p "$STORE"
start_arbor warn "$OUT/logs/arbor-fill.log"
wait_listening 30 || { log "arbor did not start"; cat "$OUT/logs/arbor-fill.log" >&2; exit 1; }
log "filling: $SESSIONS sessions, then $PER_SESSION messages each (arbor pid $ARBOR_PID, port $PORT)"
"$LOADGEN" fill --port "$PORT" --sessions "$SESSIONS" --per-session "$PER_SESSION" \
  --payload "$PAYLOAD" --concurrency "$CONCURRENCY" --publishers "$PUBLISHERS" \
  --max-inflight "$MAX_INFLIGHT" >"$OUT/logs/fill.json" 2>"$OUT/logs/fill.loadgen.log" || true
cat "$OUT/logs/fill.json" >&2
jq -e '.failed != true' "$OUT/logs/fill.json" >/dev/null || { log "fill failed"; exit 1; }
store_before=$(store_api)
rss_before=$(rss_kib "$ARBOR_PID")
log "store before the kill: $store_before"

# --- 3: kill -9 and restart --------------------------------------------------------------------
kill -KILL "$ARBOR_PID"; wait "$ARBOR_PID" 2>/dev/null || true; ARBOR_PID=""
sync
store_du=$(du -sb "$STORE" | cut -f1)
store_file=$(stat -c %s "$STORE/arbor.redb" 2>/dev/null || echo 0)
log "killed; store on disk: $store_du bytes (arbor.redb $store_file bytes)"

t0=$(date +%s%N)
start_arbor info "$OUT/logs/arbor-recovery.log"
wait_listening 600 || { log "arbor did not come back"; tail -20 "$OUT/logs/arbor-recovery.log" >&2; exit 1; }
t_listen=$(date +%s%N)
REC_LOG="$OUT/logs/arbor-recovery.log"
for _ in $(seq 1 500); do grep -q '"arbor started"' "$REC_LOG" && break; sleep 0.01; done
rss_started=$(rss_kib "$ARBOR_PID"); cpu_started=$(cpu_ms "$ARBOR_PID")
t_opened=$(line_ns "$REC_LOG" "store opened")
t_bound=$(line_ns "$REC_LOG" "listening")
t_restored=$(line_ns "$REC_LOG" "persistent sessions restored from the store")
t_started=$(line_ns "$REC_LOG" "arbor started")
read_ms=$(line_field "$REC_LOG" "store opened" read_ms)
stored_sessions=$(line_field "$REC_LOG" "store opened" sessions)
stored_messages=$(line_field "$REC_LOG" "store opened" messages)
restored=$(line_field "$REC_LOG" "persistent sessions restored from the store" restored)
restore_ms=$(duration_ms "$(line_field "$REC_LOG" "persistent sessions restored from the store" elapsed)")
ms() { [ "$1" != 0 ] && echo $(( ($1 - t0) / 1000000 )) || echo null; }
log "listening after $(( (t_listen - t0) / 1000000 )) ms; store read ${read_ms} ms, restore ${restore_ms} ms"

sleep "$SETTLE_S"
rss_settled=$(rss_kib "$ARBOR_PID"); hwm=$(hwm_kib "$ARBOR_PID"); cpu_settled=$(cpu_ms "$ARBOR_PID")
store_after=$(store_api)
errors=$(grep -c '"level":"ERROR"' "$REC_LOG" || true)
warnings=$(grep -c '"level":"WARN"' "$REC_LOG" || true)

# --- 4: check ----------------------------------------------------------------------------------
if [ "$CHECK_SAMPLE" -gt 0 ]; then
  log "checking $CHECK_SAMPLE of the sessions"
  "$LOADGEN" check --port "$PORT" --sessions "$SESSIONS" --per-session "$PER_SESSION" \
    --concurrency "$CONCURRENCY" --sample "$CHECK_SAMPLE" \
    >"$OUT/logs/check.json" 2>"$OUT/logs/check.loadgen.log" || true
  cat "$OUT/logs/check.json" >&2
else
  echo '{"skipped": true}' > "$OUT/logs/check.json"
fi
rss_checked=$(rss_kib "$ARBOR_PID")
stop_arbor

jq -n \
  --argjson fill "$(cat "$OUT/logs/fill.json")" \
  --argjson check "$(cat "$OUT/logs/check.json")" \
  --argjson store_before "$store_before" --argjson store_after "$store_after" \
  --arg durability "$DURABILITY" \
  --argjson store_du "$store_du" --argjson store_file "$store_file" \
  --argjson rss_before "${rss_before:-0}" --argjson rss_started "${rss_started:-0}" \
  --argjson rss_settled "${rss_settled:-0}" --argjson hwm "${hwm:-0}" --argjson rss_checked "${rss_checked:-0}" \
  --argjson listen_ms "$(( (t_listen - t0) / 1000000 ))" \
  --argjson opened_ms "$(ms "$t_opened")" --argjson restored_ms "$(ms "$t_restored")" \
  --argjson started_ms "$(ms "$t_started")" --argjson bound_ms "$(ms "$t_bound")" \
  --argjson read_ms "${read_ms:-null}" --argjson restore_ms "${restore_ms:-null}" \
  --argjson stored_sessions "${stored_sessions:-null}" --argjson stored_messages "${stored_messages:-null}" \
  --argjson restored "${restored:-null}" \
  --argjson cpu_started "${cpu_started:-0}" --argjson cpu_settled "${cpu_settled:-0}" \
  --argjson settle_s "$SETTLE_S" --argjson errors "$errors" --argjson warnings "$warnings" \
  --argjson goal_s "$GOAL_S" \
  '{durability: $durability, fill: $fill,
    store_before_kill: $store_before, store_bytes_on_disk: $store_du, store_file_bytes: $store_file,
    rss_before_kill_kib: $rss_before,
    recovery: {
      to_listening_ms: $listen_ms, to_started_ms: $started_ms,
      store_opened_at_ms: $opened_ms, sessions_restored_at_ms: $restored_ms,
      first_listener_at_ms: $bound_ms,
      store_read_ms: $read_ms, sessions_restore_ms: $restore_ms,
      stored_sessions: $stored_sessions, stored_messages: $stored_messages, restored: $restored,
      cpu_ms_to_started: $cpu_started, cpu_ms_after_settle: $cpu_settled,
      rss_started_kib: $rss_started, rss_settled_kib: $rss_settled, settle_s: $settle_s,
      rss_peak_kib: $hwm, rss_after_check_kib: $rss_checked,
      log_errors: $errors, log_warnings: $warnings,
      goal_s: $goal_s, met: ($started_ms != null and $started_ms <= $goal_s * 1000)},
    store_after_settle: $store_after, check: $check}' > "$OUT/recovery.json"

R="$OUT/recovery.json"
q() { jq -r "$1" "$R"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
met=$(q 'if .recovery.met then "met" else "NOT met" end')
{
  echo "# Recovery ($STAMP)"
  echo
  echo "$(q .fill.sessions_made) persistent sessions × $PER_SESSION QoS 1 messages of $PAYLOAD B ($(q .fill.acked) acknowledged), durability $DURABILITY, kill -9, restart on the same store."
  echo
  echo "| | figure |"
  echo "|---|---:|"
  echo "| sessions made (fill) | $(q .fill.sessions_made) in $(q .fill.sessions_secs) s ($(q .fill.sessions_per_s)/s) |"
  echo "| messages published and acknowledged (fill) | $(q .fill.acked) in $(q .fill.publish_secs) s ($(q .fill.publish_rate) msg/s) |"
  echo "| store on disk before the restart | $(awk -v b="$store_du" 'BEGIN { printf "%.1f MiB", b / 1048576 }') ($(q .store_before_kill.sessions) sessions, $(q .store_before_kill.messages) messages) |"
  echo "| **process start → \`arbor started\` (listeners open)** | **$(q .recovery.to_started_ms) ms** (goal ≤ ${GOAL_S} s: $met) |"
  echo "| process start → port accepting (polled) | $(q .recovery.to_listening_ms) ms |"
  echo "| of which: store read (\`store opened\` read_ms) | $(q .recovery.store_read_ms) ms ($(q .recovery.stored_sessions) sessions, $(q .recovery.stored_messages) messages) |"
  echo "| of which: sessions restored (restorer elapsed) | $(q .recovery.sessions_restore_ms) ms ($(q .recovery.restored) sessions) |"
  echo "| log timeline from the process start: store opened / sessions restored / first listener bound / started | $(q .recovery.store_opened_at_ms) / $(q .recovery.sessions_restored_at_ms) / $(q .recovery.first_listener_at_ms) / $(q .recovery.to_started_ms) ms |"
  echo "| CPU used until started | $(q .recovery.cpu_ms_to_started) ms |"
  echo "| RSS when started / ${SETTLE_S} s later / peak | $(mib "$rss_started") / $(mib "$rss_settled") / $(mib "$hwm") MiB |"
  echo "| RSS before the kill | $(mib "$rss_before") MiB |"
  echo "| check: sessions resumed (Session Present) | $(q '.check.checked // "-"') of $(q '.check.sample // "-"') ($(q '.check.session_absent // "-"') without) |"
  echo "| check: messages received / lost / duplicated / reordered | $(q '.check.received // "-"') / $(q '.check.lost // "-"') / $(q '.check.duplicated // "-"') / $(q '.check.reordered // "-"') |"
  echo "| errors / warnings in the recovery log | $errors / $warnings |"
} > "$OUT/table.md"
cat "$OUT/table.md"
log "results in $OUT"
