#!/usr/bin/env bash
# arbor vs Mosquitto and rumqttd, same machine, same sitting (issue 8). See bench/README.md.
#
#   bench/run.sh [--quick] [scenario...]
#
# Scenarios: fanin (a), fanout (b), pairs (c), latency (d: QoS 0 and QoS 1), idle (e),
# slow (f), fanout5 / pairs5 (fanout and pairs with MQTT 5 clients), over TLS: tlsidle
# (g: 19,000 new TLS connections, handshakes per second) and tlsfanin (h: fanin over TLS), and
# pairsd (i: pairs with persistent subscribers, so arbor stores every message before its
# PUBACK; run against arbor with durability "sync", arbor with "os" (labelled arbor-os), and
# the others, which keep them in memory); none given means all. Over TLS arbor and Mosquitto
# serve the same certificate, made by openssl for the sitting (rumqttd is not run over TLS).
# --quick uses 5 s windows; the default windows are 20 s (30 s for idle and slow).
#
# Each scenario runs against a fresh arbor (release build; its store in a new, empty directory
# of the results, deleted after the run), then a fresh Mosquitto 2.x, then a fresh rumqttd 0.20
# (installed under the target dir on first use), each under a hard time limit. Results go to
# bench/results/<date>/: results.jsonl (one JSON object per run), table.md, machine.txt,
# findings.md (crashes, hangs, losses, errors in arbor's log, a broker that cannot be
# installed) and every broker's and load generator's log. Brokers are stopped on exit,
# whatever happens. bench/recovery.sh measures arbor's restart with a full store.
#
# Environment: CARGO_TARGET_DIR (default target/), QUIET_PCT (wait before each run until the
# rest of the machine uses at most this % of one core; default 50), QUIET_MAX_S (longest wait
# for that; default 60, 10 with --quick), BROKERS (default "arbor mosquitto rumqttd"),
# RUMQTTD (a rumqttd 0.20 binary to use instead of installing one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TARGET_DIR="$TARGET"

QUICK=0
REQUESTED=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    a|fanin) REQUESTED+=(fanin) ;;
    b|fanout) REQUESTED+=(fanout) ;;
    c|pairs) REQUESTED+=(pairs) ;;
    fanout5) REQUESTED+=(fanout5) ;;
    pairs5) REQUESTED+=(pairs5) ;;
    i|pairsd) REQUESTED+=(pairsd) ;;
    d|latency) REQUESTED+=(latency0 latency1) ;;
    e|idle) REQUESTED+=(idle) ;;
    f|slow) REQUESTED+=(slow) ;;
    g|tlsidle) REQUESTED+=(tlsidle) ;;
    h|tlsfanin) REQUESTED+=(tlsfanin) ;;
    *) echo "run.sh: unknown scenario or flag: $arg" >&2; exit 2 ;;
  esac
done
[ ${#REQUESTED[@]} -gt 0 ] || REQUESTED=(fanin fanout fanout5 pairs pairs5 pairsd latency0 latency1 idle slow tlsidle tlsfanin)
read -r -a BROKERS <<< "${BROKERS:-arbor mosquitto rumqttd}"

if [ "$QUICK" = 1 ]; then
  WARMUP=1; WINDOW=5; LONG_WINDOW=5; DRAIN=20; QUIET_MAX_S="${QUIET_MAX_S:-10}"
else
  WARMUP=2; WINDOW=20; LONG_WINDOW=30; DRAIN=30; QUIET_MAX_S="${QUIET_MAX_S:-60}"
fi
QUIET_PCT="${QUIET_PCT:-50}"

STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT="$ROOT/bench/results/$STAMP"
mkdir -p "$OUT/logs"
RESULTS="$OUT/results.jsonl"
FINDINGS="$OUT/findings.md"
: > "$RESULTS"
SITTING_START=$(date +%s)
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

# --- brokers are always stopped ---------------------------------------------------------
BROKER_PID=""
stop_broker() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker $pid ignored SIGTERM for 10 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop_broker "$BROKER_PID"; BROKER_PID=""; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# --- build and install -------------------------------------------------------------------
log "building arbor and loadgen (release) into $TARGET"
cargo build --release --bin arbor >"$OUT/logs/build.log" 2>&1 || { cat "$OUT/logs/build.log" >&2; exit 1; }
cargo build --release -p arbor-bench --bin loadgen >>"$OUT/logs/build.log" 2>&1 || { cat "$OUT/logs/build.log" >&2; exit 1; }
ARBOR="$TARGET/release/arbor"
LOADGEN="$TARGET/release/loadgen"

MOSQUITTO=$(command -v mosquitto || true)
[ -n "$MOSQUITTO" ] || [ ! -x /usr/sbin/mosquitto ] || MOSQUITTO=/usr/sbin/mosquitto
if [ -z "$MOSQUITTO" ]; then
  log "installing mosquitto"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null
  MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
fi

# rumqttd 0.20 from crates.io, built once into the target dir. Not --locked: its lock file
# pins a `metrics` crate that today's rustc no longer compiles. A failed install is a
# finding, and rumqttd's runs are then recorded as failed.
RUMQTTD="${RUMQTTD:-}"
RUMQTTD_ERROR=""
if [[ " ${BROKERS[*]} " == *" rumqttd "* ]] && [ -z "$RUMQTTD" ]; then
  RUMQTTD_ROOT="$TARGET/rumqttd-0.20.0"
  RUMQTTD="$RUMQTTD_ROOT/bin/rumqttd"
  if [ ! -x "$RUMQTTD" ]; then
    log "installing rumqttd 0.20.0 into $RUMQTTD_ROOT (once)"
    if ! CARGO_TARGET_DIR="$RUMQTTD_ROOT/build" cargo install rumqttd --version 0.20.0 \
        --root "$RUMQTTD_ROOT" >"$OUT/logs/rumqttd-install.log" 2>&1; then
      RUMQTTD_ERROR="cargo install rumqttd --version 0.20.0 failed (logs/rumqttd-install.log)"
    fi
    rm -rf "$RUMQTTD_ROOT/build"
  fi
fi
if [ -z "$RUMQTTD_ERROR" ] && [ -n "$RUMQTTD" ] && [ ! -x "$RUMQTTD" ]; then
  RUMQTTD_ERROR="no rumqttd binary at $RUMQTTD"
fi

# The idle scenario holds 19,000 sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- machine ------------------------------------------------------------------------------
{
  echo "date: $(date -Is)"
  echo "mode: $([ "$QUICK" = 1 ] && echo quick || echo full) (warmup ${WARMUP}s, window ${WINDOW}s, idle/slow ${LONG_WINDOW}s)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB total, " $7 " MiB available"}')"
  echo "kernel: $(uname -srm)"
  echo "fd limit: soft $(ulimit -n), hard $(ulimit -Hn)"
  echo "storage (arbor's store dirs): $(df -T "$OUT" | awk 'NR == 2 {print $2 " on " $1}')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rustc: $(rustc --version)"
  echo "arbor: $("$ARBOR" --version)"
  echo "mosquitto: $("$MOSQUITTO" -h 2>&1 | head -1)"
  [ -z "$RUMQTTD" ] || echo "rumqttd: ${RUMQTTD_ERROR:-$("$RUMQTTD" --version 2>&1 | head -1)}"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# --- TLS: one CA and one server certificate for localhost, used by both brokers -------------
CERTS="$OUT/certs"
mkdir -p "$CERTS"
{
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$CERTS/server.key" -out "$CERTS/server.csr"
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" > "$CERTS/server.ext"
  openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
    -CAcreateserial -days 2 -extfile "$CERTS/server.ext" -out "$CERTS/server.pem"
} >"$OUT/logs/certs.log" 2>&1 || { cat "$OUT/logs/certs.log" >&2; exit 1; }

# --- helpers ------------------------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
NEXT_PORT=$((20000 + ($$ % 500) * 20))
take_port() {
  while ! port_free "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
  PORT=$NEXT_PORT; NEXT_PORT=$((NEXT_PORT + 1))
}

# Busy CPU of the whole machine over one second, in % of one core.
machine_busy_pct() {
  local a b
  a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat); sleep 1
  b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; idle = y[2] - x[2]; n = '"$(nproc)"';
    printf "%d", (busy + idle > 0) ? busy * 100 * n / (busy + idle) : 0 }'
}

# Waits (at most QUIET_MAX_S) until other work on the machine uses at most QUIET_PCT.
wait_quiet() {
  local waited=0 busy
  busy=$(machine_busy_pct)
  while [ "$busy" -gt "$QUIET_PCT" ] && [ "$waited" -lt "$QUIET_MAX_S" ]; do
    sleep 4; waited=$((waited + 5)); busy=$(machine_busy_pct)
  done
  [ "$busy" -le "$QUIET_PCT" ] || log "machine still busy (${busy}% of a core) after ${waited}s: running anyway"
}

# arbor, durability "sync" (its default); arbor-os is the same with durability "os". Each run
# gets a new, empty store directory in the results ($OUT/store-<run>, deleted after the run),
# so nothing one run stored is found by the next, and nothing is written to the repo's data/.
start_arbor() {
  local name="$1" durability="${2:-sync}" conf="$OUT/arbor-tls.toml"
  take_port; local mqtt=$PORT; take_port; local admin=$PORT
  BROKER_STORE="$OUT/store-$name"
  rm -rf "$BROKER_STORE"; mkdir -p "$BROKER_STORE"
  local args=()
  if [ "$TLS" = 1 ]; then
    take_port
    cat >"$conf" <<EOF
[listeners.tls]
kind = "tls"
bind = "127.0.0.1:$PORT"
acceptors = 16
max_connections = 102400
access = ["allow all"]
rate_limit = ""
proxy_protocol = false
[listeners.tls.tls]
certfile = "$CERTS/server.pem"
keyfile = "$CERTS/server.key"
cacertfile = ""
verify = "none"
fail_if_no_peer_cert = false
versions = ["tlsv1.2", "tlsv1.3"]
ciphers = []
peer_cert_as_username = ""
EOF
    args=(run -c "$conf")
  fi
  ARBOR__LISTENERS__TCP__BIND="127.0.0.1:$mqtt" ARBOR__ADMIN__BIND="127.0.0.1:$admin" \
    ARBOR__STORAGE__DIR="$BROKER_STORE" ARBOR__STORAGE__DURABILITY="$durability" \
    ARBOR__LOG__LEVEL=warn "$ARBOR" "${args[@]}" >"$OUT/logs/$name.arbor.log" 2>&1 &
  BROKER_PID=$!; BROKER_PORT=$mqtt; BROKER_LOG="$OUT/logs/$name.arbor.log"
  BROKER_ADMIN="127.0.0.1:$admin"
  [ "$TLS" = 0 ] || BROKER_PORT=$PORT
}

start_mosquitto() {
  local name="$1" conf="$OUT/mosquitto.conf"
  take_port
  # No drops: unlimited queue; 32 in flight per client as arbor's session.max_inflight;
  # TCP_NODELAY as arbor sets it; no persistence; runs as root so the log is ours.
  cat >"$conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 32
set_tcp_nodelay true
persistence false
user root
log_dest stderr
log_type error
log_type warning
EOF
  if [ "$TLS" = 1 ]; then
    printf "cafile %s\ncertfile %s\nkeyfile %s\n" "$CERTS/ca.pem" "$CERTS/server.pem" "$CERTS/server.key" >>"$conf"
  fi
  "$MOSQUITTO" -c "$conf" >"$OUT/logs/$name.mosquitto.log" 2>&1 &
  BROKER_PID=$!; BROKER_PORT=$PORT; BROKER_LOG="$OUT/logs/$name.mosquitto.log"
}

start_rumqttd() {
  local name="$1" conf="$OUT/rumqttd.toml"
  take_port; local v4=$PORT; take_port; local v5=$PORT
  # As Mosquitto's: 32 in flight per connection, loopback, nothing on disk (rumqttd has no
  # persistence), queues big enough not to drop (each filter's commit log up to 10 x 100 MB),
  # room for the idle scenario's 19,000 connections, and no pause between accepts
  # (next_connection_delay_ms, 1 ms in rumqttd's sample config, would cap connects at
  # 1,000/s). rumqttd has no TCP_NODELAY setting. It serves MQTT 3.1.1 and 5 on separate
  # listeners: the run uses the one of its clients' version.
  cat >"$conf" <<EOF
id = 0

[router]
id = 0
max_connections = 20100
max_outgoing_packet_count = 1024
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:$v4"
next_connection_delay_ms = 0
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 1048576
    max_inflight_count = 32
    dynamic_filters = true

[v5.1]
name = "v5-1"
listen = "127.0.0.1:$v5"
next_connection_delay_ms = 0
    [v5.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 1048576
    max_inflight_count = 32
    dynamic_filters = true
EOF
  BROKER_LOG="$OUT/logs/$name.rumqttd.log"
  "$RUMQTTD" --quiet -c "$conf" >"$BROKER_LOG" 2>&1 &
  BROKER_PID=$!; BROKER_PORT=$v4
  [ "$(scenario_version "$name")" != 5 ] || BROKER_PORT=$v5
}

wait_port() {
  [ -n "$1" ] || return 1
  for _ in $(seq 1 100); do
    port_free "$1" || return 0
    kill -0 "$BROKER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

finding() {
  [ -s "$FINDINGS" ] || echo "# Findings ($STAMP)" > "$FINDINGS"
  {
    echo; echo "## $1"; echo; echo "$2"; echo
    if [ -s "$BROKER_LOG" ]; then
      echo "Broker log tail:"; echo; echo '```text'; tail -n 30 "$BROKER_LOG"; echo '```'
    else
      echo "The broker logged nothing (level warn)."
    fi
  } >> "$FINDINGS"
  log "FINDING: $1: $2"
}

# Loadgen arguments and hard time limit (s) of each scenario.
scenario_args() {
  case "$1" in
    fanin) echo "fanin --warmup $WARMUP --window $WINDOW --drain $DRAIN" ;;
    fanout) echo "fanout --warmup $WARMUP --window $WINDOW --drain $DRAIN" ;;
    pairs) echo "pairs --warmup $WARMUP --window $WINDOW --drain $DRAIN" ;;
    fanout5) echo "fanout --mqtt-version 5 --warmup $WARMUP --window $WINDOW --drain $DRAIN" ;;
    pairs5) echo "pairs --mqtt-version 5 --warmup $WARMUP --window $WINDOW --drain $DRAIN" ;;
    pairsd) echo "pairs --persistent-subscribers --warmup $WARMUP --window $WINDOW --drain $DRAIN" ;;
    latency0) echo "latency --qos 0 --warmup $WARMUP --window $WINDOW --drain $DRAIN" ;;
    latency1) echo "latency --qos 1 --warmup $WARMUP --window $WINDOW --drain $DRAIN" ;;
    idle) echo "idle --window $LONG_WINDOW" ;;
    slow) echo "slow --warmup 1 --window $LONG_WINDOW --drain $DRAIN" ;;
    tlsidle) echo "idle --window $LONG_WINDOW --tls-ca $CERTS/ca.pem" ;;
    tlsfanin) echo "fanin --warmup $WARMUP --window $WINDOW --drain $DRAIN --tls-ca $CERTS/ca.pem" ;;
  esac
}
# The clients' MQTT version of a scenario (or of a run named scenario.broker): 5 or 4.
scenario_version() {
  case "${1%%.*}" in *5) echo 5 ;; *) echo 4 ;; esac
}
scenario_limit() {
  case "$1" in
    idle|tlsidle) echo $((LONG_WINDOW + 200)) ;;
    slow) echo $((LONG_WINDOW + DRAIN + 60)) ;;
    *) echo $((WARMUP + WINDOW + DRAIN + 60)) ;;
  esac
}

# A JSON line for a run that produced no report (uses the loop's variables).
failed_run() {
  echo "{\"scenario\":\"$base\",\"broker\":\"$broker\",\"qos\":$qos,\"mqtt_version\":$version,\"failed\":true,\"errors\":[\"$1\"]}" >> "$RESULTS"
}

# --- the sitting --------------------------------------------------------------------------
# The brokers of a scenario: with persistent subscribers (pairsd) arbor runs twice, with
# durability "sync" (arbor) and "os" (arbor-os).
scenario_brokers() {
  local b
  for b in "${BROKERS[@]}"; do
    echo "$b"
    [ "$1" != pairsd ] || [ "$b" != arbor ] || echo arbor-os
  done
}

for scenario in "${REQUESTED[@]}"; do
  base="${scenario%5}"; base="${base%[01]}"
  version=$(scenario_version "$scenario")
  qos=0; case "$scenario" in pairs*|latency1) qos=1 ;; esac
  for broker in $(scenario_brokers "$scenario"); do
    name="$scenario.$broker"
    TLS=0; case "$scenario" in tls*) TLS=1 ;; esac
    # The harness configures TLS for arbor and Mosquitto only.
    [ "$broker" != rumqttd ] || [ "$TLS" = 0 ] || continue
    if [ "$broker" = rumqttd ] && [ -n "$RUMQTTD_ERROR" ]; then
      BROKER_LOG=/dev/null
      finding "$name: not run" "$RUMQTTD_ERROR"
      failed_run "not installed"
      continue
    fi
    wait_quiet
    BROKER_ADMIN=""; BROKER_STORE=""
    case "$broker" in
      arbor-os) start_arbor "$name" os ;;
      *) "start_$broker" "$name" ;;
    esac
    if ! wait_port "$BROKER_PORT"; then
      finding "$name: did not start" "the broker never listened on port $BROKER_PORT"
      failed_run "did not start"
      stop_broker "$BROKER_PID"; BROKER_PID=""
      [ -z "$BROKER_STORE" ] || rm -rf "$BROKER_STORE"
      continue
    fi
    limit=$(scenario_limit "$scenario")
    log "$name: pid $BROKER_PID port $BROKER_PORT, limit ${limit}s"
    set +e
    # rumqttd 0.20 refuses a CONNECT with keep alive 0 (ZeroKeepAlive), which MQTT allows
    # [MQTT-3.1.2-10]: its clients ask for an hour, longer than any run, so no PINGREQ is due.
    keep_alive=0; [ "$broker" != rumqttd ] || keep_alive=3600
    # arbor's store figures (commits, bytes written) are read from its admin API.
    admin=(); [ -z "$BROKER_ADMIN" ] || admin=(--admin "$BROKER_ADMIN")
    # shellcheck disable=SC2046 # the scenario's arguments are meant to split
    timeout --kill-after=5 "$limit" "$LOADGEN" run $(scenario_args "$scenario") --keep-alive "$keep_alive" \
      --port "$BROKER_PORT" --broker-pid "$BROKER_PID" --label "$broker" --time-limit "$((limit - 5))" \
      "${admin[@]}" >"$OUT/logs/$name.json" 2>"$OUT/logs/$name.loadgen.log"
    status=$?
    set -e
    if [ -s "$OUT/logs/$name.json" ]; then
      cat "$OUT/logs/$name.json" >> "$RESULTS"
    else
      failed_run "loadgen exit $status, no report"
    fi
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      code=0; wait "$BROKER_PID" 2>/dev/null || code=$?
      finding "$name: broker died during the run" "exit status $code"
      BROKER_PID=""
    elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
      finding "$name: hung" "the load generator hit its ${limit}s limit"
    fi
    if [ -s "$OUT/logs/$name.json" ] && grep -q '"failed":true' "$OUT/logs/$name.json"; then
      finding "$name: failed" "$(grep -o '"errors":.*' "$OUT/logs/$name.json" | head -c 600)"
    fi
    if [ -s "$OUT/logs/$name.json" ] && grep -q '"lost":[1-9]' "$OUT/logs/$name.json"; then
      lost=$(grep -o '"lost":[0-9]*' "$OUT/logs/$name.json" | head -1 | cut -d: -f2)
      case "$broker" in
        arbor*) finding "$name: lost messages" "$lost deliveries never arrived (see $name.json)" ;;
      esac
    fi
    case "$broker" in
      arbor*) if grep -q ' ERROR ' "$BROKER_LOG"; then
          finding "$name: errors in arbor's log" "$(grep -c ' ERROR ' "$BROKER_LOG") lines at level ERROR"
        fi ;;
    esac
    stop_broker "$BROKER_PID"; BROKER_PID=""
    if [ -n "$BROKER_STORE" ]; then
      log "$name: store $(du -sh "$BROKER_STORE" | cut -f1) at the end of the run; deleted"
      rm -rf "$BROKER_STORE"
    fi
    tail -c 600 "$OUT/logs/$name.json" >&2 || true
  done
done

# The sitting's throwaway private keys stay out of the results.
rm -f "$CERTS"/*.key "$CERTS"/*.csr "$CERTS"/*.srl
"$LOADGEN" table "$RESULTS" --baseline mosquitto,rumqttd > "$OUT/table.md"
elapsed=$(( $(date +%s) - SITTING_START ))
echo "sitting took ${elapsed}s" >> "$OUT/machine.txt"
echo >&2
cat "$OUT/table.md"
log "results in $OUT (${elapsed}s)"
