// An offline statement of the gateway's cumulative -> delta rules
// (docs/metrics.md), written independently of pipeline/metrics: series are
// keyed by readable strings in a std::map and values are subtracted in the
// plainest way. The property test checks the transform against it; both
// tests compare outputs as multisets of canonical point strings.
//
//   std::vector<std::string> expected = ExpectedDeltaPoints(requests, gateway_start);
//   std::vector<std::string> actual;
//   for (auto& r : requests) Append(CanonicalPoints(Transformed(r)), &actual);
//   EXPECT_EQ(Sorted(expected), Sorted(actual));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

namespace gateway::testing {

struct CanonicalOptions {
  // Exponential histogram buckets as offset + counts (as the Collector lays
  // them out) rather than as the set of non-zero buckets.
  bool exact_exp_layout = false;
};

// One string per data point in `request`: resource, scope, metric (name,
// unit, type, temporality, monotonicity), attributes (sorted), times, flags
// and value. NaN doubles print as "nan".
std::vector<std::string> CanonicalPoints(
    const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& request,
    const CanonicalOptions& options = {});

// The points the gateway must send for `requests` arriving in this order,
// with InitialValue auto and the gateway started at `gateway_start`, in
// CanonicalPoints form (non-exact exponential layout). Exponential
// histograms must keep a zero threshold of 0.
std::vector<std::string> ExpectedDeltaPoints(
    const std::vector<opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest>& requests,
    uint64_t gateway_start_unix_nano);

}  // namespace gateway::testing
