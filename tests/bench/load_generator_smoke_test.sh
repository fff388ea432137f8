#!/usr/bin/env bash
# Starts the no-op sink on free ports, drives a few hundred requests at it
# with the load generator over gRPC and over HTTP, and checks that each run
# reports spans and no errors and that the sink counted the same spans.
#   load_generator_smoke_test.sh <noop_sink> <load_generator>
set -euo pipefail
sink_bin=$1
loadgen_bin=$2
work=${TEST_TMPDIR:-$(mktemp -d)}

"$sink_bin" --grpc-port=0 --http-port=0 >"$work/sink.out" 2>"$work/sink.err" &
sink_pid=$!
trap 'kill "$sink_pid" 2>/dev/null || true' EXIT

# The sink prints its ports as its first line; wait for it (10 s at most).
for _ in $(seq 100); do
  [[ -s "$work/sink.out" ]] && break
  kill -0 "$sink_pid" || { cat "$work/sink.err" >&2; exit 1; }
  sleep 0.1
done
ports=$(head -n 1 "$work/sink.out")
grpc_port=$(sed -n 's/.*"grpc_port":\([0-9]*\).*/\1/p' <<<"$ports")
http_port=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' <<<"$ports")
[[ -n "$grpc_port" && -n "$http_port" ]] || { echo "no ports in: $ports" >&2; exit 1; }

field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" <<<"$2"; }

total=0
for protocol in grpc http; do
  port=$grpc_port
  [[ $protocol == http ]] && port=$http_port
  line=$(timeout 60 "$loadgen_bin" --target="127.0.0.1:$port" --protocol="$protocol" \
    --concurrency=4 --requests=300 --duration=5s --spans_per_request=20 --span_bytes=200 \
    --consumer_share=0.2 --out_of_order --pool=32 --gateway_pid="$sink_pid" --json 2>/dev/null)
  echo "$protocol: $line"
  spans=$(field spans_ok "$line")
  errors=$(field errors "$line")
  requests=$(field requests_ok "$line")
  [[ "$errors" == 0 ]] || { echo "FAIL: $protocol errors=$errors" >&2; exit 1; }
  [[ "$requests" == 300 ]] || { echo "FAIL: $protocol requests_ok=$requests, want 300" >&2; exit 1; }
  ((spans > 0)) || { echo "FAIL: $protocol spans_ok=$spans" >&2; exit 1; }
  grep -q '"gateway_max_rss_mib":[0-9]' <<<"$line" || { echo "FAIL: no RSS of the sink" >&2; exit 1; }
  total=$((total + spans))
done

# The sink's own count, over HTTP, must match what the generator sent.
stats=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$http_port; printf 'GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3; cat <&3")
sink_spans=$(sed -n 's/.*"traces":{[^}]*"spans":\([0-9]*\).*/\1/p' <<<"$stats")
echo "sink counted $sink_spans spans, generator sent $total"
[[ "$sink_spans" == "$total" ]] || { echo "FAIL: sink counted $sink_spans spans, want $total" >&2; exit 1; }
echo PASS
