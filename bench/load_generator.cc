// OTLP trace load generator: keeps --concurrency Export requests in flight
// against --target over gRPC (generic stub, callback API) or OTLP/HTTP
// protobuf (libcurl multi), from a pool of request bodies built before the
// clock starts, and reports throughput, latency and errors by code.
//
//   load_generator --target=127.0.0.1:4317 --protocol=grpc --concurrency=8
//       --duration=5s --spans_per_request=100 --consumer_share=0.2 --json
//
// Closed loop by default (each finished request starts the next); with
// --rate it is open loop: requests start on a fixed schedule, latency counts
// from the scheduled start, and a tick with no free slot is counted as
// "missed". UNAVAILABLE / RESOURCE_EXHAUSTED and HTTP 503 / 429 count as
// backpressure. With --gateway_pid it reads that process's CPU time before
// and after the run and its peak RSS (VmHWM) from /proc.
//
// The human table goes to stdout, or to stderr with --json, which prints one
// JSON object on stdout instead.
//
// The senders are in loadgen_grpc and loadgen_http, the schedule and slot
// counters in loadgen_run, the request pool in loadgen_requests, the
// measurements and the report in loadgen_report.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "bench/loadgen_flags.h"
#include "bench/loadgen_grpc.h"
#include "bench/loadgen_http.h"
#include "bench/loadgen_report.h"
#include "bench/loadgen_requests.h"
#include "bench/loadgen_run.h"

ABSL_FLAG(std::string, target, "127.0.0.1:4317", "host:port of the OTLP receiver.");
ABSL_FLAG(std::string, protocol, "grpc",
          "grpc, http (OTLP/HTTP protobuf) or http-json (OTLP/HTTP JSON: the same requests, ids in hex).");
ABSL_FLAG(std::string, http_path, "/v1/traces", "Request path for --protocol=http.");
ABSL_FLAG(int, concurrency, 4, "Requests in flight.");
ABSL_FLAG(int, connections, 1, "gRPC channels (HTTP/2 connections) the slots are spread over.");
ABSL_FLAG(int, http_threads, 1, "libcurl multi loops for --protocol=http.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "How long to send (at most --max_duration).");
ABSL_FLAG(absl::Duration, max_duration, absl::Seconds(300), "Hard upper bound of --duration.");
ABSL_FLAG(int64_t, requests, 0, "Stop after this many requests (0: run for --duration).");
ABSL_FLAG(double, rate, 0, "Open loop: requests per second (0: closed loop).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each request.");
ABSL_FLAG(int, spans_per_request, 100, "Spans in each request.");
ABSL_FLAG(int, span_bytes, 300, "Approximate serialized size of a span.");
ABSL_FLAG(int, attribute_bytes, 0,
          "0: spans are padded to span_bytes with one string attribute; N: with attributes of N-byte "
          "values (SDK-like spans).");
ABSL_FLAG(double, consumer_share, 0.1, "Fraction of spans that are CONSUMER spans linking to a producer.");
ABSL_FLAG(bool, out_of_order, false, "Send a consumer's children one request before the consumer.");
ABSL_FLAG(int, pool, 256, "Distinct request bodies generated before the run.");
ABSL_FLAG(bool, unique_ids, true, "Salt ids per pass over the pool so ids do not repeat.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the request pool.");
ABSL_FLAG(int, gateway_pid, 0, "Process whose CPU time and peak RSS to report (0: none).");
ABSL_FLAG(bool, json, false, "Print one JSON line on stdout (table on stderr).");
ABSL_FLAG(std::string, label, "", "Free text copied into the JSON line.");

namespace loadgen {
namespace {

int Main() {
  const std::string protocol = absl::GetFlag(FLAGS_protocol);
  if (protocol != "grpc" && protocol != "http" && protocol != "http-json") {
    std::fprintf(stderr, "load_generator: --protocol must be grpc, http or http-json\n");
    return 2;
  }
  RunOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.concurrency = std::clamp(absl::GetFlag(FLAGS_concurrency), 1, 4096);
  options.connections = std::clamp(absl::GetFlag(FLAGS_connections), 1, options.concurrency);
  options.http_threads = std::clamp(absl::GetFlag(FLAGS_http_threads), 1, options.concurrency);
  options.http_path = absl::GetFlag(FLAGS_http_path);
  const absl::Duration duration = std::min(absl::GetFlag(FLAGS_duration), absl::GetFlag(FLAGS_max_duration));
  options.duration = absl::ToChronoNanoseconds(duration);
  options.max_requests = absl::GetFlag(FLAGS_requests);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.timeout = absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_timeout));
  options.unique_ids = absl::GetFlag(FLAGS_unique_ids);

  LoadShape shape;
  shape.spans_per_request = std::clamp(absl::GetFlag(FLAGS_spans_per_request), 1, 100000);
  shape.span_bytes = std::clamp(absl::GetFlag(FLAGS_span_bytes), 0, 1 << 20);
  shape.attribute_bytes = std::clamp(absl::GetFlag(FLAGS_attribute_bytes), 0, 1 << 16);
  shape.consumer_share = absl::GetFlag(FLAGS_consumer_share);
  shape.out_of_order = absl::GetFlag(FLAGS_out_of_order);
  RequestPool pool =
      BuildRequestPool(shape, std::clamp(absl::GetFlag(FLAGS_pool), 1, 1 << 16), absl::GetFlag(FLAGS_seed));
  if (protocol == "http-json") pool = ToOtlpJsonPool(pool);

  std::unique_ptr<LoadDriver> driver =
      protocol == "grpc" ? NewGrpcDriver(options, pool) : NewHttpDriver(options, pool);
  if (!driver->Connect(SteadyClock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "load_generator: cannot connect to %s\n", options.target.c_str());
    return 1;
  }

  RunReport report;
  report.gateway_pid = absl::GetFlag(FLAGS_gateway_pid);
  const int gateway_pid = report.gateway_pid;
  const double gateway_cpu_before = gateway_pid > 0 ? ProcessCpuSeconds(gateway_pid) : -1;
  const double self_cpu_before = SelfCpuSeconds();
  const SteadyClock::time_point start = SteadyClock::now();
  Schedule schedule(options, start);
  const bool finished = driver->Run(schedule);
  report.elapsed_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
  report.loadgen_cpu_s = SelfCpuSeconds() - self_cpu_before;
  const double gateway_cpu_after = gateway_pid > 0 ? ProcessCpuSeconds(gateway_pid) : -1;
  report.gateway_cpu_s =
      gateway_cpu_before >= 0 && gateway_cpu_after >= 0 ? gateway_cpu_after - gateway_cpu_before : -1;
  report.gateway_max_rss_mib = gateway_pid > 0 ? ProcessStatusMiB(gateway_pid, "VmHWM") : -1;
  report.gateway_rss_mib = gateway_pid > 0 ? ProcessStatusMiB(gateway_pid, "VmRSS") : -1;

  report.stats = driver->Stats();
  if (!finished) report.stats.errors["unfinished_at_exit"] += 1;
  report.label = absl::GetFlag(FLAGS_label);
  report.protocol = protocol;
  report.options = options;
  report.shape = shape;
  report.pool_size = pool.size();
  report.pool_bytes = pool.TotalBytes();
  const FormattedReport text = FormatReport(std::move(report));

  if (absl::GetFlag(FLAGS_json)) {
    std::fputs(text.table.c_str(), stderr);
    std::printf("%s\n", text.json.c_str());
  } else {
    std::fputs(text.table.c_str(), stdout);
  }
  std::fflush(stdout);
  // Skip destructors: a request still stuck past the grace period would hold
  // gRPC's shutdown; everything has been reported.
  std::quick_exit(finished ? 0 : 3);
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("OTLP trace load generator (gRPC or HTTP/protobuf).");
  std::vector<std::string> storage;
  std::vector<char*> args = loadgen::NormalizeFlagNames(argc, argv, &storage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  return loadgen::Main();
}
