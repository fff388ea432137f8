// What the gateway does to metrics before export, resolved for the exporter
// in use (gateway/config/metrics_config.h turns the YAML's `auto` values into
// these). docs/metrics.md explains each rule.
//
//   MetricsOptions options;
//   options.cumulative_to_delta = true;       // Dynatrace ingests delta only
//   options.drop_summaries = true;            // Dynatrace drops summaries
//   options.max_dimensions = 50;              // Dynatrace drops points over it
#pragma once

#include <cstdint>

#include "pipeline/metrics/delta_point.h"
#include "pipeline/metrics/series_table.h"

namespace gateway {

struct MetricsOptions {
  // Monotonic cumulative sums, cumulative histograms and exponential
  // histograms become delta.
  bool cumulative_to_delta = false;
  metrics::InitialValue initial_value = metrics::InitialValue::kAuto;
  metrics::SeriesTableOptions series;
  // Summary metrics are removed (counted, and reported to the client as
  // rejected points).
  bool drop_summaries = false;
  // Data points with more attributes than this are removed (counted and
  // reported as rejected). 0: no limit.
  int max_dimensions = 0;

  // Whether the metrics path needs a transform at all.
  bool Active() const { return cumulative_to_delta || drop_summaries || max_dimensions > 0; }
};

// Dynatrace's documented limit on dimensions per metric data point.
inline constexpr int kDynatraceMaxDimensions = 50;

}  // namespace gateway
