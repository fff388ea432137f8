#!/bin/bash
# Builds the libFuzzer targets under tests/fuzz/ with clang (ASan + UBSan +
# libFuzzer) straight from the sources, and runs each for a bounded time over
# its seed corpus. Crashers are written to tests/fuzz/crashes/<target>/; turn
# each into a regression with
#   cp tests/fuzz/crashes/<target>/crash-* tests/fuzz/regressions/<target>/
#
#   scripts/fuzz.sh                        # every target, 60 s each
#   scripts/fuzz.sh -t 300 trace_wire      # one target, 5 minutes
#   scripts/fuzz.sh -t 5 -j 1              # quick smoke run
#
# Options:
#   -t SECONDS     libFuzzer -max_total_time per target (default 60)
#   -o DIR         where binaries, the working corpus and crashes go
#                  (default /tmp/otlp-gateway-fuzz)
#   -p DIR         directory with the generated OTLP sources
#                  (opentelemetry/proto/.../*.pb.{h,cc}); default: built with
#                  bazel (output base $FUZZ_BAZEL_OUTPUT_BASE or
#                  /root/.cache/bazel-ob/fuzz) and taken from its bazel-bin/proto
#   -s DIR         source root (default: the repository holding this script)
#   -b             build only
# Exit status: 0 when every target ran without a crash, 1 on a crash, 2 when
# the toolchain is missing.
set -euo pipefail

seconds=60
out=/tmp/otlp-gateway-fuzz
proto_dir=""
src_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_only=0
while getopts "t:o:p:s:bj:" opt; do
  case "$opt" in
    t) seconds="$OPTARG" ;;
    o) out="$OPTARG" ;;
    p) proto_dir="$OPTARG" ;;
    s) src_root="$OPTARG" ;;
    b) build_only=1 ;;
    j) ;;  # accepted for compatibility; targets run one after another
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(trace_wire otlp_wire otlp_json gzip http_request persistent_queue)

CXX="${CXX_FUZZ:-clang++}"
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "fuzz.sh: $CXX not found; install clang and libclang-rt-14-dev (scripts/install_deps.sh --test)" >&2
  exit 2
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
    "$CXX" -x c++ -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  echo "fuzz.sh: $CXX cannot link libFuzzer; install libclang-rt-14-dev (scripts/install_deps.sh --test)" >&2
  exit 2
fi

if [ -z "$proto_dir" ]; then
  ob="${FUZZ_BAZEL_OUTPUT_BASE:-/root/.cache/bazel-ob/fuzz}"
  (cd "$src_root" && bazel --output_base="$ob" build //proto:all >/dev/null 2>&1) || {
    echo "fuzz.sh: bazel build //proto:all failed" >&2
    exit 2
  }
  proto_dir="$(cd "$src_root" && bazel --output_base="$ob" info bazel-bin 2>/dev/null)/proto"
fi

pb() { echo "$proto_dir/opentelemetry/proto/$1.pb.cc"; }
TRACE_PROTOS=("$(pb common/v1/common)" "$(pb resource/v1/resource)" "$(pb trace/v1/trace)"
              "$(pb collector/trace/v1/trace_service)")
METRICS_LOGS_PROTOS=("$(pb metrics/v1/metrics)" "$(pb logs/v1/logs)"
                     "$(pb collector/metrics/v1/metrics_service)" "$(pb collector/logs/v1/logs_service)")

# Generated code each target links (listed, so a smoke run compiles no more
# than it needs).
protos_for() {
  case "$1" in
    trace_wire) echo "${TRACE_PROTOS[*]}" ;;
    otlp_wire) echo "$(pb common/v1/common) $(pb resource/v1/resource) ${METRICS_LOGS_PROTOS[*]}" ;;
    otlp_json) echo "${TRACE_PROTOS[*]} ${METRICS_LOGS_PROTOS[*]}" ;;
    http_request) echo "${TRACE_PROTOS[*]} ${METRICS_LOGS_PROTOS[*]} $proto_dir/google/rpc/status.pb.cc $proto_dir/google/rpc/error_details.pb.cc" ;;
    *) echo "" ;;
  esac
}

# Sources each target needs besides its own file (listed, not globbed).
sources_for() {
  case "$1" in
    trace_wire) echo "pipeline/otlp/trace_scanner.cc pipeline/otlp/utf8_check.cc pipeline/otlp/otlp_wire.cc pipeline/otlp/otlp_validate.cc pipeline/otlp/output_span.cc pipeline/otlp/extra_attribute.cc pipeline/otlp/trace_rewriter.cc pipeline/otlp/trace_encoder.cc" ;;
    otlp_wire) echo "pipeline/otlp/otlp_wire.cc pipeline/otlp/otlp_validate.cc pipeline/otlp/utf8_check.cc" ;;
    otlp_json) echo "pipeline/otlp/otlp_json.cc pipeline/otlp/otlp_json_schema.cc pipeline/otlp/boost_json.cc" ;;
    gzip) echo "pipeline/otlp/gzip.cc" ;;
    persistent_queue) echo "pipeline/export/persistent_queue.cc pipeline/base/logging.cc" ;;
    http_request) echo "gateway/receivers/otlp_http_handler.cc gateway/receivers/receiver_common.cc pipeline/otlp/otlp_json.cc pipeline/otlp/otlp_json_schema.cc
                        pipeline/otlp/gzip.cc pipeline/base/logging.cc pipeline/base/metrics_registry.cc pipeline/otlp/otlp_wire.cc pipeline/otlp/otlp_validate.cc pipeline/otlp/utf8_check.cc
                        pipeline/otlp/boost_json.cc" ;;
    *) echo "fuzz.sh: unknown target $1" >&2; return 1 ;;
  esac
}

ABSL_LIBS=(-labsl_status -labsl_statusor -labsl_cord -labsl_cord_internal -labsl_cordz_info
           -labsl_cordz_handle -labsl_cordz_functions -labsl_exponential_biased -labsl_synchronization
           -labsl_graphcycles_internal -labsl_stacktrace -labsl_symbolize -labsl_debugging_internal
           -labsl_demangle_internal -labsl_malloc_internal -labsl_time -labsl_time_zone -labsl_civil_time
           -labsl_strings -labsl_strings_internal -labsl_str_format_internal -labsl_int128
           -labsl_throw_delegate -labsl_raw_logging_internal -labsl_log_severity -labsl_base
           -labsl_spinlock_wait -labsl_bad_optional_access -labsl_bad_variant_access -labsl_hash
           -labsl_city -labsl_low_level_hash -labsl_raw_hash_set -labsl_hashtablez_sampler)
FLAGS=(-std=c++20 -O1 -g1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I"$src_root" -I"$proto_dir" -w)

mkdir -p "$out"
status=0
for t in "${targets[@]}"; do
  srcs=()
  for s in $(sources_for "$t"); do srcs+=("$src_root/$s"); done
  objs_dir="$out/proto-obj"
  mkdir -p "$objs_dir"
  protos=()
  # Generated code compiled once, shared by the targets, and not
  # instrumented: it is libprotobuf's parser, not ours, and compiling it with
  # the sanitizers costs minutes.
  for p in $(protos_for "$t"); do
    o="$objs_dir/$(basename "$p" .cc).o"
    if [ ! -f "$o" ] || [ "$p" -nt "$o" ]; then
      "$CXX" -std=c++20 -O1 -g0 -I"$proto_dir" -w -c "$p" -o "$o"
    fi
    protos+=("$o")
  done
  bin="$out/${t}_fuzz"
  echo "fuzz.sh: building $bin" >&2
  "$CXX" "${FLAGS[@]}" "$src_root/tests/fuzz/${t}_fuzz.cc" "${srcs[@]}" "${protos[@]}" \
    -o "$bin" "${ABSL_LIBS[@]}" -lprotobuf -lz -lisal -lpthread
  [ "$build_only" = 1 ] && continue

  work="$out/corpus/$t"
  crashes="$out/crashes/$t"
  mkdir -p "$work" "$crashes"
  seeds=("$src_root/tests/fuzz/corpus/$t")
  [ -d "$src_root/tests/fuzz/regressions/$t" ] && seeds+=("$src_root/tests/fuzz/regressions/$t")
  echo "fuzz.sh: running $t for ${seconds}s" >&2
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "${seeds[@]}" 2>"$out/$t.log"; then
    echo "fuzz.sh: $t FAILED; see $out/$t.log and $crashes/" >&2
    tail -n 40 "$out/$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$out/$t.log" | sed "s/^/fuzz.sh: $t /" >&2
  fi
done
exit $status
