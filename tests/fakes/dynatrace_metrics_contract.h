// What the Dynatrace OTLP metrics API refuses, for the fake Dynatrace: the
// documented per-point rejections ("About OTLP metrics ingest",
// "OpenTelemetry metrics limitations"), answered as a partial success.
//
//   MetricsVerdict v = CheckDynatraceMetrics(request);
//   // v.points data points, v.rejected of them refused, v.message says why:
//   // "Unsupported metric: 'http.requests' - Reason: UNSUPPORTED_METRIC_TYPE_MONOTONIC_CUMULATIVE_SUM"
//
// Refused: monotonic cumulative sums, cumulative histograms and exponential
// histograms, summaries, and points with more than 50 attributes (Dynatrace
// counts allow-listed resource and scope attributes too; the fake counts the
// point's own). Accepted: delta sums and histograms, non-monotonic
// cumulative sums (read as gauges), gauges.
#pragma once

#include <cstdint>
#include <string>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

namespace gateway::testing {

struct MetricsVerdict {
  int64_t points = 0;
  int64_t rejected = 0;
  // One line per refused metric, after Dynatrace's heading; empty if none.
  std::string message;
};

inline constexpr int kDynatraceDimensionLimit = 50;

MetricsVerdict CheckDynatraceMetrics(
    const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& request);

}  // namespace gateway::testing
