#include "tests/fakes/dynatrace_metrics_contract.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gateway::testing {
namespace {

namespace otlp = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

otlp::Metric* AddMetric(ExportMetricsServiceRequest& r, const std::string& name) {
  if (r.resource_metrics_size() == 0) r.add_resource_metrics()->add_scope_metrics();
  otlp::Metric* m = r.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics();
  m->set_name(name);
  return m;
}

TEST(DynatraceMetricsContractTest, RefusesWhatDynatraceRefuses) {
  ExportMetricsServiceRequest r;
  otlp::Sum* counter = AddMetric(r, "counter")->mutable_sum();
  counter->set_is_monotonic(true);
  counter->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
  counter->add_data_points()->set_as_int(1);
  counter->add_data_points()->set_as_int(2);
  otlp::Histogram* histogram = AddMetric(r, "histogram")->mutable_histogram();
  histogram->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
  histogram->add_data_points()->set_count(1);
  auto* exp = AddMetric(r, "exp")->mutable_exponential_histogram();
  exp->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
  exp->add_data_points()->set_count(1);
  AddMetric(r, "summary")->mutable_summary()->add_data_points()->set_count(1);
  auto* wide = AddMetric(r, "wide")->mutable_gauge()->add_data_points();
  for (int i = 0; i <= kDynatraceDimensionLimit; ++i) {
    auto* kv = wide->add_attributes();
    kv->set_key(absl::StrCat("k", i));
    kv->mutable_value()->set_string_value("v");
  }
  const MetricsVerdict v = CheckDynatraceMetrics(r);
  EXPECT_EQ(v.points, 6);
  EXPECT_EQ(v.rejected, 6);
  for (const char* reason : {"UNSUPPORTED_METRIC_TYPE_MONOTONIC_CUMULATIVE_SUM",
                             "UNSUPPORTED_METRIC_TYPE_CUMULATIVE_HISTOGRAM", "UNSUPPORTED_METRIC_TYPE_SUMMARY",
                             "DIMENSION_COUNT_EXCEEDED"}) {
    EXPECT_NE(v.message.find(reason), std::string::npos) << reason << " in " << v.message;
  }
}

TEST(DynatraceMetricsContractTest, AcceptsDeltaNonMonotonicCumulativeAndGauges) {
  ExportMetricsServiceRequest r;
  otlp::Sum* delta = AddMetric(r, "delta")->mutable_sum();
  delta->set_is_monotonic(true);
  delta->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_DELTA);
  delta->add_data_points()->set_as_int(1);
  otlp::Sum* updown = AddMetric(r, "updown")->mutable_sum();
  updown->set_is_monotonic(false);
  updown->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
  updown->add_data_points()->set_as_int(-3);
  auto* h = AddMetric(r, "histogram")->mutable_histogram();
  h->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_DELTA);
  h->add_data_points()->set_count(4);
  AddMetric(r, "gauge")->mutable_gauge()->add_data_points()->set_as_double(1.5);
  const MetricsVerdict v = CheckDynatraceMetrics(r);
  EXPECT_EQ(v.points, 4);
  EXPECT_EQ(v.rejected, 0);
  EXPECT_EQ(v.message, "");
}

}  // namespace
}  // namespace gateway::testing
