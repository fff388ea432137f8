// Property test: random series (restarts, same-start resets, layout and
// scale changes, out-of-order and repeated points, NaN and no-recorded-value
// points) through the transform, against the offline oracle.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/metrics/cumulative_to_delta.h"
#include "tests/fakes/fake_clock.h"
#include "tests/pipeline/metrics/delta_oracle.h"
#include "tests/pipeline/metrics/metric_streams.h"

namespace gateway {
namespace {

namespace otlp = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

constexpr int kSeeds = 40;

class MetricsPropertyTest : public ::testing::TestWithParam<int> {};

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Every converted point must cover a non-empty interval: Dynatrace reads
// start..time as the delta's interval.
void ExpectDeltaIntervals(const ExportMetricsServiceRequest& r) {
  for (const auto& rm : r.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        if (m.has_sum() && m.sum().aggregation_temporality() == otlp::AGGREGATION_TEMPORALITY_CUMULATIVE) {
          EXPECT_FALSE(m.sum().is_monotonic()) << m.name() << " left cumulative";
        }
        if (m.has_histogram()) {
          EXPECT_EQ(m.histogram().aggregation_temporality(), otlp::AGGREGATION_TEMPORALITY_DELTA);
          for (const auto& p : m.histogram().data_points()) EXPECT_LT(p.start_time_unix_nano(), p.time_unix_nano());
        }
        if (m.has_exponential_histogram()) {
          EXPECT_EQ(m.exponential_histogram().aggregation_temporality(), otlp::AGGREGATION_TEMPORALITY_DELTA);
          for (const auto& p : m.exponential_histogram().data_points()) {
            EXPECT_LT(p.start_time_unix_nano(), p.time_unix_nano());
          }
        }
      }
    }
  }
}

TEST_P(MetricsPropertyTest, TransformAgreesWithTheOfflineOracle) {
  testing::FakeClock clock;
  MetricsRegistry registry;
  MetricsOptions options;
  options.cumulative_to_delta = true;
  options.drop_summaries = true;
  options.max_dimensions = 50;
  std::unique_ptr<MetricsTransform> transform = NewMetricsTransform(options, clock, registry);

  testing::StreamOptions streams;
  streams.seed = static_cast<uint64_t>(GetParam());
  streams.gateway_start_unix_nano = static_cast<uint64_t>(absl::ToUnixNanos(clock.Now()));
  streams.nan_p = 0.05;
  streams.no_recorded_value_p = 0.03;
  const std::vector<ExportMetricsServiceRequest> requests = testing::GenerateStreams(streams);

  std::vector<std::string> actual;
  int64_t points_in = 0;
  int64_t points_out = 0;
  for (const ExportMetricsServiceRequest& r : requests) {
    MetricsTransformResult result = transform->Transform(r.SerializeAsString());
    ASSERT_EQ(result.outcome, MetricsTransformOutcome::kOk);
    EXPECT_EQ(result.rejected, 0);
    ExportMetricsServiceRequest out;
    ASSERT_TRUE(out.ParseFromString(result.body));
    ExpectDeltaIntervals(out);
    std::vector<std::string> points = testing::CanonicalPoints(out);
    EXPECT_EQ(result.points, static_cast<int64_t>(points.size()));
    points_in += result.input_points;
    points_out += result.points;
    actual.insert(actual.end(), points.begin(), points.end());
    clock.Advance(absl::Seconds(1));
  }
  const std::vector<std::string> expected = testing::ExpectedDeltaPoints(requests, streams.gateway_start_unix_nano);
  EXPECT_EQ(Sorted(expected), Sorted(actual));
  // The run exercised conversion and dropping, not just pass-through.
  EXPECT_GT(registry.CounterValue("gateway_metrics_points_converted_total"), 100);
  EXPECT_GT(points_in, points_out);
}

INSTANTIATE_TEST_SUITE_P(Seeds, MetricsPropertyTest, ::testing::Range(1, kSeeds + 1));

TEST(MetricsPropertyCoverageTest, StreamsHaveEveryKindOfEvent) {
  // Over all seeds together, each drop reason the generator is meant to
  // provoke does occur.
  testing::FakeClock clock;
  MetricsRegistry registry;
  MetricsOptions options;
  options.cumulative_to_delta = true;
  std::unique_ptr<MetricsTransform> transform = NewMetricsTransform(options, clock, registry);
  for (int seed = 1; seed <= kSeeds; ++seed) {
    testing::StreamOptions streams;
    streams.seed = static_cast<uint64_t>(seed) * 1000;
    streams.gateway_start_unix_nano = static_cast<uint64_t>(absl::ToUnixNanos(clock.Now()));
    streams.no_recorded_value_p = 0.03;
    for (const auto& r : testing::GenerateStreams(streams)) transform->Transform(r.SerializeAsString());
  }
  for (const char* reason : {"initial", "reset", "out_of_order", "bucket_mismatch", "no_recorded_value"}) {
    EXPECT_GT(registry.CounterValue("gateway_metrics_points_dropped_total", {{"reason", reason}}), 0) << reason;
  }
}

}  // namespace
}  // namespace gateway
