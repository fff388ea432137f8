#!/usr/bin/env bash
# The OpenTelemetry Collector side by side with the gateway: the same load
# generator (//bench:load_generator, OTLP/gRPC) and the same export sink
# (//bench:noop_sink, counting the spans it receives over OTLP/HTTP) against
#   sink       the no-op sink itself (the transport's ceiling)
#   gateway    one gateway (reparenting on, cross_process: true, gzip
#              OTLP/HTTP out with an Api-Token header;
#              wait_for_link_fate: false, because the load generator's
#              consumers link to producers it never sends, which a waiting
#              gateway would hold for the whole hold window)
#   collector  the Collector doing what it can of that job: otlp receiver ->
#              batch -> otlphttp exporter (gzip); it cannot reparent
#   collector-gzip1  the same at gzip level 1 (the level the gateway's
#              ISA-L compresses at; the Collector's default is level 6)
#   collector-nogzip  the same with compression: none (how much of the
#              Collector's CPU is gzip)
#   tier       the two-tier setup: one Collector (loadbalancing by trace id,
#              static resolver) -> BENCH_TIER_GATEWAYS gateways configured as
#              above (as deploy/'s tier manifests run them) -> the sink
# Each setup: a closed-loop run (throughput, CPU per process, delivered),
# then an open-loop run at a fixed offered load (client latency, delay of the
# last span to the sink). Writes the "Collector side by side" section of
# docs/scale-out.md (between the tier-bench markers) and docs/tier_bench.png.
#
#   scripts/bench_tier.sh                          # about 2 minutes
#   BENCH_DURATION=3s scripts/bench_tier.sh
#
# Environment (all optional):
#   BENCH_DURATION=5s  BENCH_CONCURRENCY=4  BENCH_RATE=100 (requests/s of the
#   fixed-load run: 10 000 spans/s, within every setup's capacity here)  BENCH_SPANS_PER_REQUEST=100  BENCH_SPAN_BYTES=300
#   BENCH_CONSUMER_SHARE=0.2  BENCH_TIER_GATEWAYS=2  BENCH_SETUPS="sink gateway collector collector-gzip1 collector-nogzip tier"
#   BENCH_DOC=docs/scale-out.md  BENCH_PNG=docs/tier_bench.png  BENCH_KEEP=1 (keep the work directory)
#   BENCH_OUTPUT_BASE=/path (bazel --output_base)  GATEWAY_OTELCOL=/path (Collector binary)
#   BENCH_GATEWAY_BIN=/path (a gateway binary to measure instead of this checkout's, e.g. an older build for an A/B)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-5s}
CONCURRENCY=${BENCH_CONCURRENCY:-4}
RATE=${BENCH_RATE:-100}
SPANS=${BENCH_SPANS_PER_REQUEST:-100}
SPAN_BYTES=${BENCH_SPAN_BYTES:-300}
CONSUMER_SHARE=${BENCH_CONSUMER_SHARE:-0.2}
TIER_GATEWAYS=${BENCH_TIER_GATEWAYS:-2}
SETUPS=${BENCH_SETUPS:-sink gateway collector collector-gzip1 collector-nogzip tier}
DOC=${BENCH_DOC:-docs/scale-out.md}
PNG=${BENCH_PNG:-docs/tier_bench.png}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

COLLECTOR=${GATEWAY_OTELCOL:-.deps/bin/otelcol-gateway-test}
if [[ ! -x $COLLECTOR ]]; then
  echo "bench_tier: no Collector at $COLLECTOR: run scripts/install_deps.sh --test" >&2
  exit 1
fi
command -v gnuplot >/dev/null || echo "bench_tier: gnuplot missing: no PNG (scripts/bench.sh installs it)" >&2

bazel_cmd=(bazel)
if [[ -n "${BENCH_OUTPUT_BASE:-}" ]]; then bazel_cmd+=(--output_base="$BENCH_OUTPUT_BASE"); fi
echo "bench_tier: building -c opt" >&2
"${bazel_cmd[@]}" build -c opt //bench:noop_sink //bench:load_generator //gateway:otlp_gateway >&2
BIN=$("${bazel_cmd[@]}" info -c opt bazel-bin 2>/dev/null)
SINK=$BIN/bench/noop_sink
LOADGEN=$BIN/bench/load_generator
GATEWAY=${BENCH_GATEWAY_BIN:-$BIN/gateway/otlp_gateway}

WORK=$(mktemp -d /tmp/bench_tier.XXXXXX)
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$WORK"; else echo "bench_tier: kept $WORK" >&2; fi
}
trap cleanup EXIT

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cpu_s() {  # utime+stime of <pid> so far, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"
}

hwm_mib() { awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

sink_spans() {  # spans the sink on <http port> has received
  local stats
  stats=$(curl -sf --max-time 5 "http://127.0.0.1:$1/stats" || true)
  stats=$(sed -n 's/.*"traces":{[^}]*"spans":\([0-9]*\).*/\1/p' <<<"$stats")
  echo "${stats:-0}"
}

# wait_delivered <sink http port> <spans> <seconds>: prints "count seconds_waited"
wait_delivered() {
  local port=$1 want=$2 start now got
  start=$(date +%s.%N)
  for _ in $(seq $(($3 * 20))); do
    got=$(sink_spans "$port")
    ((got >= want)) && break
    sleep 0.05
  done
  now=$(date +%s.%N)
  echo "$got $("$PY" -c "print(round($now - $start, 2))")"
}

wait_http() {  # wait_http <url> <what>: until it answers 2xx (20 s)
  for _ in $(seq 200); do
    curl -sf -o /dev/null -X POST -H 'Content-Type: application/x-protobuf' --data-binary '' "$1" 2>/dev/null && return 0
    curl -sf -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench_tier: $2 did not come up ($1)" >&2
  exit 1
}

# start_sink <name> <flags...>: sets SINK_PID SINK_GRPC SINK_HTTP
start_sink() {
  local name=$1
  shift
  "$SINK" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  for _ in $(seq 100); do [[ -s "$WORK/$name.out" ]] && break; sleep 0.1; done
  SINK_GRPC=$(head -n 1 "$WORK/$name.out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["grpc_port"])')
  SINK_HTTP=$(head -n 1 "$WORK/$name.out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["http_port"])')
}

# start_gateway <name> <export http port>: sets GW_PID GW_GRPC
start_gateway() {
  local name=$1 export_port=$2 admin
  GW_GRPC=$(free_port)
  admin=$(free_port)
  cat >"$WORK/$name.yaml" <<EOF
receivers:
  grpc: {endpoint: "127.0.0.1:$GW_GRPC", max_recv_msg_size_mib: 16}
  http: {enabled: false}
admin: {endpoint: "127.0.0.1:$admin"}
reparent: {cross_process: true, wait_for_link_fate: false}
exporter:
  type: dynatrace
  dynatrace: {endpoint: "http://127.0.0.1:$export_port/api/v2/otlp", api_token: "bench-token-not-a-secret"}
log: {level: warn}
EOF
  "$GATEWAY" --config="$WORK/$name.yaml" >"$WORK/$name.log" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  wait_http "http://127.0.0.1:$admin/readyz" "$name"
}

# start_collector <name> <exporters yaml>: sets COL_PID COL_GRPC
start_collector() {
  local name=$1 exporters=$2 http
  COL_GRPC=$(free_port)
  http=$(free_port)
  cat >"$WORK/$name.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$COL_GRPC", max_recv_msg_size_mib: 16}
      http: {endpoint: "127.0.0.1:$http"}
processors:
  batch: {}
exporters:
$exporters
service:
  telemetry: {metrics: {level: none}, logs: {level: warn}}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [$(sed -n 's/^  \([a-z_]*\):.*/\1/p' <<<"$exporters" | head -n 1)]}
EOF
  "$COLLECTOR" --config="$WORK/$name.yaml" >"$WORK/$name.log" 2>&1 &
  COL_PID=$!
  PIDS+=("$COL_PID")
  wait_http "http://127.0.0.1:$http/v1/traces" "$name"
}

loadgen() {  # loadgen <label> <target> [flags...]: one JSON line to $RESULTS, echoes it
  local label=$1 target=$2
  shift 2
  timeout 300 "$LOADGEN" --label="$label" --target="$target" --protocol=grpc --duration="$DURATION" \
    --spans_per_request="$SPANS" --span_bytes="$SPAN_BYTES" --consumer_share="$CONSUMER_SHARE" \
    --json "$@" 2>>"$WORK/loadgen.log"
}

# measure <setup> <target> <export sink pid or ""> <export sink port or ""> <name=pid...>
measure() {
  local setup=$1 target=$2 export_pid=$3 export_port=$4
  shift 4
  local procs=("$@") before=() after=() line fixed delivered drain fixed_delivered fixed_drain total
  for p in "${procs[@]}"; do before+=("$(cpu_s "${p#*=}")"); done
  local export_before=0
  [[ -n $export_pid ]] && export_before=$(cpu_s "$export_pid")
  line=$(loadgen "$setup" "$target" --concurrency="$CONCURRENCY")
  total=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["spans_ok"])' "$line")
  delivered="$total 0"
  [[ -n $export_port ]] && delivered=$(wait_delivered "$export_port" "$total" 60)
  for p in "${procs[@]}"; do after+=("$(cpu_s "${p#*=}")"); done
  local export_after=0
  [[ -n $export_pid ]] && export_after=$(cpu_s "$export_pid")
  # Fixed offered load, open loop.
  local base=0
  [[ -n $export_port ]] && base=$(sink_spans "$export_port")
  fixed=$(loadgen "$setup-fixed" "$target" --rate="$RATE" --concurrency=64)
  fixed_delivered="0 0"
  if [[ -n $export_port ]]; then
    total=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["spans_ok"] + int(sys.argv[2]))' "$fixed" "$base")
    fixed_delivered=$(wait_delivered "$export_port" "$total" 60)
  fi
  local hwm=() cpu=() names=()
  for i in "${!procs[@]}"; do
    names+=("\"${procs[$i]%%=*}\"")
    cpu+=("$("$PY" -c "print(round(${after[$i]} - ${before[$i]}, 3))")")
    hwm+=("$(hwm_mib "${procs[$i]#*=}")")
  done
  local export_cpu
  export_cpu=$("$PY" -c "print(round($export_after - $export_before, 3))")
  "$PY" - "$setup" "$line" "$fixed" "$delivered" "$fixed_delivered" "$export_cpu" \
    "[$(IFS=,; echo "${names[*]}")]" "[$(IFS=,; echo "${cpu[*]}")]" "[$(IFS=,; echo "${hwm[*]}")]" \
    >>"$RESULTS" <<'EOF'
import json, sys
setup, run, fixed, delivered, fixed_delivered, export_cpu, names, cpu, hwm = sys.argv[1:10]
d, ds = delivered.split()
f, fs = fixed_delivered.split()
print(json.dumps({"setup": setup, "run": json.loads(run), "fixed": json.loads(fixed),
                  "delivered": int(d), "drain_s": float(ds), "fixed_delivered": int(f), "fixed_drain_s": float(fs),
                  "export_sink_cpu_s": float(export_cpu), "processes": json.loads(names),
                  "cpu_s": json.loads(cpu), "max_rss_mib": json.loads(hwm)}))
EOF
  tail -n 1 "$RESULTS" | "$PY" -c 'import json,sys; r=json.load(sys.stdin); print("bench_tier: %-9s %9.0f spans/s  cpu %s  fixed p50 %.2f p99 %.2f ms" % (r["setup"], r["run"]["spans_per_s"], r["cpu_s"], r["fixed"]["latency_ms"]["p50"], r["fixed"]["latency_ms"]["p99"]))' >&2
}

stop_all() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

for setup in $SETUPS; do
  case $setup in
    sink)
      start_sink ceiling --grpc-port=0 --http-port=-1
      measure sink "127.0.0.1:$SINK_GRPC" "" "" "noop_sink=$SINK_PID"
      ;;
    gateway)
      start_sink export --grpc-port=-1 --http-port=0
      export_pid=$SINK_PID export_port=$SINK_HTTP
      start_gateway gateway "$export_port"
      measure gateway "127.0.0.1:$GW_GRPC" "$export_pid" "$export_port" "gateway=$GW_PID"
      ;;
    collector | collector-gzip1 | collector-nogzip)
      start_sink export --grpc-port=-1 --http-port=0
      export_pid=$SINK_PID export_port=$SINK_HTTP
      compression=gzip
      [[ $setup == collector-gzip1 ]] && compression="gzip
    compression_params: {level: 1}"
      [[ $setup == collector-nogzip ]] && compression=none
      start_collector "$setup" "  otlphttp:
    endpoint: http://127.0.0.1:$export_port/api/v2/otlp
    compression: $compression
    headers: {Authorization: Api-Token bench-token-not-a-secret}"
      measure "$setup" "127.0.0.1:$COL_GRPC" "$export_pid" "$export_port" "collector=$COL_PID"
      ;;
    tier)
      start_sink export --grpc-port=-1 --http-port=0
      export_pid=$SINK_PID export_port=$SINK_HTTP
      endpoints=() gw_procs=()
      for i in $(seq "$TIER_GATEWAYS"); do
        start_gateway "tier-gateway$i" "$export_port"
        endpoints+=("127.0.0.1:$GW_GRPC")
        gw_procs+=("gateway$i=$GW_PID")
      done
      start_collector tier-collector "  load_balancing:
    routing_key: traceID
    retry_on_failure: {enabled: true, initial_interval: 1s, max_interval: 5s, max_elapsed_time: 300s}
    sending_queue: {enabled: true, num_consumers: 4, queue_size: 1000}
    protocol:
      otlp:
        tls: {insecure: true}
        compression: none
        timeout: 2s
        sending_queue: {enabled: false}
        retry_on_failure: {enabled: true, initial_interval: 250ms, max_interval: 1s, max_elapsed_time: 2s}
    resolver:
      static: {hostnames: [$(IFS=,; echo "${endpoints[*]}")]}"
      measure tier "127.0.0.1:$COL_GRPC" "$export_pid" "$export_port" "collector=$COL_PID" "${gw_procs[@]}"
      ;;
    *)
      echo "bench_tier: unknown setup $setup" >&2
      exit 2
      ;;
  esac
  stop_all
done

LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
"$PY" - "$RESULTS" "$DOC" "$WORK/plot.dat" "$0 $*" "$LOAD_BEFORE" "$LOAD_AFTER" <<'EOF'
import datetime, json, os, platform, re, sys

results, doc, plot, command, load_before, load_after = sys.argv[1:7]
rows = [json.loads(l) for l in open(results) if l.strip()]
by = {r["setup"]: r for r in rows}
env = lambda k, d: os.environ.get(k, d)

def per_million(cpu, spans):
    return cpu / (spans / 1e6) if spans else float("nan")

out = ["<!-- tier-bench:begin -->", "## The Collector side by side", "",
       "Written by `scripts/bench_tier.sh`; do not edit by hand.", "",
       f"- Machine: {os.cpu_count()} cores, **shared with other engineers' builds and tests** (figures move "
       f"±10–20 % between runs; load average {load_before} before, {load_after} after); "
       f"{platform.system()} {platform.release()}; "
       f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
       f"- Command: `{command.strip()}` with BENCH_DURATION={env('BENCH_DURATION', '5s')}, "
       f"BENCH_CONCURRENCY={env('BENCH_CONCURRENCY', '4')}, BENCH_RATE={env('BENCH_RATE', '100')}, "
       f"BENCH_SPANS_PER_REQUEST={env('BENCH_SPANS_PER_REQUEST', '100')}, "
       f"BENCH_SPAN_BYTES={env('BENCH_SPAN_BYTES', '300')}, BENCH_CONSUMER_SHARE={env('BENCH_CONSUMER_SHARE', '0.2')}, "
       f"BENCH_TIER_GATEWAYS={env('BENCH_TIER_GATEWAYS', '2')}",
       "- Load: `//bench:load_generator` over OTLP/gRPC, closed loop at the concurrency above for the throughput "
       "and CPU columns, then open loop at the fixed rate for the latency columns; the export target is "
       "`//bench:noop_sink` over OTLP/HTTP (gzip), which counts what arrives",
       "- *collector-gzip1* and *collector-nogzip*: the *collector* setup with `compression_params: {level: 1}` "
       "(the gateway compresses with ISA-L at level 1; the Collector's default is Go's gzip at level 6) and with "
       "`compression: none`: how much of the Collector's CPU is gzip",
       "- CPU: utime+stime of each process from the start of the closed-loop run until the sink had every span "
       "accepted in it (so batching and export count); *spans per CPU-second* divides the spans by the CPU of "
       "the setup's own processes (not the load generator's, not the sink's); per process, per million spans sent "
       "through the whole setup",
       "- Latency: what the load generator waits for an answer at the fixed rate (the Collector answers once a "
       "span is in its batch; the gateway once it is admitted to its pipeline); *last span delivered after*: "
       "from the end of that run until the sink had every span (batch timeouts included)",
       "",
       "| setup | spans/s | delivered | CPU s per M spans (per process) | spans per CPU-second | peak RSS MiB | "
       "p50 / p99 ms at fixed load | added p50 / p99 ms | last span delivered after s |",
       "| --- | ---: | ---: | --- | ---: | --- | --- | --- | ---: |"]
sink = by.get("sink")
spc = {}
for name in ["sink", "gateway", "collector", "collector-gzip1", "collector-nogzip", "tier"]:
    r = by.get(name)
    if r is None:
        continue
    spans = r["run"]["spans_ok"]
    cpu = ", ".join(f"{p} {per_million(c, spans):.2f}" for p, c in zip(r["processes"], r["cpu_s"]))
    total = sum(r["cpu_s"])
    spc[name] = spans / total if total else float("nan")
    rss = ", ".join(f"{p} {m}" for p, m in zip(r["processes"], r["max_rss_mib"]))
    lat = r["fixed"]["latency_ms"]
    added = "—"
    if sink and name != "sink":
        s = sink["fixed"]["latency_ms"]
        added = f"{lat['p50'] - s['p50']:+.2f} / {lat['p99'] - s['p99']:+.2f}"
    delivered = "—" if name == "sink" else f"{r['delivered']:,} of {spans:,}"
    drain = "—" if name == "sink" else f"{r['fixed_drain_s']:.2f}"
    out.append(f"| {name} | {r['run']['spans_per_s']:,.0f} | {delivered} | {cpu} | {spc[name]:,.0f} | {rss} | "
               f"{lat['p50']:.2f} / {lat['p99']:.2f} | {added} | {drain} |")
out.append("")
if "gateway" in spc and "collector" in spc:
    out.append(f"Spans per CPU-second, gateway against the Collector: **{spc['gateway'] / spc['collector']:.1f}×** "
               f"({spc['gateway']:,.0f} against {spc['collector']:,.0f})"
               + "".join(f"; against *{n}*, {spc['gateway'] / spc[n]:.1f}×" for n in ["collector-gzip1", "collector-nogzip"]
                         if n in spc) + ".")
if "tier" in spc and "gateway" in spc:
    t = by["tier"]
    col = per_million(t["cpu_s"][0], t["run"]["spans_ok"])
    gws = per_million(sum(t["cpu_s"][1:]), t["run"]["spans_ok"])
    out.append(f"The two-tier setup costs {per_million(sum(t['cpu_s']), t['run']['spans_ok']):.2f} CPU-seconds per "
               f"million spans: {col:.2f} in the Collector and {gws:.2f} in the gateways together, against "
               f"{per_million(sum(by['gateway']['cpu_s']), by['gateway']['run']['spans_ok']):.2f} for one gateway alone.")
out.append("")
out.append("![spans per CPU-second by setup](tier_bench.png)")
out.append("<!-- tier-bench:end -->")
section = "\n".join(out) + "\n"
text = open(doc).read() if os.path.exists(doc) else "# Scale-out\n\n"
pattern = re.compile(r"<!-- tier-bench:begin -->.*?<!-- tier-bench:end -->\n?", re.S)
text = pattern.sub(lambda m: section, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(doc, "w").write(text)
with open(plot, "w") as f:
    for i, name in enumerate(n for n in ["gateway", "collector", "collector-gzip1", "collector-nogzip", "tier"] if n in spc):
        f.write(f"{i} {name} {spc[name]:.0f}\n")
EOF

if command -v gnuplot >/dev/null && [[ -s $WORK/plot.dat ]]; then
  gnuplot <<EOF
set terminal pngcairo size 700,420 font ",11"
set output '$PNG'
set title 'Spans per CPU-second of the setup''s own processes ($(nproc) shared cores)'
set style fill solid 0.8
set boxwidth 0.6
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set format y '%.1s%c'
set grid ytics
unset key
plot '$WORK/plot.dat' using 1:3:xtic(2) with boxes linecolor rgb '#1f77b4', \
     '' using 1:3:(sprintf('%.0f', \$3)) with labels offset 0,1 notitle
EOF
fi
echo "bench_tier: wrote $DOC${PNG:+ and $PNG}" >&2
