#!/usr/bin/env bash
# Builds the gateway image (deploy/build_image.sh), runs it with podman on
# free host ports, sends one OTLP/JSON span and checks /healthz, /readyz,
# /metrics and /status. Manual: bazel test //tests/deploy:image_test
#
# Environment: IMAGE (default localhost/otlp-reparent-gateway:test),
# SKIP_BUILD=1 to test an image already built, PODMAN_OPTS as for build_image.sh,
# PODMAN_RUN_OPTS extra `podman run` options. Unset, it is explicit rlimits
# within this host's hard limits (see docs/deploy.md, "Testing the image
# locally"): rootful podman otherwise asks runc for RLIMIT_NOFILE 1048576 and
# a large RLIMIT_NPROC, which fails with "operation not permitted" where the
# host's hard limits are lower and CAP_SYS_RESOURCE is not held (as in a
# container or a restricted VM). Set PODMAN_RUN_OPTS="" for podman's defaults.
set -euo pipefail

# Bazel's test PATH is /bin:/usr/bin; podman's CNI plugins exec iptables from
# /usr/sbin.
export PATH="$PATH:/usr/sbin:/sbin"

if [[ -z "${PODMAN_RUN_OPTS+set}" ]]; then
  nofile=$(ulimit -Hn)
  if [[ "$nofile" == unlimited ]] || ((nofile > 65536)); then nofile=65536; fi
  # 4096 processes/threads for the container's uid (10001) is ample for the
  # gateway and below the 32768 that podman's conmon runs with.
  PODMAN_RUN_OPTS="--ulimit nofile=${nofile}:${nofile} --ulimit nproc=4096:4096"
fi

# Under bazel the runfiles tree holds symlinks into the workspace: build from
# the real checkout.
script_dir=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
if [[ -n "${TEST_SRCDIR:-}" ]]; then
  repo=$(cd "$(dirname "$(readlink -f "$TEST_SRCDIR/otlp_reparent_gateway/deploy/build_image.sh")")/.." && pwd)
fi
export IMAGE=${IMAGE:-localhost/otlp-reparent-gateway:test}
read -r -a podman_opts <<<"${PODMAN_OPTS:-}"
podman() { command podman "${podman_opts[@]}" "$@"; }

fail() { echo "image_test: FAIL: $*" >&2; exit 1; }

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  (cd "$repo" && deploy/build_image.sh) || fail "image build failed"
fi

name="otlp-gateway-image-test-$$"
cleanup() { podman rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# Publish on ephemeral host ports (127.0.0.1::port lets podman choose).
read -r -a run_opts <<<"${PODMAN_RUN_OPTS:-}"
podman run -d --name "$name" "${run_opts[@]}" \
  -p 127.0.0.1::4317 -p 127.0.0.1::4318 -p 127.0.0.1::13133 \
  "$IMAGE" --admin-endpoint=0.0.0.0:13133 --log-level=debug >/dev/null || fail "podman run failed"

port_of() { podman port "$name" "$1/tcp" | head -n1 | sed 's/.*://'; }
http_port=$(port_of 4318)
admin_port=$(port_of 13133)
[[ -n "$http_port" && -n "$admin_port" ]] || fail "no published ports"

# Wait for /healthz: bounded in tries and time (60 x 0.5 s).
healthy=0
for _ in $(seq 1 60); do
  if curl -fsS --max-time 2 "http://127.0.0.1:${admin_port}/healthz" | grep -q '^ok'; then
    healthy=1
    break
  fi
  if [[ "$(podman inspect -f '{{.State.Running}}' "$name")" != "true" ]]; then
    podman logs "$name" >&2 || true
    fail "container exited"
  fi
  sleep 0.5
done
((healthy)) || { podman logs "$name" >&2 || true; fail "/healthz never answered ok"; }

now_ns=$(date +%s%N)
body=$(cat <<JSON
{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"image-test"}}]},
 "scopeSpans":[{"scope":{"name":"image-test"},"spans":[{
   "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
   "name":"process order","kind":5,
   "startTimeUnixNano":"$((now_ns - 1000000))","endTimeUnixNano":"$now_ns",
   "links":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331"}]}]}]}]}
JSON
)
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
  --data "$body" "http://127.0.0.1:${http_port}/v1/traces")
[[ "$code" == "200" ]] || fail "POST /v1/traces returned $code"

curl -fsS --max-time 2 "http://127.0.0.1:${admin_port}/readyz" >/dev/null || fail "/readyz not 200"
metrics=$(curl -fsS --max-time 2 "http://127.0.0.1:${admin_port}/metrics") || fail "/metrics failed"
grep -q '^# TYPE ' <<<"$metrics" || fail "/metrics has no metric families"
curl -fsS --max-time 2 "http://127.0.0.1:${admin_port}/status" | grep -q 'otlp-reparent-gateway' ||
  fail "/status page missing"

# HEALTHCHECK as the orchestrator would run it.
podman healthcheck run "$name" >/dev/null 2>&1 || echo "image_test: note: podman healthcheck run failed" >&2

# SIGTERM: the gateway drains and exits well within the 30 s stop timeout.
start=$(date +%s)
podman stop -t 30 "$name" >/dev/null
elapsed=$(( $(date +%s) - start ))
((elapsed < 30)) || fail "stop took ${elapsed}s"
echo "image_test: PASS (stopped in ${elapsed}s)"
