#include "pipeline/metrics/cumulative_to_delta.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "tests/fakes/fake_clock.h"

namespace gateway {
namespace {

namespace otlp = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::common::v1::KeyValue;

// Before and after the fake clock's start (the gateway's start).
constexpr uint64_t kBeforeGateway = 1'600'000'000'000'000'000ULL;
const uint64_t kAfterGateway = static_cast<uint64_t>(absl::ToUnixNanos(absl::FromUnixSeconds(1700000000))) + 1000;

void Attr(google::protobuf::RepeatedPtrField<KeyValue>* attrs, const std::string& key, const std::string& value) {
  KeyValue* kv = attrs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

class CumulativeToDeltaTest : public ::testing::Test {
 protected:
  CumulativeToDeltaTest() {
    options_.cumulative_to_delta = true;
    options_.drop_summaries = true;
    options_.max_dimensions = 50;
  }

  MetricsTransform& transform() {
    if (!transform_) transform_ = NewMetricsTransform(options_, clock_, registry_);
    return *transform_;
  }

  // A request with one resource (service.name=svc) and scope, and `metric`.
  static ExportMetricsServiceRequest Request(const otlp::Metric& metric, const std::string& service = "svc") {
    ExportMetricsServiceRequest r;
    auto* rm = r.add_resource_metrics();
    Attr(rm->mutable_resource()->mutable_attributes(), "service.name", service);
    auto* sm = rm->add_scope_metrics();
    sm->mutable_scope()->set_name("meter");
    *sm->add_metrics() = metric;
    return r;
  }

  static otlp::Metric Counter(uint64_t start, uint64_t time, int64_t value, bool monotonic = true,
                              otlp::AggregationTemporality t = otlp::AGGREGATION_TEMPORALITY_CUMULATIVE) {
    otlp::Metric m;
    m.set_name("requests");
    m.set_unit("1");
    m.mutable_sum()->set_is_monotonic(monotonic);
    m.mutable_sum()->set_aggregation_temporality(t);
    auto* p = m.mutable_sum()->add_data_points();
    p->set_start_time_unix_nano(start);
    p->set_time_unix_nano(time);
    p->set_as_int(value);
    Attr(p->mutable_attributes(), "route", "/a");
    return m;
  }

  MetricsTransformResult Run(const ExportMetricsServiceRequest& r) {
    return transform().Transform(r.SerializeAsString());
  }

  static ExportMetricsServiceRequest Parse(const MetricsTransformResult& result) {
    ExportMetricsServiceRequest r;
    EXPECT_TRUE(r.ParseFromString(result.body));
    return r;
  }

  testing::FakeClock clock_;
  MetricsRegistry registry_;
  MetricsOptions options_;
  std::unique_ptr<MetricsTransform> transform_;
};

TEST_F(CumulativeToDeltaTest, MonotonicCumulativeSumBecomesDelta) {
  MetricsTransformResult first = Run(Request(Counter(kBeforeGateway, kBeforeGateway + 10, 100)));
  EXPECT_EQ(first.input_points, 1);
  EXPECT_EQ(first.points, 0);
  EXPECT_EQ(first.rejected, 0);
  EXPECT_EQ(Parse(first).resource_metrics_size(), 0);

  MetricsTransformResult second = Run(Request(Counter(kBeforeGateway, kBeforeGateway + 20, 130)));
  ASSERT_EQ(second.points, 1);
  const ExportMetricsServiceRequest parsed = Parse(second);
  const otlp::Sum& sum = parsed.resource_metrics(0).scope_metrics(0).metrics(0).sum();
  EXPECT_EQ(sum.aggregation_temporality(), otlp::AGGREGATION_TEMPORALITY_DELTA);
  EXPECT_TRUE(sum.is_monotonic());
  EXPECT_EQ(sum.data_points(0).as_int(), 30);
  EXPECT_EQ(sum.data_points(0).start_time_unix_nano(), kBeforeGateway + 10);
  EXPECT_EQ(sum.data_points(0).time_unix_nano(), kBeforeGateway + 20);
  EXPECT_EQ(sum.data_points(0).attributes(0).key(), "route");
  EXPECT_EQ(registry_.CounterValue("gateway_metrics_points_converted_total"), 1);
  EXPECT_EQ(registry_.CounterValue("gateway_metrics_points_dropped_total", {{"reason", "initial"}}), 1);
}

TEST_F(CumulativeToDeltaTest, SeriesStartedAfterTheGatewayKeepsItsFirstPoint) {
  MetricsTransformResult r = Run(Request(Counter(kAfterGateway, kAfterGateway + 10, 7)));
  ASSERT_EQ(r.points, 1);
  const ExportMetricsServiceRequest parsed = Parse(r);
  const auto& p = parsed.resource_metrics(0).scope_metrics(0).metrics(0).sum().data_points(0);
  EXPECT_EQ(p.as_int(), 7);
  EXPECT_EQ(p.start_time_unix_nano(), kAfterGateway);
}

TEST_F(CumulativeToDeltaTest, RequestsNeedingNoChangePassByteForByte) {
  ExportMetricsServiceRequest r = Request(Counter(kBeforeGateway, kBeforeGateway + 10, 100, /*monotonic=*/false));
  *r.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics() =
      Counter(kBeforeGateway, kBeforeGateway + 10, 5, true, otlp::AGGREGATION_TEMPORALITY_DELTA);
  otlp::Metric gauge;
  gauge.set_name("temperature");
  gauge.mutable_gauge()->add_data_points()->set_as_double(21.5);
  *r.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics() = gauge;
  const std::string body = r.SerializeAsString();
  MetricsTransformResult out = transform().Transform(body);
  EXPECT_EQ(out.body, body);
  EXPECT_EQ(out.points, 3);
  EXPECT_EQ(out.rejected, 0);
}

TEST_F(CumulativeToDeltaTest, AttributeOrderDoesNotSplitASeries) {
  otlp::Metric a = Counter(kBeforeGateway, kBeforeGateway + 10, 10);
  Attr(a.mutable_sum()->mutable_data_points(0)->mutable_attributes(), "method", "GET");
  otlp::Metric b = Counter(kBeforeGateway, kBeforeGateway + 20, 15);
  auto* attrs = b.mutable_sum()->mutable_data_points(0)->mutable_attributes();
  attrs->Clear();
  Attr(attrs, "method", "GET");
  Attr(attrs, "route", "/a");
  Run(Request(a));
  MetricsTransformResult r = Run(Request(b));
  ASSERT_EQ(r.points, 1);
  EXPECT_EQ(Parse(r).resource_metrics(0).scope_metrics(0).metrics(0).sum().data_points(0).as_int(), 5);
}

TEST_F(CumulativeToDeltaTest, ResourcesAndStartTimesAreSeparateSeries) {
  Run(Request(Counter(kBeforeGateway, kBeforeGateway + 10, 10), "svc-a"));
  // Another service: its own first point.
  EXPECT_EQ(Run(Request(Counter(kBeforeGateway, kBeforeGateway + 20, 50), "svc-b")).points, 0);
  // svc-a restarted after the gateway: a new start time is a new series,
  // and its first point counts whole.
  MetricsTransformResult r = Run(Request(Counter(kAfterGateway, kAfterGateway + 5, 3), "svc-a"));
  ASSERT_EQ(r.points, 1);
  EXPECT_EQ(Parse(r).resource_metrics(0).scope_metrics(0).metrics(0).sum().data_points(0).as_int(), 3);
}

TEST_F(CumulativeToDeltaTest, HistogramBecomesDeltaWithoutMinAndMax) {
  auto histogram = [](uint64_t time, uint64_t count, double sum, std::vector<uint64_t> buckets) {
    otlp::Metric m;
    m.set_name("latency");
    auto* h = m.mutable_histogram();
    h->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
    auto* p = h->add_data_points();
    p->set_start_time_unix_nano(kBeforeGateway);
    p->set_time_unix_nano(time);
    p->set_count(count);
    p->set_sum(sum);
    p->set_min(0.5);
    p->set_max(9);
    p->add_explicit_bounds(1);
    p->add_explicit_bounds(5);
    for (uint64_t c : buckets) p->add_bucket_counts(c);
    return m;
  };
  Run(Request(histogram(kBeforeGateway + 10, 3, 6, {1, 1, 1})));
  MetricsTransformResult r = Run(Request(histogram(kBeforeGateway + 20, 5, 10, {1, 2, 2})));
  ASSERT_EQ(r.points, 1);
  const ExportMetricsServiceRequest parsed = Parse(r);
  const otlp::Histogram& h = parsed.resource_metrics(0).scope_metrics(0).metrics(0).histogram();
  EXPECT_EQ(h.aggregation_temporality(), otlp::AGGREGATION_TEMPORALITY_DELTA);
  const auto& p = h.data_points(0);
  EXPECT_EQ(p.count(), 2u);
  EXPECT_EQ(p.sum(), 4);
  EXPECT_EQ(p.bucket_counts_size(), 3);
  EXPECT_EQ(p.bucket_counts(0), 0u);
  EXPECT_EQ(p.bucket_counts(1), 1u);
  EXPECT_EQ(p.bucket_counts(2), 1u);
  EXPECT_EQ(p.explicit_bounds_size(), 2);
  EXPECT_FALSE(p.has_min());
  EXPECT_FALSE(p.has_max());
}

TEST_F(CumulativeToDeltaTest, SummariesAreDroppedAndReportedAsRejected) {
  otlp::Metric s;
  s.set_name("rpc.duration");
  for (int i = 0; i < 2; ++i) s.mutable_summary()->add_data_points()->set_count(3);
  ExportMetricsServiceRequest r = Request(s);
  *r.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics() =
      Counter(kBeforeGateway, kBeforeGateway + 1, 1, true, otlp::AGGREGATION_TEMPORALITY_DELTA);
  MetricsTransformResult out = Run(r);
  EXPECT_EQ(out.input_points, 3);
  EXPECT_EQ(out.points, 1);
  EXPECT_EQ(out.rejected, 2);
  EXPECT_NE(out.message.find("2 summary data points"), std::string::npos) << out.message;
  const auto parsed = Parse(out);
  ASSERT_EQ(parsed.resource_metrics(0).scope_metrics(0).metrics_size(), 1);
  EXPECT_EQ(parsed.resource_metrics(0).scope_metrics(0).metrics(0).name(), "requests");
  EXPECT_EQ(registry_.CounterValue("gateway_metrics_points_dropped_total", {{"reason", "summary"}}), 2);
}

TEST_F(CumulativeToDeltaTest, SummariesStayWhenNotDropped) {
  options_.drop_summaries = false;
  otlp::Metric s;
  s.set_name("rpc.duration");
  s.mutable_summary()->add_data_points()->set_count(3);
  const std::string body = Request(s).SerializeAsString();
  MetricsTransformResult out = transform().Transform(body);
  EXPECT_EQ(out.body, body);
  EXPECT_EQ(out.rejected, 0);
}

TEST_F(CumulativeToDeltaTest, PointsOverTheDimensionLimitAreDroppedAndReported) {
  options_.max_dimensions = 3;
  otlp::Metric g;
  g.set_name("temperature");
  auto* ok = g.mutable_gauge()->add_data_points();
  for (int i = 0; i < 3; ++i) Attr(ok->mutable_attributes(), absl::StrCat("k", i), "v");
  auto* over = g.mutable_gauge()->add_data_points();
  for (int i = 0; i < 4; ++i) Attr(over->mutable_attributes(), absl::StrCat("k", i), "v");
  MetricsTransformResult out = Run(Request(g));
  EXPECT_EQ(out.points, 1);
  EXPECT_EQ(out.rejected, 1);
  EXPECT_NE(out.message.find("more than 3 attributes"), std::string::npos) << out.message;
  EXPECT_EQ(Parse(out).resource_metrics(0).scope_metrics(0).metrics(0).gauge().data_points(0).attributes_size(), 3);
}

TEST_F(CumulativeToDeltaTest, AllPointsDroppedRemovesTheMetricScopeAndResource) {
  otlp::Metric g;
  g.set_name("wide");
  auto* p = g.mutable_gauge()->add_data_points();
  for (int i = 0; i < 51; ++i) Attr(p->mutable_attributes(), absl::StrCat("k", i), "v");
  MetricsTransformResult out = Run(Request(g));
  EXPECT_EQ(out.points, 0);
  EXPECT_EQ(Parse(out).resource_metrics_size(), 0);
}

TEST_F(CumulativeToDeltaTest, NoRecordedValuePointsAreDroppedAndNanPointsPassUnchanged) {
  otlp::Metric m = Counter(kBeforeGateway, kBeforeGateway + 10, 1);
  m.mutable_sum()->mutable_data_points(0)->set_flags(otlp::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK);
  auto* nan = m.mutable_sum()->add_data_points();
  nan->set_start_time_unix_nano(kBeforeGateway);
  nan->set_time_unix_nano(kBeforeGateway + 10);
  nan->set_as_double(std::nan(""));
  MetricsTransformResult out = Run(Request(m));
  ASSERT_EQ(out.points, 1);
  EXPECT_EQ(out.rejected, 0);
  const ExportMetricsServiceRequest parsed = Parse(out);
  const auto& p = parsed.resource_metrics(0).scope_metrics(0).metrics(0).sum().data_points(0);
  EXPECT_TRUE(std::isnan(p.as_double()));
  EXPECT_EQ(p.start_time_unix_nano(), kBeforeGateway);
  EXPECT_EQ(registry_.CounterValue("gateway_metrics_points_dropped_total", {{"reason", "no_recorded_value"}}), 1);
}

TEST_F(CumulativeToDeltaTest, ConversionOffLeavesCumulativeSumsAlone) {
  options_.cumulative_to_delta = false;
  const std::string body = Request(Counter(kBeforeGateway, kBeforeGateway + 10, 100)).SerializeAsString();
  MetricsTransformResult out = transform().Transform(body);
  EXPECT_EQ(out.body, body);
  EXPECT_EQ(out.points, 1);
}

TEST_F(CumulativeToDeltaTest, UnparsableRequestIsReportedAndLeftAlone) {
  ExportMetricsServiceRequest r = Request(Counter(kBeforeGateway, kBeforeGateway + 10, 100));
  r.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_metrics(0)->set_name("\xff\xfe");
  std::string body;
  // Serialized by hand: libprotobuf refuses to write invalid UTF-8 into a
  // proto3 string in debug builds, but the bytes are what a client may send.
  ASSERT_TRUE(r.SerializePartialToString(&body));
  MetricsTransformResult out = transform().Transform(body);
  EXPECT_EQ(out.outcome, MetricsTransformOutcome::kUnparsable);
  EXPECT_EQ(out.body, body);
}

}  // namespace
}  // namespace gateway
