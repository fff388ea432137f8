#!/usr/bin/env bash
# The process memory bound under overload, on the real binary: a gateway with
# queue.process_memory_limit_mib=128 (and a telemetry budget far above it)
# exports to a sink that answers after 300 ms while 32 gRPC clients push as
# fast as they can for 6 s. Checks that
#   - clients were pushed back: calls waited for room (queue.admission_wait,
#     counted in gateway_admission_waits_total) or were answered UNAVAILABLE,
#     and no other error happened;
#   - the gateway's resident memory never passed the bound (VmHWM, the
#     kernel's own peak, and a 10 ms sampler);
#   - the memory guard ran (its gauge in /metrics); which limit pushed back
#     (the telemetry budget, fitted to an eighth of the bound, or the guard
#     itself) is printed, not asserted: either keeps the bound;
#   - once the load stopped the gateway delivered every span it accepted and
#     became ready again.
#   memory_bound_test.sh <otlp_gateway> <noop_sink> <load_generator>
set -euo pipefail
gateway_bin=$1
sink_bin=$2
loadgen_bin=$3
work=${TEST_TMPDIR:-$(mktemp -d)}
limit_mib=128

pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done' EXIT

"$sink_bin" --grpc_port=-1 --http_port=0 --http_delay_ms=300 >"$work/sink.out" 2>"$work/sink.err" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/sink.out" ]] && break; sleep 0.1; done
sink_port=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' "$work/sink.out")
[[ -n "$sink_port" ]] || { echo "FAIL: sink did not start" >&2; cat "$work/sink.err" >&2; exit 1; }

cat >"$work/gateway.yaml" <<YAML
receivers:
  grpc: {endpoint: "127.0.0.1:0"}
  http: {endpoint: "127.0.0.1:0"}
admin:
  endpoint: "127.0.0.1:0"
exporter:
  type: otlphttp
  otlphttp:
    endpoint: "http://127.0.0.1:$sink_port"
queue:
  memory_limit_mib: 1024
  process_memory_limit_mib: $limit_mib
log:
  level: info
YAML
"$gateway_bin" --config="$work/gateway.yaml" >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
grpc_port="" admin_port=""
for _ in $(seq 100); do
  line=$(grep -m1 '"msg":"listening"' "$work/gateway.log" || true)
  if [[ -n "$line" ]]; then
    grpc_port=$(sed -n 's/.*"grpc_port":"\([0-9]*\)".*/\1/p' <<<"$line")
    admin_port=$(sed -n 's/.*"admin_port":"\([0-9]*\)".*/\1/p' <<<"$line")
    break
  fi
  sleep 0.1
done
[[ -n "$grpc_port" && -n "$admin_port" ]] || { echo "FAIL: gateway did not start" >&2; cat "$work/gateway.log" >&2; exit 1; }

# Resident memory every 10 ms while the gateway lives (bounded by the test).
(
  while rss=$(awk '/VmRSS/ {print $2}' "/proc/$gw_pid/status" 2>/dev/null) && [[ -n "$rss" ]]; do
    echo "$rss"
    sleep 0.01
  done
) >"$work/rss_kib.txt" &
pids+=($!)

result=$(timeout 60 "$loadgen_bin" --target="127.0.0.1:$grpc_port" --protocol=grpc --concurrency=32 \
  --duration=6s --spans_per_request=100 --span_bytes=300 --consumer_share=0.2 --timeout=5s --json 2>"$work/loadgen.err")
echo "load: $result"
field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" <<<"$result"; }
accepted=$(field spans_ok)
errors=$(field errors)
backpressure=$(sed -n 's/.*"grpc_UNAVAILABLE":\([0-9]*\).*/\1/p' <<<"$result")
((accepted > 0)) || { echo "FAIL: nothing accepted" >&2; exit 1; }
waited=$(curl -sf --max-time 5 "http://127.0.0.1:$admin_port/metrics" |
  awk '/^gateway_admission_waits_total\{transport="grpc",outcome="(admitted|timed_out)"\}/ {n += $2} END {print n + 0}')
echo "calls that waited for room: $waited, answered UNAVAILABLE: ${backpressure:-0}"
((errors > 0 || waited > 0)) || { echo "FAIL: no backpressure: the load did not overload the gateway" >&2; exit 1; }
[[ "${backpressure:-0}" == "$errors" ]] || { echo "FAIL: $errors errors, only ${backpressure:-0} UNAVAILABLE" >&2; exit 1; }

hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$gw_pid/status")
sampled_kib=$(sort -n "$work/rss_kib.txt" | tail -n 1)
echo "peak RSS: VmHWM $((hwm_kib / 1024)) MiB, sampled $((sampled_kib / 1024)) MiB, bound $limit_mib MiB"
((hwm_kib <= limit_mib * 1024)) || { echo "FAIL: VmHWM ${hwm_kib} KiB over the ${limit_mib} MiB bound" >&2; exit 1; }

metrics=$(curl -sf --max-time 5 "http://127.0.0.1:$admin_port/metrics")
limit_gauge=$(sed -n 's/^gateway_process_memory_limit_bytes \([0-9]*\)$/\1/p' <<<"$metrics")
resident=$(sed -n 's/^gateway_process_resident_bytes \([0-9]*\)$/\1/p' <<<"$metrics")
pressure=$(sed -n 's/^gateway_memory_pressure_total \([0-9]*\)$/\1/p' <<<"$metrics")
table_bytes=$(sed -n 's/^gateway_reparent_table_bytes \([0-9]*\)$/\1/p' <<<"$metrics")
echo "guard: limit ${limit_gauge:-?} B, resident ${resident:-?} B, pressure episodes ${pressure:-?}, reparent tables ${table_bytes:-?} B"
[[ "$limit_gauge" == "$((limit_mib * 1024 * 1024))" ]] || { echo "FAIL: the memory guard is not running" >&2; exit 1; }
((resident > 0)) || { echo "FAIL: the guard reports no resident size" >&2; exit 1; }
((table_bytes <= limit_mib * 1024 * 1024 / 4)) || { echo "FAIL: reparent tables over a quarter of the bound" >&2; exit 1; }

# Everything accepted arrives (bounded), and the gateway is ready again.
delivered=0
for _ in $(seq 600); do
  stats=$(curl -sf --max-time 5 "http://127.0.0.1:$sink_port/stats" || true)
  delivered=$(sed -n 's/.*"traces":{[^}]*"spans":\([0-9]*\).*/\1/p' <<<"$stats")
  ((${delivered:-0} >= accepted)) && break
  sleep 0.1
done
echo "accepted $accepted spans, the sink received $delivered"
[[ "$delivered" == "$accepted" ]] || { echo "FAIL: delivered $delivered of $accepted" >&2; exit 1; }
for _ in $(seq 100); do
  curl -sf --max-time 2 "http://127.0.0.1:$admin_port/readyz" >/dev/null && { echo PASS; exit 0; }
  sleep 0.1
done
echo "FAIL: not ready after the load stopped" >&2
exit 1
