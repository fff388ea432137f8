#!/usr/bin/env bash
# The admin /status page as a person sees it: headless Chromium renders the
# page of a running gateway and the test reads the resulting DOM.
#
#   status_page_test.sh FAKE_DYNATRACE_BIN GATEWAY_BIN
#
# Starts //tests/e2e:fake_dynatrace_server (which requires a secret API
# token) and //gateway:otlp_gateway exporting to it, on 127.0.0.1 ports chosen
# by the kernel; posts one OTLP/JSON consumer span that links to a producer
# span; renders http://127.0.0.1:ADMIN/status with `chromium --dump-dom` and
# checks that the page shows the configuration in effect, a throughput
# section, and a decision row "original trace -> new trace" for the consumer,
# and that the API token appears nowhere in it. A screenshot
# (status_page.png) goes to $TEST_UNDECLARED_OUTPUTS_DIR for a look.
#
# Environment: CHROMIUM (default: chromium on PATH). Needs Debian's chromium
# package (scripts/install_deps.sh --test).
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 FAKE_DYNATRACE_BIN GATEWAY_BIN" >&2
  exit 2
fi
fake_dt_bin=$(readlink -f "$1")
gateway_bin=$(readlink -f "$2")

fail() {
  echo "status_page_test: FAIL: $*" >&2
  exit 1
}
note() { echo "status_page_test: $*" >&2; }

chromium_bin=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z "$chromium_bin" || ! -x "$chromium_bin" ]]; then
  fail "chromium is not installed (Debian package 'chromium': apt-get install chromium, or scripts/install_deps.sh --test)"
fi

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/status-page.XXXXXX")
cd "$work"
out_dir=${TEST_UNDECLARED_OUTPUTS_DIR:-$work}
mkdir -p "$out_dir"

# The token must reach the fake Dynatrace (it rejects anything else) and must
# never reach the page. It is handed over in the environment, as in
# production.
readonly api_token="dt0c01.STATUSPAGE.$RANDOM$RANDOM.s3cr3t-t0k3n"

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ "$work" != "$out_dir" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dump_logs() {
  local f
  for f in "$work"/*.log; do
    [[ -s "$f" ]] || continue
    echo "----- $(basename "$f") -----" >&2
    tail -c 3000 "$f" >&2
    echo >&2
  done
}

# Runs "$@" in its own session (process group) with output to $work/NAME.log;
# the group is killed on exit.
start_child() {
  local name=$1
  shift
  setsid "$@" >"$work/$name.log" 2>&1 </dev/null &
  pids+=("$!")
}

# wait_for DESCRIPTION TRIES COMMAND...: runs COMMAND every 0.2 s until it
# succeeds, at most TRIES times.
wait_for() {
  local what=$1 tries=$2
  shift 2
  local i
  for ((i = 0; i < tries; i++)); do
    if "$@" >/dev/null; then return 0; fi
    sleep 0.2
  done
  dump_logs
  fail "timed out waiting for $what"
}

# --- fake Dynatrace -----------------------------------------------------------
start_child fake_dynatrace "$fake_dt_bin" "--api-token=$api_token"
fake_dt_port() { grep -o '"port":[0-9]*' "$work/fake_dynatrace.log" | head -n1 | grep -o '[0-9]*$'; }
wait_for "the fake Dynatrace to print its port" 100 fake_dt_port
dt_port=$(fake_dt_port)
dt_url="http://127.0.0.1:${dt_port}/api/v2/otlp"

# --- gateway ------------------------------------------------------------------
DT_API_TOKEN="$api_token" start_child gateway "$gateway_bin" \
  --grpc-endpoint=127.0.0.1:0 --http-endpoint=127.0.0.1:0 --admin-endpoint=127.0.0.1:0 \
  "--dt-endpoint=$dt_url" --hold-window=1s
gateway_port() {
  grep '"msg":"listening"' "$work/gateway.log" | head -n1 | grep -o "\"$1\":\"\\?[0-9]*" | grep -o '[0-9]*$'
}
wait_for "the gateway's \"listening\" log line" 150 gateway_port admin_port
http_port=$(gateway_port http_port)
admin_port=$(gateway_port admin_port)
[[ -n "$http_port" && -n "$admin_port" ]] || fail "no ports in the listening line"
note "fake Dynatrace on :$dt_port, gateway http :$http_port admin :$admin_port"

ready() { curl -fsS --max-time 2 "http://127.0.0.1:${admin_port}/readyz" >/dev/null 2>&1; }
wait_for "gateway /readyz" 150 ready

# --- one consumer span that links to its producer ------------------------------
readonly producer_trace=0af7651916cd43dd8448eb211c80319c
readonly producer_span=b7ad6b7169203331
readonly consumer_trace=5b8efff798038103d269b633813fc60c
readonly consumer_span=eee19b7ec3c1b174
now_ns=$(date +%s%N)
body=$(cat <<JSON
{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orders-worker"}}]},
 "scopeSpans":[{"scope":{"name":"status-page-test"},"spans":[{
   "traceId":"${consumer_trace}","spanId":"${consumer_span}",
   "name":"orders process","kind":5,
   "startTimeUnixNano":"$((now_ns - 2000000))","endTimeUnixNano":"${now_ns}",
   "attributes":[{"key":"messaging.system","value":{"stringValue":"aws_sqs"}},
                 {"key":"messaging.operation","value":{"stringValue":"process"}}],
   "links":[{"traceId":"${producer_trace}","spanId":"${producer_span}"}]}]}]}]}
JSON
)
code=$(curl -sS -o "$work/post_response" -w '%{http_code}' --max-time 10 \
  -H 'Content-Type: application/json' --data "$body" "http://127.0.0.1:${http_port}/v1/traces") || code="curl failed"
[[ "$code" == "200" ]] || { dump_logs; fail "POST /v1/traces returned $code"; }

# Reparenting and export are asynchronous: wait until the decision is recorded
# and the span reached Dynatrace.
decided() {
  curl -fsS --max-time 2 "http://127.0.0.1:${admin_port}/status.json" 2>/dev/null |
    grep -q "\"original_trace_id\":\"${consumer_trace}\",\"new_trace_id\":\"${producer_trace}\""
}
wait_for "the reparent decision in /status.json" 150 decided
exported() {
  curl -fsS --max-time 2 "http://127.0.0.1:${admin_port}/status.json" 2>/dev/null |
    grep -Eq '"exported_total":[1-9]'
}
wait_for "the span to be exported to the fake Dynatrace" 150 exported

# --- Chromium -------------------------------------------------------------------
chromium() {
  local profile
  profile=$(mktemp -d "$work/chromium-profile.XXXXXX")
  # HOME and XDG dirs in the sandbox: Chromium writes caches there.
  HOME="$work" XDG_CONFIG_HOME="$work/xdg-config" XDG_CACHE_HOME="$work/xdg-cache" \
    timeout --kill-after=5 60 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --disable-extensions --disable-dev-shm-usage --user-data-dir="$profile" "$@" 2>>"$work/chromium.log"
}
status_url="http://127.0.0.1:${admin_port}/status"
chromium --dump-dom "$status_url" >"$work/status_dom.html" || { dump_logs; fail "chromium --dump-dom failed"; }
cp "$work/status_dom.html" "$out_dir/status_dom.html" 2>/dev/null || true
dom="$work/status_dom.html"
[[ -s "$dom" ]] || { dump_logs; fail "chromium returned an empty DOM"; }

if chromium --screenshot="$out_dir/status_page.png" --window-size=1200,900 --hide-scrollbars "$status_url" \
  >/dev/null && [[ -s "$out_dir/status_page.png" ]]; then
  note "screenshot: $out_dir/status_page.png"
else
  note "warning: no screenshot taken (see chromium.log)"
fi

# --- what the page must show ------------------------------------------------------
check() {
  local what=$1 pattern=$2
  grep -Eq -- "$pattern" "$dom" || fail "the page does not show $what (no match for /$pattern/; DOM in status_dom.html)"
}
check "the title" '<h1>otlp-reparent-gateway</h1>'
check "the configuration in effect" '<pre id="config">'
check "the configuration's reparent section" 'reparent:'
check "the hold window given on the command line" 'hold_window: (&quot;|")1s(&quot;|")'
check "the Dynatrace endpoint in effect" "127\\.0\\.0\\.1:${dt_port}/api/v2/otlp"
check "the redacted token" 'api_token: (&quot;|")REDACTED(&quot;|")'
check "a throughput section" '<h2>Throughput</h2>'
check "the throughput table" '<table id="throughput">'
# One span received, reparented and exported so far: each total is 1.
for row in received reparented exported; do
  check "throughput row '$row' with a total of 1" "<th>${row}</th><td class=\"n\">[^<]*</td><td class=\"n\">1</td>"
done
check "the decisions table" '<table id="decisions">'
check "a decision row: span ${consumer_span}, trace ${consumer_trace} -> ${producer_trace}" \
  "<tr>.*${consumer_span}.*${consumer_trace}.*(→|&rarr;).*${producer_trace}.*</tr>"
check "readiness" '<th>Ready</th><td class="ok">yes'

# The token must appear nowhere: not in the DOM, not in the raw page.
if grep -qF -- "$api_token" "$dom"; then fail "the API token appears in the rendered page"; fi
raw=$(curl -fsS --max-time 5 "$status_url") || fail "GET /status failed"
if grep -qF -- "$api_token" <<<"$raw"; then fail "the API token appears in the /status response"; fi
for path in /status.json /metrics /readyz; do
  if curl -fsS --max-time 5 "http://127.0.0.1:${admin_port}${path}" | grep -qF -- "$api_token"; then
    fail "the API token appears in ${path}"
  fi
done

echo "status_page_test: PASS"
