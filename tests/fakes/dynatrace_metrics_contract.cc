#include "tests/fakes/dynatrace_metrics_contract.h"

#include "absl/strings/str_cat.h"

namespace gateway::testing {
namespace {

namespace otlp = opentelemetry::proto::metrics::v1;

template <typename Points>
int64_t OverDimensionLimit(const Points& points) {
  int64_t n = 0;
  for (const auto& p : points) n += p.attributes_size() > kDynatraceDimensionLimit ? 1 : 0;
  return n;
}

}  // namespace

MetricsVerdict CheckDynatraceMetrics(
    const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& request) {
  MetricsVerdict v;
  auto refuse = [&v](const otlp::Metric& m, int64_t points, const char* reason) {
    if (points == 0) return;
    v.rejected += points;
    absl::StrAppend(&v.message, v.message.empty() ? "The following issues were encountered while ingesting OTLP metrics:\nErrors:" : "",
                    "\nUnsupported metric: '", m.name(), "' - Reason: ", reason);
  };
  constexpr auto kCumulative = otlp::AGGREGATION_TEMPORALITY_CUMULATIVE;
  for (const auto& rm : request.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const otlp::Metric& m : sm.metrics()) {
        switch (m.data_case()) {
          case otlp::Metric::kSum:
            v.points += m.sum().data_points_size();
            if (m.sum().is_monotonic() && m.sum().aggregation_temporality() == kCumulative) {
              refuse(m, m.sum().data_points_size(), "UNSUPPORTED_METRIC_TYPE_MONOTONIC_CUMULATIVE_SUM");
            } else {
              refuse(m, OverDimensionLimit(m.sum().data_points()), "DIMENSION_COUNT_EXCEEDED");
            }
            break;
          case otlp::Metric::kGauge:
            v.points += m.gauge().data_points_size();
            refuse(m, OverDimensionLimit(m.gauge().data_points()), "DIMENSION_COUNT_EXCEEDED");
            break;
          case otlp::Metric::kHistogram:
            v.points += m.histogram().data_points_size();
            if (m.histogram().aggregation_temporality() == kCumulative) {
              refuse(m, m.histogram().data_points_size(), "UNSUPPORTED_METRIC_TYPE_CUMULATIVE_HISTOGRAM");
            } else {
              refuse(m, OverDimensionLimit(m.histogram().data_points()), "DIMENSION_COUNT_EXCEEDED");
            }
            break;
          case otlp::Metric::kExponentialHistogram:
            v.points += m.exponential_histogram().data_points_size();
            if (m.exponential_histogram().aggregation_temporality() == kCumulative) {
              // The reason name is the fake's own: Dynatrace's docs list
              // cumulative exponential histograms as unsupported without
              // quoting a reason string.
              refuse(m, m.exponential_histogram().data_points_size(),
                     "UNSUPPORTED_METRIC_TYPE_CUMULATIVE_EXPONENTIAL_HISTOGRAM");
            } else {
              refuse(m, OverDimensionLimit(m.exponential_histogram().data_points()), "DIMENSION_COUNT_EXCEEDED");
            }
            break;
          case otlp::Metric::kSummary:
            v.points += m.summary().data_points_size();
            refuse(m, m.summary().data_points_size(), "UNSUPPORTED_METRIC_TYPE_SUMMARY");
            break;
          case otlp::Metric::DATA_NOT_SET:
            break;
        }
      }
    }
  }
  return v;
}

}  // namespace gateway::testing
