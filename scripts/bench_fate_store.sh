#!/usr/bin/env bash
# What the shared fate store costs a gateway (docs/reparenting.md, "Across
# gateways: cost"): //bench:fate_store_bench without a store and with a
# redis-server started here on 127.0.0.1 and a free port, paced at
# BENCH_RATE spans/s and then as fast as it goes. Prints one line per run.
#
#   scripts/bench_fate_store.sh
#   BENCH_RATE=20000 BENCH_REQUESTS=1000 scripts/bench_fate_store.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${BENCH_RATE:-50000}
REQUESTS=${BENCH_REQUESTS:-1500}
CONSUMER_TRACES=${BENCH_CONSUMER_TRACES:-5}

command -v redis-server >/dev/null || { echo "redis-server missing: scripts/install_deps.sh --test" >&2; exit 1; }
bazel build -c opt //bench:fate_store_bench >&2
bench="$(bazel info -c opt bazel-bin 2>/dev/null)/bench/fate_store_bench"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

common=(--requests="$REQUESTS" --consumer_traces="$CONSUMER_TRACES" --shards=2)
"$bench" "${common[@]}" --rate="$RATE"
"$bench" "${common[@]}" --rate="$RATE" --redis="127.0.0.1:$port"
"$bench" "${common[@]}" --requests=$((REQUESTS * 2))
"$bench" "${common[@]}" --requests=$((REQUESTS * 2)) --redis="127.0.0.1:$port"
