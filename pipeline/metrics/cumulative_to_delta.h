// The MetricsTransform that makes metrics fit Dynatrace's contract:
// cumulative -> delta for monotonic sums, histograms and exponential
// histograms (SeriesTable, Collector cumulativetodelta semantics); summaries
// dropped; data points with more attributes than Dynatrace's dimension limit
// dropped. Which of these apply is MetricsOptions; docs/metrics.md has the
// rules.
//
//   std::unique_ptr<MetricsTransform> t = NewMetricsTransform(options, clock, registry);
//   MetricsTransformResult r = t->Transform(std::move(body));
//
// Works on libprotobuf messages (parsed on an arena); a request that needs
// no change is returned as it came, byte for byte.
#pragma once

#include <memory>

#include "pipeline/base/clock.h"
#include "pipeline/metrics/metrics_options.h"
#include "pipeline/metrics/metrics_transform.h"
#include "pipeline/base/metrics_registry.h"

namespace gateway {

// `clock` (time of updates for the series TTL; its Now() at construction is
// the gateway start of InitialValue::kAuto) and `registry` must outlive the
// transform. Counters: gateway_metrics_points_converted_total,
// gateway_metrics_points_dropped_total{reason}, and the SeriesTable's.
std::unique_ptr<MetricsTransform> NewMetricsTransform(const MetricsOptions& options, const Clock& clock,
                                                      MetricsRegistry& registry);

}  // namespace gateway
