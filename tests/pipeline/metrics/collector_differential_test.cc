// Differential test against the OpenTelemetry Collector's own
// cumulativetodelta processor (contrib v0.158.0, tests/go/collector): the
// same generated request streams go through
//   the Collector: OTLP/HTTP receiver -> cumulative_to_delta -> otlp_http
//                  exporter -> a FakeDynatrace that records what arrives, and
//   the gateway:   NewMetricsTransform (conversion only),
// and the data points that come out must agree.
//
// "Agree" means: the two multisets of output data points are equal, where a
// point is its resource attributes, scope name and version, metric name,
// unit, type, temporality and monotonicity, its attributes (as a set), start
// and end time, flags and value: ints exactly, doubles bit for bit (NaN as
// NaN), histograms' count, sum, bounds, bucket counts and whether min/max are
// present, exponential histograms' count, sum, scale, zero count and
// threshold and both bucket ranges as offset + counts. Request boundaries and
// the order of points are not compared.
//
// The streams have restarts (new start times, half of the series starting
// before both processes and half after), same-start resets of sums, bucket
// layout changes, exponential scale reductions and zero-threshold raises,
// NaN sums and no-recorded-value points, pass-through gauges, delta and
// non-monotonic sums. They leave out what the gateway deliberately does
// differently (docs/metrics.md): points that are not newer than their
// series' last point, and histogram decreases under an unchanged start time.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "pipeline/base/clock.h"
#include "pipeline/metrics/cumulative_to_delta.h"
#include "tests/fakes/fake_dynatrace.h"
#include "tests/fakes/otel_collector.h"
#include "tests/pipeline/metrics/delta_oracle.h"
#include "tests/pipeline/metrics/metric_streams.h"

namespace gateway {
namespace {

using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

constexpr int kSeeds = 6;
constexpr char kToken[] = "differential-token";

std::string CollectorConfig(int port, const std::string& target) {
  return absl::StrCat(R"(receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:)", port, R"(
processors:
  cumulative_to_delta: {}
exporters:
  otlp_http:
    endpoint: )", target, R"(
    headers: {Authorization: "Api-Token )", kToken, R"("}
    compression: none
    retry_on_failure: {enabled: false}
    sending_queue: {enabled: false}
service:
  telemetry:
    metrics: {level: none}
    logs: {level: warn}
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [cumulative_to_delta]
      exporters: [otlp_http]
)");
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Points in `a` and not in `b` (as multisets), at most `limit`.
std::vector<std::string> Missing(const std::vector<std::string>& a, const std::vector<std::string>& b, size_t limit) {
  std::vector<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  if (out.size() > limit) out.resize(limit);
  return out;
}

TEST(CollectorDifferentialTest, DeltaPointsAgreeWithTheCollectorsCumulativeToDelta) {
  absl::StatusOr<std::string> binary = testing::OtelCollector::FindBinary();
  ASSERT_TRUE(binary.ok()) << binary.status();
  absl::StatusOr<std::unique_ptr<testing::FakeDynatrace>> sink =
      testing::FakeDynatrace::Start({.token = kToken});
  ASSERT_TRUE(sink.ok()) << sink.status();
  absl::StatusOr<std::unique_ptr<testing::OtelCollector>> collector = testing::OtelCollector::Start(
      *binary, [&](int port) { return CollectorConfig(port, (*sink)->url()); });
  ASSERT_TRUE(collector.ok()) << collector.status();

  std::unique_ptr<Clock> clock = NewRealClock();
  MetricsRegistry registry;
  MetricsOptions options;
  options.cumulative_to_delta = true;
  std::unique_ptr<MetricsTransform> gateway = NewMetricsTransform(options, *clock, registry);

  const std::string url = absl::StrCat((*collector)->http_url(), "/v1/metrics");
  std::vector<std::string> from_gateway;
  int64_t points_sent = 0;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    testing::StreamOptions streams;
    streams.seed = static_cast<uint64_t>(seed);
    // Both started before now; a minute either side keeps every series
    // clearly before or after both of them.
    streams.gateway_start_unix_nano = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
    streams.start_gap_nano = 60'000'000'000ULL;
    streams.out_of_order_p = 0;
    streams.duplicate_p = 0;
    streams.histogram_same_start_resets = false;
    streams.zero_threshold_p = 0.05;
    streams.nan_p = 0.05;
    streams.no_recorded_value_p = 0.03;
    for (const ExportMetricsServiceRequest& request : testing::GenerateStreams(streams)) {
      const std::string body = request.SerializeAsString();
      std::string response;
      ASSERT_EQ(testing::PostProtobuf(url, body, &response), 200) << (*collector)->Log();
      MetricsTransformResult result = gateway->Transform(body);
      ASSERT_EQ(result.outcome, MetricsTransformOutcome::kOk);
      points_sent += result.input_points;
      ExportMetricsServiceRequest out;
      ASSERT_TRUE(out.ParseFromString(result.body));
      for (std::string& p : testing::CanonicalPoints(out, {.exact_exp_layout = true})) {
        from_gateway.push_back(std::move(p));
      }
    }
  }
  // The Collector exports before it answers (no sending queue); the wait
  // only bounds a slow machine.
  (*sink)->WaitForMetricPoints(static_cast<int64_t>(from_gateway.size()), absl::Now() + absl::Seconds(10));
  std::vector<std::string> from_collector;
  for (const auto& rm : (*sink)->ReceivedMetrics()) {
    ExportMetricsServiceRequest wrapped;
    *wrapped.add_resource_metrics() = rm;
    for (std::string& p : testing::CanonicalPoints(wrapped, {.exact_exp_layout = true})) {
      from_collector.push_back(std::move(p));
    }
  }
  const std::vector<std::string> a = Sorted(from_gateway);
  const std::vector<std::string> b = Sorted(from_collector);
  EXPECT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "only from the gateway:\n  " << absl::StrJoin(Missing(a, b, 10), "\n  ")
                      << "\nonly from the Collector:\n  " << absl::StrJoin(Missing(b, a, 10), "\n  ");
  // The comparison covered conversion, not just pass-through and drops.
  EXPECT_GT(registry.CounterValue("gateway_metrics_points_converted_total"), 500);
  EXPECT_GT(registry.CounterValue("gateway_metrics_points_dropped_total", {{"reason", "initial"}}), 50);
  EXPECT_GT(registry.CounterValue("gateway_metrics_points_dropped_total", {{"reason", "bucket_mismatch"}}), 0);
  EXPECT_GT(points_sent, static_cast<int64_t>(a.size()));
  EXPECT_EQ((*sink)->RejectedItems(Signal::kMetrics), 0) << "the Collector's output is what Dynatrace accepts";
}

}  // namespace
}  // namespace gateway
