#!/usr/bin/env bash
# End-to-end benchmark: the same load generator against the no-op sink (the
# ceiling of the transport on this machine) and against the gateway (which
# exports OTLP/HTTP to a second no-op sink), over gRPC and HTTP at several
# concurrencies; then an overload run against a gateway with a small memory
# limit and a slow export target. Writes the "End-to-end throughput" section
# of docs/performance.md (between the e2e-bench markers, rest preserved) and
# docs/throughput.png.
#
#   scripts/bench.sh                      # about 3 minutes
#   BENCH_DURATION=2s BENCH_CONCURRENCY="1 8" scripts/bench.sh
#
# Environment (all optional):
#   BENCH_DURATION=5s  BENCH_CONCURRENCY="1 2 4 8 16"  BENCH_PROTOCOLS="grpc http grpc-sdk http-json"
#     (grpc-sdk: gRPC with SDK-like spans, padded with attributes of
#     BENCH_SDK_ATTRIBUTE_BYTES=24 bytes each instead of one long string;
#     http-json: OTLP/HTTP JSON of the same requests; both at
#     BENCH_EXTRA_CONCURRENCY="1 4 16")
#   BENCH_SPANS_PER_REQUEST=100  BENCH_SPAN_BYTES=300  BENCH_CONSUMER_SHARE=0.2
#   BENCH_GRPC_CONNECTIONS=1  BENCH_OVERLOAD_DURATION=10s
#   BENCH_MEMORY_MIB=256  BENCH_PROCESS_MIB=0  (queue.memory_limit_mib and
#                             queue.process_memory_limit_mib of the measured gateway: the defaults)
#   BENCH_OVERLOAD_MEMORY_MIB=256  BENCH_OVERLOAD_PROCESS_MIB=128  (queue.memory_limit_mib and
#                             queue.process_memory_limit_mib of the overload run's gateway)
#   BENCH_OUTPUT_BASE=/path   bazel --output_base (default: bazel's own)
#   BENCH_DOC=docs/performance.md  BENCH_PNG=docs/throughput.png
#   BENCH_KEEP=1              keep the work directory (logs, configs, JSON)
#   BENCH_GATEWAY_BIN=/path   use this gateway binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-5s}
CONCURRENCY=${BENCH_CONCURRENCY:-1 2 4 8 16}
PROTOCOLS=${BENCH_PROTOCOLS:-grpc http grpc-sdk http-json}
SDK_ATTRIBUTE_BYTES=${BENCH_SDK_ATTRIBUTE_BYTES:-24}
EXTRA_CONCURRENCY=${BENCH_EXTRA_CONCURRENCY:-1 4 16}
SPANS=${BENCH_SPANS_PER_REQUEST:-100}
SPAN_BYTES=${BENCH_SPAN_BYTES:-300}
CONSUMER_SHARE=${BENCH_CONSUMER_SHARE:-0.2}
GRPC_CONNECTIONS=${BENCH_GRPC_CONNECTIONS:-1}
OVERLOAD_MEMORY_MIB=${BENCH_OVERLOAD_MEMORY_MIB:-256}
OVERLOAD_PROCESS_MIB=${BENCH_OVERLOAD_PROCESS_MIB:-128}
OVERLOAD_DURATION=${BENCH_OVERLOAD_DURATION:-10s}
DOC=${BENCH_DOC:-docs/performance.md}
PNG=${BENCH_PNG:-docs/throughput.png}
COMMAND_LINE="$0 $*"

# Debian's python3 directly: a version-manager shim costs a second per call.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

bazel_cmd=(bazel)
if [[ -n "${BENCH_OUTPUT_BASE:-}" ]]; then bazel_cmd+=(--output_base="$BENCH_OUTPUT_BASE"); fi

# gnuplot for the PNG; installed once, idempotently.
if ! command -v gnuplot >/dev/null; then
  echo "bench: installing gnuplot-nox" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gnuplot-nox >&2
fi

targets=(//bench:noop_sink //bench:load_generator)
[[ -z "${BENCH_GATEWAY_BIN:-}" ]] && targets+=(//gateway:otlp_gateway)
echo "bench: building -c opt ${targets[*]}" >&2
"${bazel_cmd[@]}" build -c opt "${targets[@]}" >&2
BIN=$("${bazel_cmd[@]}" info -c opt bazel-bin 2>/dev/null)
SINK=$BIN/bench/noop_sink
LOADGEN=$BIN/bench/load_generator
GATEWAY=${BENCH_GATEWAY_BIN:-$BIN/gateway/otlp_gateway}

WORK=$(mktemp -d /tmp/bench.XXXXXX)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$WORK"; else echo "bench: kept $WORK" >&2; fi
}
trap cleanup EXIT

json_field() {  # json_field <file-or-line> <python expression over d>
  "$PY" -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"
}

# start_sink <name> <sink flags...>: sets SINK_PID, SINK_GRPC, SINK_HTTP.
start_sink() {
  local name=$1
  shift
  "$SINK" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  for _ in $(seq 100); do
    [[ -s "$WORK/$name.out" ]] && break
    kill -0 "$SINK_PID" 2>/dev/null || { cat "$WORK/$name.err" >&2; exit 1; }
    sleep 0.1
  done
  local line
  line=$(head -n 1 "$WORK/$name.out")
  SINK_GRPC=$(json_field "$line" 'd["grpc_port"]')
  SINK_HTTP=$(json_field "$line" 'd["http_port"]')
}

cpu_s() {  # cpu_s <pid>: utime+stime so far, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"
}

sink_spans() {  # sink_spans <http port>
  local stats
  stats=$(curl -sf --max-time 5 "http://127.0.0.1:$1/stats" || true)
  stats=$(sed -n 's/.*"traces":{[^}]*"spans":\([0-9]*\).*/\1/p' <<<"$stats")
  echo "${stats:-0}"
}

free_ports() {  # prints three free TCP ports
  "$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# start_gateway <name> <export http port> <memory MiB> [process MiB]: sets GW_PID, GW_GRPC, GW_HTTP, GW_ADMIN.
start_gateway() {
  local name=$1 export_port=$2 memory=$3 process=${4:-0}
  read -r GW_GRPC GW_HTTP GW_ADMIN < <(free_ports)
  cat >"$WORK/$name.yaml" <<EOF
receivers:
  grpc: {endpoint: "127.0.0.1:$GW_GRPC", max_recv_msg_size_mib: 16}
  http: {endpoint: "127.0.0.1:$GW_HTTP"}
admin:
  endpoint: "127.0.0.1:$GW_ADMIN"
exporter:
  type: dynatrace
  dynatrace:
    endpoint: "http://127.0.0.1:$export_port/api/v2/otlp"
    api_token: "bench-token-not-a-secret"
queue:
  memory_limit_mib: $memory
  process_memory_limit_mib: $process
log:
  level: warn
EOF
  "$GATEWAY" --config="$WORK/$name.yaml" >"$WORK/$name.log" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  for _ in $(seq 200); do
    if curl -sf "http://127.0.0.1:$GW_ADMIN/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$GW_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: gateway did not become ready; its log:" >&2
  tail -n 30 "$WORK/$name.log" >&2
  exit 1
}

stop_process() {  # SIGTERM and wait (at most 40 s)
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 400); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# wait_delivered <sink http port> <expected spans> <seconds>: prints the count reached.
wait_delivered() {
  local port=$1 want=$2 deadline=$((SECONDS + $3)) got=0
  while true; do
    got=$(sink_spans "$port")
    if ((got >= want || SECONDS >= deadline)); then break; fi
    sleep 0.2
  done
  echo "$got"
}

run_load() {  # run_load <label> <target> <protocol> <concurrency> <pid> [extra flags...]
  # <protocol> grpc-sdk: gRPC with SDK-like spans, reported under that name.
  local label=$1 target=$2 protocol=$3 concurrency=$4 pid=$5
  shift 5
  local wire=$protocol shape=()
  if [[ $protocol == grpc-sdk ]]; then wire=grpc shape=(--attribute_bytes="$SDK_ATTRIBUTE_BYTES"); fi
  timeout 300 "$LOADGEN" --label="$label" --target="$target" --protocol="$wire" \
    --concurrency="$concurrency" --connections="$GRPC_CONNECTIONS" --duration="$DURATION" \
    --spans_per_request="$SPANS" --span_bytes="$SPAN_BYTES" --consumer_share="$CONSUMER_SHARE" \
    --gateway_pid="$pid" --json "${shape[@]}" "$@" 2>>"$WORK/loadgen.log" |
    sed "s/\"protocol\":\"$wire\"/\"protocol\":\"$protocol\"/" | tee -a "$RESULTS" >/dev/null
  tail -n 1 "$RESULTS" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print("bench: %-8s %-4s c=%-3d %10.0f spans/s  p99 %7.2f ms  errors %d" % (d["label"], d["protocol"], d["concurrency"], d["spans_per_s"], d["latency_ms"]["p99"], d["errors"]))' >&2
}

# ---- throughput: sink vs gateway -------------------------------------------

start_sink ceiling --grpc-port=0 --http-port=0
CEILING_PID=$SINK_PID CEILING_GRPC=$SINK_GRPC CEILING_HTTP=$SINK_HTTP
start_sink export --grpc-port=-1 --http-port=0
EXPORT_PID=$SINK_PID EXPORT_HTTP=$SINK_HTTP
start_gateway gateway "$EXPORT_HTTP" "${BENCH_MEMORY_MIB:-256}" "${BENCH_PROCESS_MIB:-0}"

for protocol in $PROTOCOLS; do
  concurrencies=$CONCURRENCY
  [[ $protocol == grpc-sdk || $protocol == http-json ]] && concurrencies=$EXTRA_CONCURRENCY
  for c in $concurrencies; do
    if [[ $protocol == grpc* ]]; then
      sink_target=127.0.0.1:$CEILING_GRPC gw_target=127.0.0.1:$GW_GRPC
    else
      sink_target=127.0.0.1:$CEILING_HTTP gw_target=127.0.0.1:$GW_HTTP
    fi
    run_load sink "$sink_target" "$protocol" "$c" "$CEILING_PID"
    export_cpu_start=$(cpu_s "$EXPORT_PID")
    run_load gateway "$gw_target" "$protocol" "$c" "$GW_PID"
    # Let the gateway deliver everything it accepted before the next run, so
    # no run pays for the previous one's export; the drain time is reported.
    accepted_so_far=$("$PY" -c '
import json,sys
print(sum(json.loads(l)["spans_ok"] for l in open(sys.argv[1]) if json.loads(l)["label"] == "gateway"))' "$RESULTS")
    drain_start=$(date +%s.%N)
    delivered_so_far=$(wait_delivered "$EXPORT_HTTP" "$accepted_so_far" 120)
    drain_s=$("$PY" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$drain_start" "$(date +%s.%N)")
    export_cpu=$("$PY" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$export_cpu_start" "$(cpu_s "$EXPORT_PID")")
    echo "{\"label\":\"drain\",\"protocol\":\"$protocol\",\"concurrency\":$c,\"drain_s\":$drain_s,\"accepted\":$accepted_so_far,\"delivered\":$delivered_so_far,\"export_sink_cpu_s\":$export_cpu}" >>"$RESULTS"
    echo "bench: drained in $drain_s s ($delivered_so_far of $accepted_so_far spans delivered)" >&2
  done
done

accepted=$("$PY" -c '
import json,sys
print(sum(json.loads(l)["spans_ok"] for l in open(sys.argv[1]) if json.loads(l)["label"] == "gateway"))' "$RESULTS")
delivered=$(wait_delivered "$EXPORT_HTTP" "$accepted" 30)
echo "{\"label\":\"delivery\",\"accepted\":$accepted,\"delivered\":$delivered}" >>"$RESULTS"
echo "bench: gateway accepted $accepted spans, export sink received $delivered" >&2
stop_process "$GW_PID"

# ---- overload: small memory limit, slow export target ------------------------

start_sink slow --grpc-port=-1 --http-port=0 --http-delay-ms=200
SLOW_HTTP=$SINK_HTTP
start_gateway overload "$SLOW_HTTP" "$OVERLOAD_MEMORY_MIB" "$OVERLOAD_PROCESS_MIB"
idle_rss=$(awk '/^VmRSS:/ {print $2 / 1024}' "/proc/$GW_PID/status")
for protocol in $PROTOCOLS; do
  [[ $protocol == grpc-sdk || $protocol == http-json ]] && continue
  target=127.0.0.1:$GW_GRPC
  [[ $protocol == http ]] && target=127.0.0.1:$GW_HTTP
  DURATION=$OVERLOAD_DURATION run_load "overload" "$target" "$protocol" 32 "$GW_PID" --timeout=5s
done
accepted=$("$PY" -c '
import json,sys
print(sum(json.loads(l)["spans_ok"] for l in open(sys.argv[1]) if json.loads(l)["label"] == "overload"))' "$RESULTS")
delivered=$(wait_delivered "$SLOW_HTTP" "$accepted" 60)
rss=$(awk '/^VmHWM:/ {print $2 / 1024}' "/proc/$GW_PID/status")
echo "{\"label\":\"overload_delivery\",\"accepted\":$accepted,\"delivered\":$delivered,\"memory_limit_mib\":$OVERLOAD_MEMORY_MIB,\"process_memory_limit_mib\":$OVERLOAD_PROCESS_MIB,\"max_rss_mib\":$rss,\"idle_rss_mib\":$idle_rss}" >>"$RESULTS"
echo "bench: overload: accepted $accepted spans, delivered $delivered, max RSS $rss MiB (process bound $OVERLOAD_PROCESS_MIB MiB)" >&2
stop_process "$GW_PID"

# ---- report -------------------------------------------------------------------

"$PY" - "$RESULTS" "$DOC" "$WORK/plot.dat" "$COMMAND_LINE" <<'EOF'
import datetime, json, os, platform, re, subprocess, sys

results_path, doc_path, plot_path, command = sys.argv[1:5]
rows = [json.loads(l) for l in open(results_path) if l.strip()]
runs = {(r["label"], r["protocol"], r["concurrency"]): r for r in rows if "protocol" in r and r["label"] != "drain"}
drains = {(r["protocol"], r["concurrency"]): r for r in rows if r["label"] == "drain"}
delivery = next(r for r in rows if r["label"] == "delivery")
overload_delivery = next(r for r in rows if r["label"] == "overload_delivery")

def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

def env(name, default):
    return os.environ.get(name, default)

out = []
out.append("<!-- e2e-bench:begin -->")
out.append("## End-to-end throughput")
out.append("")
out.append("Written by `scripts/bench.sh`; do not edit by hand. The same load generator "
           "(`//bench:load_generator`, closed loop) drives the no-op sink (`//bench:noop_sink`, "
           "the gRPC/HTTP front end answering at once: the ceiling of the transport on this machine) "
           "and the gateway (`//gateway:otlp_gateway`, exporting gzip OTLP/HTTP protobuf with an "
           "`Api-Token` header to a second no-op sink, which counts the spans it receives).")
out.append("")
nproc = os.cpu_count()
out.append(f"- Machine: {nproc} cores ({cpu_model()}), shared with other work; "
           f"{platform.system()} {platform.release()}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
out.append(f"- Command: `{command.strip()}` with BENCH_DURATION={env('BENCH_DURATION', '5s')}, "
           f"BENCH_SPANS_PER_REQUEST={env('BENCH_SPANS_PER_REQUEST', '100')}, "
           f"BENCH_SPAN_BYTES={env('BENCH_SPAN_BYTES', '300')}, "
           f"BENCH_CONSUMER_SHARE={env('BENCH_CONSUMER_SHARE', '0.2')}, "
           f"BENCH_GRPC_CONNECTIONS={env('BENCH_GRPC_CONNECTIONS', '1')}, "
           f"BENCH_MEMORY_MIB={env('BENCH_MEMORY_MIB', '256')}, BENCH_PROCESS_MIB={env('BENCH_PROCESS_MIB', '0')} "
           "(the gateway's queue.memory_limit_mib and queue.process_memory_limit_mib; 0: 80 % of the container's "
           "limit, 256 MiB without one)")
sample = next(iter(runs.values()))
out.append(f"- Requests: {sample['spans_per_request']} spans of about {sample['span_bytes']} bytes, "
           f"{sample['consumer_share']:.0%} of them CONSUMER spans with a link to a producer in another trace; "
           "ids fresh on every pass over the pool. A span is padded to its size with one long string "
           "attribute, except in the *grpc-sdk* rows: gRPC with SDK-like spans, padded with attributes of "
           f"{env('BENCH_SDK_ATTRIBUTE_BYTES', '24')}-byte values. The *http-json* rows send the same requests "
           "as OTLP/JSON (hex ids), which the gateway converts to protobuf on arrival")
out.append("- CPU and RSS columns are the gateway process's (utime+stime from /proc, peak VmHWM so far); "
           "the generator and the export sink run on the same cores")
out.append("- gateway spans/s counts spans accepted (200 / OK) during the run; *delivered spans/s* divides them "
           "by the run time plus the time the export sink took to receive the last of them (drain), "
           "i.e. the sustained end-to-end rate; errors are 503 / UNAVAILABLE backpressure unless noted")
out.append("")
out.append("| protocol | concurrency | sink spans/s | gateway spans/s | ratio | gateway delivered spans/s | drain s "
           "| sink p99 ms | gateway p99 ms | gateway CPU s / M spans | gateway max RSS MiB | gateway errors |")
out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
plot = {}
for (label, protocol, c), r in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2])):
    if label != "gateway":
        continue
    s = runs.get(("sink", protocol, c))
    if s is None:
        continue
    ratio = r["spans_per_s"] / s["spans_per_s"] if s["spans_per_s"] else 0
    d = drains.get((protocol, c), {"drain_s": 0})
    sustained = r["spans_ok"] / (r["elapsed_s"] + d["drain_s"])
    out.append(f"| {protocol} | {c} | {s['spans_per_s']:,.0f} | {r['spans_per_s']:,.0f} | {ratio:.0%} "
               f"| {sustained:,.0f} | {d['drain_s']:.1f} "
               f"| {s['latency_ms']['p99']:.1f} | {r['latency_ms']['p99']:.1f} "
               f"| {r.get('gateway_cpu_s_per_million_spans', -1):.2f} | {r.get('gateway_max_rss_mib', -1):.0f} "
               f"| {r['errors']} |")
    plot.setdefault(protocol, []).append((c, s["spans_per_s"], r["spans_per_s"]))
out.append("")
out.append("Where the CPU goes, in microseconds of CPU per span (each process's utime+stime over the run; the "
           "export sink's over the run and its drain). On a machine whose cores all three processes share, a "
           "closed loop runs at about cores / (sum of these) spans/s, so the last column is the ratio that "
           "CPU alone predicts for the gateway against the no-op sink:")
out.append("")
out.append("| protocol | concurrency | sink run: generator | no-op sink | gateway run: generator | gateway "
           "| export sink | CPU-predicted ratio |")
out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for (label, protocol, c), r in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2])):
    s = runs.get(("sink", protocol, c))
    d = drains.get((protocol, c))
    if label != "gateway" or s is None or d is None or not r["spans_ok"] or not s["spans_ok"]:
        continue
    gen_s = 1e6 * s["loadgen_cpu_s"] / s["spans_ok"]
    sink = s.get("gateway_cpu_s_per_million_spans", 0)
    gen_g = 1e6 * r["loadgen_cpu_s"] / r["spans_ok"]
    gw = r.get("gateway_cpu_s_per_million_spans", 0)
    export = 1e6 * d.get("export_sink_cpu_s", 0) / r["spans_ok"]
    predicted = (gen_s + sink) / (gen_g + gw + export) if gen_g + gw + export else 0
    out.append(f"| {protocol} | {c} | {gen_s:.2f} | {sink:.2f} | {gen_g:.2f} | {gw:.2f} | {export:.2f} "
               f"| {predicted:.0%} |")
out.append("")
out.append(f"Delivered: the gateway accepted {delivery['accepted']:,} spans in these runs and the export sink "
           f"received {delivery['delivered']:,}.")
out.append("")
ov = [r for (label, _, _), r in runs.items() if label == "overload"]
if ov:
    out.append(f"Overload: a gateway with `queue.process_memory_limit_mib: {overload_delivery['process_memory_limit_mib']}` "
               f"(and `queue.memory_limit_mib: {overload_delivery['memory_limit_mib']}`, which the process bound "
               "lowers to an eighth of itself) exporting to a sink that answers after 200 ms, driven at concurrency 32:")
    out.append("")
    out.append("| protocol | seconds | requests | accepted | backpressure answers | other errors | accepted spans/s | p99 ms |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in sorted(ov, key=lambda r: r["protocol"]):
        other = r["errors"] - r["backpressure"]
        out.append(f"| {r['protocol']} | {r['elapsed_s']:.1f} | {r['requests']:,} | {r['requests_ok']:,} "
                   f"| {r['backpressure']:,} | {other:,} | {r['spans_per_s']:,.0f} | {r['latency_ms']['p99']:.1f} |")
    codes = {}
    for r in ov:
        for k, v in r["errors_by_code"].items():
            codes[k] = codes.get(k, 0) + v
    out.append("")
    out.append(f"Error codes: {', '.join(f'{k} {v:,}' for k, v in sorted(codes.items())) or 'none'}. "
               f"Peak RSS of that gateway (VmHWM): {overload_delivery['max_rss_mib']:.0f} MiB against its "
               f"{overload_delivery['process_memory_limit_mib']} MiB bound "
               f"({overload_delivery['idle_rss_mib']:.0f} MiB when it had just started). "
               f"It accepted {overload_delivery['accepted']:,} spans; the slow sink had received "
               f"{overload_delivery['delivered']:,} when the script stopped waiting.")
    out.append("")
out.append("![spans/s against concurrency, gateway vs no-op sink](throughput.png)")
out.append("<!-- e2e-bench:end -->")
section = "\n".join(out) + "\n"

text = open(doc_path).read() if os.path.exists(doc_path) else "# Performance\n\n"
pattern = re.compile(r"<!-- e2e-bench:begin -->.*?<!-- e2e-bench:end -->\n?", re.S)
if pattern.search(text):
    text = pattern.sub(lambda m: section, text, count=1)
else:
    text = text.rstrip("\n") + "\n\n" + section
os.makedirs(os.path.dirname(doc_path) or ".", exist_ok=True)
with open(doc_path, "w") as f:
    f.write(text)

with open(plot_path, "w") as f:
    for protocol in sorted(plot):
        f.write(f"# {protocol}\n")
        for c, sink, gw in sorted(plot[protocol]):
            f.write(f"{c} {sink} {gw}\n")
        f.write("\n\n")
print(" ".join(sorted(plot)))
EOF
protocols_plotted=$("$PY" -c '
import json,sys
print(" ".join(sorted({json.loads(l)["protocol"] for l in open(sys.argv[1]) if "protocol" in json.loads(l) and json.loads(l)["label"]=="gateway"})))' "$RESULTS")

plot_cmds=()
colors=("#1f77b4" "#ff7f0e" "#2ca02c" "#d62728")
i=0
for protocol in $protocols_plotted; do
  color=${colors[$((i % 4))]}
  plot_cmds+=("'$WORK/plot.dat' index $i using 1:2 with linespoints dashtype 2 linecolor rgb '$color' title '$protocol no-op sink (ceiling)'")
  plot_cmds+=("'$WORK/plot.dat' index $i using 1:3 with linespoints linewidth 2 linecolor rgb '$color' title '$protocol gateway'")
  i=$((i + 1))
done
plot_line=$(IFS=,; echo "${plot_cmds[*]}")
mkdir -p "$(dirname "$PNG")"
gnuplot <<EOF
set terminal pngcairo size 900,540 font ",11"
set output '$PNG'
set title 'OTLP traces end to end: spans/s by client concurrency ($(nproc) shared cores)'
set xlabel 'requests in flight'
set ylabel 'spans/s'
set logscale x 2
set xtics (1, 2, 4, 8, 16, 32, 64)
set format y '%.1s%c'
set xrange [0.8:*]
set offsets 0, graph 0.05, 0, 0
set key outside bottom center horizontal
set grid
set yrange [0:*]
plot $plot_line
EOF
echo "bench: wrote $DOC and $PNG" >&2
