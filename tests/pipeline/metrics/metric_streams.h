// Random cumulative metric streams for the property and differential tests:
// many series (int and double monotonic sums, histograms, exponential
// histograms, plus gauges, non-monotonic and delta sums that must pass
// unchanged) from processes that restart (new start time), reset without a
// new start time, change histogram layouts and exponential scales, and whose
// points arrive interleaved across requests, some out of order or twice.
//
//   StreamOptions options;
//   options.seed = 7;
//   options.gateway_start_unix_nano = ...;   // half the series start before it
//   for (const std::string& body : GenerateStreams(options)) transform.Transform(body);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

namespace gateway::testing {

struct StreamOptions {
  uint64_t seed = 1;
  int series = 40;
  int steps = 20;
  // Series start before or after this, half and half, at least
  // start_gap_nano away from it.
  uint64_t gateway_start_unix_nano = 0;
  uint64_t start_gap_nano = 0;
  // Per step: the process restarts (new start time, values from zero).
  double restart_p = 0.05;
  // Per step: values go back down under the same start time.
  double same_start_reset_p = 0.03;
  // Whether histograms and exponential histograms get same-start resets too.
  bool histogram_same_start_resets = true;
  // Per step: a histogram's bucket layout changes / an exponential
  // histogram's scale goes down / its zero threshold goes up.
  double layout_change_p = 0.03;
  double zero_threshold_p = 0.0;
  // Per point: swapped with the series' next point in arrival order / sent
  // again a little later.
  double out_of_order_p = 0.05;
  double duplicate_p = 0.03;
  // Per double-sum point: NaN instead of the value; per point: flagged
  // "no recorded value".
  double nan_p = 0.0;
  double no_recorded_value_p = 0.0;
  int max_points_per_request = 8;
};

// The requests, in arrival order.
std::vector<opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest> GenerateStreams(
    const StreamOptions& options);

}  // namespace gateway::testing
