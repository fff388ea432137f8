// Cumulative -> delta conversion (NewMetricsTransform) against plain
// libprotobuf parse + serialize of the same requests, and against the check
// every metrics request already gets (ValidateExportRequest).
//
// The requests are SDK-like: one resource (5 attributes), one scope, 10
// counters and 5 explicit histograms (16 buckets) and 5 gauges, each over 10
// attribute sets of 3 attributes: 200 data points, ~40 KB. Successive
// requests are the same series 10 s later, so after the first round every
// point is converted against its series' state (the steady state).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "google/protobuf/arena.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "pipeline/base/clock.h"
#include "pipeline/metrics/cumulative_to_delta.h"
#include "pipeline/otlp/otlp_wire.h"

namespace gateway {
namespace {

namespace otlp = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

constexpr int kRounds = 64;
constexpr int kAttributeSets = 10;
constexpr int64_t kPointsPerRequest = (10 + 5 + 5) * kAttributeSets;

void Attr(google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>* attrs,
          const std::string& key, const std::string& value) {
  auto* kv = attrs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

// Round `round` of the request stream; `temporality` of sums and histograms.
std::string MakeRequest(int round, otlp::AggregationTemporality temporality) {
  const uint64_t start = 1'700'000'000'000'000'000ULL;
  const uint64_t time = start + static_cast<uint64_t>(round + 1) * 10'000'000'000ULL;
  ExportMetricsServiceRequest r;
  auto* rm = r.add_resource_metrics();
  for (const char* k : {"service.name", "service.version", "host.name", "telemetry.sdk.name", "deployment.environment"}) {
    Attr(rm->mutable_resource()->mutable_attributes(), k, absl::StrCat(k, "-value"));
  }
  auto* sm = rm->add_scope_metrics();
  sm->mutable_scope()->set_name("io.opentelemetry.benchmark");
  sm->mutable_scope()->set_version("1.0.0");
  auto point_attrs = [](auto* p, int set) {
    Attr(p->mutable_attributes(), "http.route", absl::StrCat("/api/v1/resource/", set));
    Attr(p->mutable_attributes(), "http.request.method", set % 2 ? "GET" : "POST");
    Attr(p->mutable_attributes(), "http.response.status_code", set % 3 ? "200" : "500");
  };
  for (int c = 0; c < 10; ++c) {
    otlp::Metric* m = sm->add_metrics();
    m->set_name(absl::StrCat("http.server.requests.", c));
    m->set_unit("{request}");
    m->mutable_sum()->set_is_monotonic(true);
    m->mutable_sum()->set_aggregation_temporality(temporality);
    for (int s = 0; s < kAttributeSets; ++s) {
      auto* p = m->mutable_sum()->add_data_points();
      p->set_start_time_unix_nano(start);
      p->set_time_unix_nano(time);
      p->set_as_int(int64_t{round} * (s + 1) * 7);
      point_attrs(p, s);
    }
  }
  for (int hgram = 0; hgram < 5; ++hgram) {
    otlp::Metric* m = sm->add_metrics();
    m->set_name(absl::StrCat("http.server.duration.", hgram));
    m->set_unit("ms");
    m->mutable_histogram()->set_aggregation_temporality(temporality);
    for (int s = 0; s < kAttributeSets; ++s) {
      auto* p = m->mutable_histogram()->add_data_points();
      p->set_start_time_unix_nano(start);
      p->set_time_unix_nano(time);
      uint64_t count = 0;
      for (int b = 0; b < 16; ++b) {
        if (b < 15) p->add_explicit_bounds(1 << b);
        const uint64_t n = static_cast<uint64_t>(round) * static_cast<uint64_t>((b * 3 + s) % 7);
        p->add_bucket_counts(n);
        count += n;
      }
      p->set_count(count);
      p->set_sum(static_cast<double>(count) * 12.5);
      p->set_min(0.5);
      p->set_max(900);
      point_attrs(p, s);
    }
  }
  for (int g = 0; g < 5; ++g) {
    otlp::Metric* m = sm->add_metrics();
    m->set_name(absl::StrCat("process.memory.usage.", g));
    m->set_unit("By");
    for (int s = 0; s < kAttributeSets; ++s) {
      auto* p = m->mutable_gauge()->add_data_points();
      p->set_time_unix_nano(time);
      p->set_as_double(1e6 + round * s);
      point_attrs(p, s);
    }
  }
  return r.SerializeAsString();
}

const std::vector<std::string>& Requests(otlp::AggregationTemporality temporality) {
  static const auto* const kCumulative = [] {
    auto* v = new std::vector<std::string>;
    for (int i = 0; i < kRounds; ++i) v->push_back(MakeRequest(i, otlp::AGGREGATION_TEMPORALITY_CUMULATIVE));
    return v;
  }();
  static const auto* const kDelta = [] {
    auto* v = new std::vector<std::string>;
    for (int i = 0; i < kRounds; ++i) v->push_back(MakeRequest(i, otlp::AGGREGATION_TEMPORALITY_DELTA));
    return v;
  }();
  return temporality == otlp::AGGREGATION_TEMPORALITY_CUMULATIVE ? *kCumulative : *kDelta;
}

void Report(benchmark::State& state, const std::string& body) {
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations() * kPointsPerRequest);
}

// The transform in its steady state: every series known, each request one
// interval later than the last. The copy of the body the transform takes is
// included (the pipeline moves it in).
void BM_CumulativeToDelta(benchmark::State& state) {
  const std::vector<std::string>& requests = Requests(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
  MetricsRegistry registry;
  std::unique_ptr<Clock> clock = NewRealClock();
  MetricsOptions options;
  options.cumulative_to_delta = true;
  options.drop_summaries = true;
  options.max_dimensions = 50;
  // Round i of a fresh transform per pass over the rounds: the timestamps
  // start over, so the series are reset by building a new one.
  std::unique_ptr<MetricsTransform> transform = NewMetricsTransform(options, *clock, registry);
  transform->Transform(requests[0]);
  int round = 1;
  for (auto _ : state) {
    if (round == kRounds) {
      state.PauseTiming();
      transform = NewMetricsTransform(options, *clock, registry);
      transform->Transform(requests[0]);
      round = 1;
      state.ResumeTiming();
    }
    MetricsTransformResult r = transform->Transform(requests[static_cast<size_t>(round++)]);
    benchmark::DoNotOptimize(r.body.data());
  }
  Report(state, requests[1]);
}
BENCHMARK(BM_CumulativeToDelta);

// A request that needs no change (delta sums and histograms): parsed,
// walked, returned as it came.
void BM_DeltaPassesUnchanged(benchmark::State& state) {
  const std::string& body = Requests(otlp::AGGREGATION_TEMPORALITY_DELTA)[5];
  MetricsRegistry registry;
  std::unique_ptr<Clock> clock = NewRealClock();
  MetricsOptions options;
  options.cumulative_to_delta = true;
  options.drop_summaries = true;
  options.max_dimensions = 50;
  std::unique_ptr<MetricsTransform> transform = NewMetricsTransform(options, *clock, registry);
  for (auto _ : state) {
    MetricsTransformResult r = transform->Transform(body);
    benchmark::DoNotOptimize(r.body.data());
  }
  Report(state, body);
}
BENCHMARK(BM_DeltaPassesUnchanged);

// The floor for any libprotobuf-based rewrite: parse on an arena and
// serialize again, nothing else.
void BM_LibprotobufParseSerialize(benchmark::State& state) {
  const std::string& body = Requests(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE)[5];
  for (auto _ : state) {
    google::protobuf::Arena arena;
    auto* r = google::protobuf::Arena::CreateMessage<ExportMetricsServiceRequest>(&arena);
    r->ParseFromString(body);
    std::string out = r->SerializeAsString();
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, body);
}
BENCHMARK(BM_LibprotobufParseSerialize);

// What every metrics request already costs on the receiving thread.
void BM_ValidateExportRequest(benchmark::State& state) {
  const std::string& body = Requests(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE)[5];
  for (auto _ : state) benchmark::DoNotOptimize(ValidateExportRequest(Signal::kMetrics, body).ok());
  Report(state, body);
}
BENCHMARK(BM_ValidateExportRequest);

}  // namespace
}  // namespace gateway
