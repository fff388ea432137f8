// What the fate store costs a gateway: the sharded engine fed from this
// process (scan, submit, resolve, batch, encode; a no-op exporter), once
// without a store and once with a Redis one, on the same requests:
//
//   100 spans a request, 10 traces of 10 spans; --consumer_traces of them
//   (default 5) have a CONSUMER root whose link names a producer another
//   gateway moved (its fate is put in Redis before the run, so each lookup
//   finds it), the others a SERVER root; below the root 7 INTERNAL spans
//   and 2 PRODUCER spans (published). Requests are sent at --rate spans/s
//   (0: as fast as the engine takes them, at most 20000 spans in flight).
//
// Reports, per run: gateway CPU per span (user + system of this process,
// which is the gateway's work: the client thread included; the requests are
// serialized before the clock starts), round trips to the store per 1000
// spans, commands per round trip, Redis's own CPU per span (INFO cpu), and
// the delivery delay (Submit to Export, p50 / p99 / mean) of the spans of
// consumer traces (which wait for the store's answer) and of the others.
//
//   bazel run -c opt //bench:fate_store_bench -- --redis=127.0.0.1:6379 --requests=3000 --rate=50000
//   scripts/bench_fate_store.sh     # starts a redis-server and runs both
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/allocator.h"
#include "pipeline/base/clock.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/sync.h"
#include "pipeline/export/exporter.h"
#include "pipeline/otlp/trace_scanner.h"
#include "pipeline/reparent/fate_store_client.h"
#include "pipeline/reparent/redis_connection.h"
#include "pipeline/reparent/redis_fate_store.h"
#include "pipeline/reparent/sharded_trace_engine.h"

namespace gateway {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using opentelemetry::proto::trace::v1::Span;

constexpr int kTracesPerRequest = 10;
constexpr int kSpansPerTrace = 10;
// Spans submitted and not yet exported, at most (pacing).
constexpr int64_t kMaxInFlight = 20'000;

// 8 big-endian bytes.
std::string Be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
  return out;
}
// Request r, trace t: its trace id; span k of it: r * 1000 + t * 10 + k + 1.
std::string TraceOf(uint64_t r, uint64_t t) { return Be64(0x5100000000000000ULL | r) + Be64(t + 1); }
std::string SpanOf(uint64_t r, uint64_t t, uint64_t k) { return Be64(r * 1000 + t * 10 + k + 1); }
// The producer another gateway moved, that consumer (r, t) links to, and
// where it went.
std::string LinkedTrace(uint64_t r, uint64_t t) { return Be64(0x7700000000000000ULL | r) + Be64(t + 1); }
std::string MovedTo(uint64_t r, uint64_t t) { return Be64(0x8800000000000000ULL | r) + Be64(t + 1); }
const std::string kLinkedSpan = Be64(42);

std::string MakeRequest(uint64_t r, int consumer_traces) {
  ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("bench");
  auto* ss = rs->add_scope_spans();
  for (uint64_t t = 0; t < kTracesPerRequest; ++t) {
    // Children first, as SDKs export them.
    for (int k = kSpansPerTrace - 1; k >= 0; --k) {
      Span* s = ss->add_spans();
      s->set_trace_id(TraceOf(r, t));
      s->set_span_id(SpanOf(r, t, k));
      s->set_name(k == 0 ? "process" : k >= 8 ? "publish" : "work");
      s->set_start_time_unix_nano(1'700'000'000'000'000'000ULL);
      s->set_end_time_unix_nano(1'700'000'000'000'100'000ULL);
      for (int a = 0; a < 6; ++a) {
        auto* kv = s->add_attributes();
        kv->set_key(absl::StrCat("app.attribute.", a));
        kv->mutable_value()->set_string_value("some value of moderate length");
      }
      if (k == 0 && t >= static_cast<uint64_t>(consumer_traces)) {
        s->set_kind(Span::SPAN_KIND_SERVER);
      } else if (k == 0) {
        s->set_kind(Span::SPAN_KIND_CONSUMER);
        auto* link = s->add_links();
        link->set_trace_id(LinkedTrace(r, t));
        link->set_span_id(kLinkedSpan);
      } else {
        s->set_parent_span_id(SpanOf(r, t, k >= 8 ? 1 : k - 1));
        s->set_kind(k >= 8 ? Span::SPAN_KIND_PRODUCER : Span::SPAN_KIND_INTERNAL);
      }
    }
  }
  return request.SerializeAsString();
}

// Keeps the export times and bodies; delivers at once.
class RecordingExporter final : public Exporter {
 public:
  void Export(ExportRequest request) override {
    const absl::Time now = absl::Now();
    exported_.fetch_add(request.items, std::memory_order_relaxed);
    {
      MutexLock lock(&mu_);
      seen_.push_back({now, std::move(request.body)});
    }
    if (request.on_done) request.on_done(ExportResult{});
  }
  int64_t QueuedBytes() const override { return 0; }
  bool Healthy() const override { return true; }
  absl::Status Shutdown(absl::Time) override { return absl::OkStatus(); }

  int64_t exported() const { return exported_.load(std::memory_order_relaxed); }
  std::vector<std::pair<absl::Time, std::string>> Take() {
    MutexLock lock(&mu_);
    return std::move(seen_);
  }

 private:
  std::atomic<int64_t> exported_{0};
  Mutex mu_;
  std::vector<std::pair<absl::Time, std::string>> seen_ ABSL_GUARDED_BY(mu_);
};

// CPU seconds of this process's threads named `name`: the scheduler's own
// runtime (/proc/self/task/*/schedstat, first field, in ns), which tick-
// sampled utime/stime misjudge for threads that run in short bursts.
double ThreadCpuSeconds(const std::string& name) {
  double total = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string thread_name;
    std::getline(comm, thread_name);
    if (thread_name != name) continue;
    std::ifstream schedstat(task.path() / "schedstat");
    double ns = 0;
    if (schedstat >> ns) total += ns / 1e9;
  }
  return total;
}

// The process's CPU time, all threads (the scheduler's runtime).
double CpuSeconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// Redis's used_cpu_user + used_cpu_sys (INFO cpu); -1 when unreadable.
double RedisCpuSeconds(const std::string& address) {
  std::string host;
  int port = 0;
  if (!SplitRedisAddress(address, &host, &port)) return -1;
  auto conn = RedisConnection::Connect(host, port, nullptr, absl::Now() + absl::Seconds(2));
  if (!conn.ok()) return -1;
  std::string request;
  AppendRedisCommand({"INFO", "cpu"}, &request);
  std::vector<RedisReply> replies;
  if (!(*conn)->Exchange(request, 1, absl::Now() + absl::Seconds(2), &replies).ok()) return -1;
  double total = 0;
  for (const char* key : {"used_cpu_user:", "used_cpu_sys:"}) {
    const size_t at = replies[0].text.find(key);
    double v = 0;
    if (at == std::string::npos) return -1;
    const size_t start = at + std::strlen(key);
    if (!absl::SimpleAtod(replies[0].text.substr(start, replies[0].text.find('\r', start) - start), &v)) return -1;
    total += v;
  }
  return total;
}

absl::Status Seed(const std::string& address, int requests) {
  RedisFateStoreOptions options;
  options.address = address;
  auto store = NewRedisFateStore(options);
  if (!store.ok()) return store.status();
  std::vector<StoredFate> batch;
  std::vector<std::optional<TraceId>> found;
  for (int r = 0; r < requests; ++r) {
    for (uint64_t t = 0; t < kTracesPerRequest; ++t) {
      StoredFate record;
      TraceId::FromBytes(LinkedTrace(r, t), &record.query.original_trace);
      SpanId::FromBytes(kLinkedSpan, &record.query.span);
      TraceId::FromBytes(MovedTo(r, t), &record.new_trace);
      batch.push_back(record);
    }
    if (batch.size() >= 1000 || r + 1 == requests) {
      absl::Status s = (*store)->RoundTrip(batch, absl::Minutes(10), {}, absl::Seconds(10), &found);
      if (!s.ok()) return s;
      batch.clear();
    }
  }
  return absl::OkStatus();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Run(const std::string& redis, int requests, int shards, int consumer_traces, double rate) {
  std::vector<std::string> bodies;
  for (int r = 0; r < requests; ++r) bodies.push_back(MakeRequest(r, consumer_traces));
  if (!redis.empty()) {
    if (absl::Status s = Seed(redis, requests); !s.ok()) {
      std::fprintf(stderr, "seeding %s: %s\n", redis.c_str(), std::string(s.message()).c_str());
      return 1;
    }
  }
  MetricsRegistry metrics;
  RecordingExporter exporter;
  std::unique_ptr<FateStoreClient> client;
  if (!redis.empty()) {
    RedisFateStoreOptions options;
    options.address = redis;
    client = std::make_unique<FateStoreClient>(FateStoreClientOptions{}, *NewRedisFateStore(options), metrics,
                                               RealClock());
  }
  ReparentOptions options;
  options.shards = shards;
  auto engine = NewShardedTraceEngine(options, TraceBatcherOptions{}, exporter, nullptr, metrics, RealClock(),
                                      client.get());
  const int64_t spans = static_cast<int64_t>(requests) * kTracesPerRequest * kSpansPerTrace;
  std::vector<absl::Time> submitted(static_cast<size_t>(requests));
  const double redis_cpu_before = redis.empty() ? 0 : RedisCpuSeconds(redis);
  const double cpu_before = CpuSeconds();
  const absl::Time start = absl::Now();
  for (int r = 0; r < requests; ++r) {
    const int64_t in = static_cast<int64_t>(r) * kTracesPerRequest * kSpansPerTrace;
    if (rate > 0) {
      const absl::Time due = start + absl::Seconds(static_cast<double>(in) / rate);
      if (due > absl::Now()) absl::SleepFor(due - absl::Now());
    }
    for (int i = 0; i < 1'000'000 && in - exporter.exported() > kMaxInFlight; ++i) {
      absl::SleepFor(absl::Microseconds(100));
    }
    submitted[static_cast<size_t>(r)] = absl::Now();
    absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(std::move(bodies[static_cast<size_t>(r)]), Utf8Check::kSkip);
    if (!scanned.ok()) return 1;
    engine->Submit(*std::move(scanned));
  }
  for (int i = 0; i < 600'000 && exporter.exported() < spans; ++i) absl::SleepFor(absl::Microseconds(100));
  const absl::Duration wall = absl::Now() - start;
  const double cpu = CpuSeconds() - cpu_before;
  const double redis_cpu = redis.empty() ? 0 : RedisCpuSeconds(redis) - redis_cpu_before;
  const double client_cpu = ThreadCpuSeconds("fate-store");
  engine->Shutdown();
  if (client) client->Shutdown();

  // Delivery delays, decoded after the clock stopped.
  std::vector<double> other_ms;
  std::vector<double> consumer_ms;
  size_t exported_spans = 0;
  for (auto& [when, body] : exporter.Take()) {
    ExportTraceServiceRequest request;
    if (!request.ParseFromString(body)) continue;
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& s : ss.spans()) {
          uint64_t id = 0;
          for (char c : s.span_id()) id = id << 8 | static_cast<uint8_t>(c);
          const size_t r = static_cast<size_t>((id - 1) / 1000);
          const uint64_t t = (id - 1) % 1000 / 10;
          if (r >= submitted.size()) continue;
          ++exported_spans;
          const double ms = absl::ToDoubleMilliseconds(when - submitted[r]);
          (t < static_cast<uint64_t>(consumer_traces) ? consumer_ms : other_ms).push_back(ms);
        }
      }
    }
  }
  auto mean = [](const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return v.empty() ? 0 : sum / static_cast<double>(v.size());
  };
  const int64_t trips = metrics.CounterValue("gateway_fate_store_round_trips_total", {{"result", "ok"}}) +
                        metrics.CounterValue("gateway_fate_store_round_trips_total", {{"result", "error"}});
  const int64_t commands = metrics.CounterValue("gateway_fate_store_published_total") +
                           metrics.CounterValue("gateway_fate_store_lookups_total", {{"result", "found"}}) +
                           metrics.CounterValue("gateway_fate_store_lookups_total", {{"result", "absent"}});
  std::printf(
      "store=%s consumer_traces=%d/10 spans=%lld exported=%zu wall_s=%.2f spans_per_s=%.0f cpu_us_per_span=%.2f "
      "(fate-store thread %.2f) round_trips_per_1000_spans=%.2f commands_per_round_trip=%.1f "
      "redis_cpu_us_per_span=%.2f degraded=%lld "
      "delay_ms consumer_traces p50=%.1f p99=%.1f mean=%.1f other_traces p50=%.1f p99=%.1f mean=%.1f\n",
      redis.empty() ? "off" : "redis", consumer_traces, static_cast<long long>(spans), exported_spans,
      absl::ToDoubleSeconds(wall),
      static_cast<double>(spans) / absl::ToDoubleSeconds(wall), 1e6 * cpu / static_cast<double>(spans),
      1e6 * client_cpu / static_cast<double>(spans), 1000.0 * static_cast<double>(trips) / static_cast<double>(spans),
      trips == 0 ? 0.0 : static_cast<double>(commands) / static_cast<double>(trips),
      1e6 * redis_cpu / static_cast<double>(spans),
      static_cast<long long>(metrics.CounterValue("gateway_fate_store_degraded_total", {{"reason", "timeout"}}) +
                             metrics.CounterValue("gateway_fate_store_degraded_total", {{"reason", "unavailable"}})),
      Percentile(consumer_ms, 0.5), Percentile(consumer_ms, 0.99), mean(consumer_ms), Percentile(other_ms, 0.5),
      Percentile(other_ms, 0.99), mean(other_ms));
  return exported_spans == static_cast<size_t>(spans) ? 0 : 1;
}

}  // namespace
}  // namespace gateway

int main(int argc, char** argv) {
  gateway::TuneAllocatorForThroughput();
  std::string redis;
  int requests = 2000;
  int shards = 2;
  int consumer_traces = 5;
  double rate = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--redis=", 0) == 0) {
      redis = arg.substr(8);
    } else if (arg.rfind("--requests=", 0) == 0) {
      requests = std::max(1, std::atoi(arg.c_str() + 11));
    } else if (arg.rfind("--shards=", 0) == 0) {
      shards = std::max(1, std::atoi(arg.c_str() + 9));
    } else if (arg.rfind("--consumer_traces=", 0) == 0) {
      consumer_traces = std::clamp(std::atoi(arg.c_str() + 18), 0, 10);
    } else if (arg.rfind("--rate=", 0) == 0) {
      rate = std::max(0.0, std::atof(arg.c_str() + 7));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--redis=host:port] [--requests=N] [--shards=N] [--consumer_traces=0..10] "
                   "[--rate=spans/s]\n",
                   argv[0]);
      return 2;
    }
  }
  return gateway::Run(redis, requests, shards, consumer_traces, rate);
}
