#!/usr/bin/env bash
# Interleaved A/B of two gateway binaries under the same load: for each
# round, gateway A then gateway B, each started with a minimal configuration
# (the defaults, exporting gzip OTLP/HTTP to its own //bench:noop_sink),
# driven by //bench:load_generator, then stopped. Prints one line per run:
# accepted spans/s, the gateway's CPU-seconds per million spans, p50/p99,
# errors, peak RSS, and how many requests waited for room and for how long
# on average (the gateway's /metrics). The A/Bs in docs/performance.md were run this way.
#
#   scripts/ab_gateway.sh OLD_BINARY NEW_BINARY
#   ROUNDS=3 PROTO=http CONC=16 DUR=6s scripts/ab_gateway.sh a b
#   EXTRA="--rate=1000 --concurrency=64" scripts/ab_gateway.sh a b
#
# Environment (all optional): ROUNDS=3, PROTO=grpc (grpc, http, http-json),
# CONC=4, DUR=6s, EXTRA (more load_generator flags; later flags win).
set -euo pipefail
(($# == 2)) || { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" >&2; exit 2; }
GW_A=$(realpath "$1")
GW_B=$(realpath "$2")
ROUNDS=${ROUNDS:-3} PROTO=${PROTO:-grpc} CONC=${CONC:-4} DUR=${DUR:-6s} EXTRA=${EXTRA:-}
cd "$(dirname "$0")/.."
bazel build -c opt //bench:noop_sink //bench:load_generator >&2
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_ports() {
  python3 -c 'import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))'
}

run() {  # run <gateway binary> <tag>
  local gateway=$1 tag=$2
  "$BIN/bench/noop_sink" --grpc-port=-1 --http-port=0 >"$WORK/sink.out" 2>/dev/null &
  local sink=$!
  PIDS+=("$sink")
  for _ in $(seq 100); do [[ -s "$WORK/sink.out" ]] && break; sleep 0.05; done
  local sink_http
  sink_http=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["http_port"])' "$WORK/sink.out")
  local grpc http admin
  read -r grpc http admin < <(free_ports)
  cat >"$WORK/gateway.yaml" <<YAML
receivers:
  grpc: {endpoint: "127.0.0.1:$grpc", max_recv_msg_size_mib: 16}
  http: {endpoint: "127.0.0.1:$http"}
admin: {endpoint: "127.0.0.1:$admin"}
exporter:
  type: dynatrace
  dynatrace: {endpoint: "http://127.0.0.1:$sink_http/api/v2/otlp", api_token: "bench-token-not-a-secret"}
log: {level: warn}
YAML
  "$gateway" --config="$WORK/gateway.yaml" >"$WORK/gateway.log" 2>&1 &
  local gw=$!
  PIDS+=("$gw")
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.05; done
  local port=$grpc
  [[ $PROTO == grpc ]] || port=$http
  # shellcheck disable=SC2086  # EXTRA is a list of flags
  local line
  line=$("$BIN/bench/load_generator" --protocol="$PROTO" --target="127.0.0.1:$port" --concurrency="$CONC" \
    --duration="$DUR" --spans_per_request=100 --span_bytes=300 --consumer_share=0.2 --gateway_pid="$gw" \
    --json $EXTRA 2>/dev/null | tail -n 1)
  local metrics
  metrics=$(curl -sf "http://127.0.0.1:$admin/metrics" || true)
  python3 -c 'import json, re, sys
d = json.loads(sys.argv[1])
def samples(name, transport):  # (labels, value) of each series of the transport
  pattern = r"^%s\{([^}]*transport=\"%s\"[^}]*)\} (\S+)$" % (name, transport)
  return [(labels, float(value)) for labels, value in re.findall(pattern, sys.argv[3], re.M)]
transport = "grpc" if d["protocol"] == "grpc" else "http"
# Every outcome but no_wait (answered at once, without waiting).
waited = sum(v for labels, v in samples("gateway_admission_waits_total", transport) if "no_wait" not in labels)
waited_us = sum(v for _, v in samples("gateway_admission_wait_microseconds_total", transport))
print("%s  spans/s %8.0f  cpu_s/M %5.2f  p50 %5.2f  p99 %6.2f ms  errors %d  peak_rss_mib %.0f  waited %d (mean %.2f ms)" % (
      sys.argv[2], d["spans_per_s"], d["gateway_cpu_s_per_million_spans"], d["latency_ms"]["p50"],
      d["latency_ms"]["p99"], d["errors"], d["gateway_max_rss_mib"], waited, waited_us / 1000 / max(waited, 1)))' \
    "$line" "$tag" "$metrics"
  kill -TERM "$gw"; wait "$gw" 2>/dev/null || true
  kill "$sink"; wait "$sink" 2>/dev/null || true
}

for round in $(seq "$ROUNDS"); do
  echo "# round $round, load average $(cut -d' ' -f1 /proc/loadavg)"
  run "$GW_A" A
  run "$GW_B" B
done
