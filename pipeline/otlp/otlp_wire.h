// Signal-agnostic checks and transforms on serialized Export*ServiceRequests,
// for metrics and logs (passed through as bytes) and for the exporter.
//
//   if (absl::Status s = ValidateExportRequest(Signal::kLogs, body); !s.ok()) ...
//   int64_t points = CountItems(Signal::kMetrics, body);
//   for (std::string& part : SplitExportRequest(Signal::kLogs, body, 2'000'000, 0)) ...
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "pipeline/base/signal.h"

namespace gateway {

// Checks that `body` is a well-formed request of that signal: every known
// message field down to the items is well-formed wire format with the right
// wire types; unknown fields are allowed. InvalidArgument with a message
// naming the problem otherwise.
absl::Status ValidateExportRequest(Signal signal, std::string_view body);

namespace otlp_wire_internal {
// ValidateExportRequest without its inline path for plain attributes (every
// message checked through the schema tables); the same answer, slower. For
// tests that compare the two.
absl::Status ValidateWithoutFastPath(Signal signal, std::string_view body);
}  // namespace otlp_wire_internal

// Spans, metric data points (of every metric type) or log records in a
// well-formed request.
int64_t CountItems(Signal signal, std::string_view body);

// Splits a well-formed request into requests of at most `max_bytes` bytes and
// (when max_items > 0) at most `max_items` items each, keeping every item
// under its original resource and scope (and, for metrics, its metric with
// name, unit, type and temporality). An item larger than max_bytes on its own
// goes out alone. Returns {body} when it already fits.
std::vector<std::string> SplitExportRequest(Signal signal, std::string_view body, size_t max_bytes,
                                            int64_t max_items);

}  // namespace gateway
