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

// What ValidateExportRequest found besides the verdict, when asked.
struct ValidationNotes {
  // Some `string` field of the schema (attribute keys and string values at
  // any depth, names, trace states, status messages, schema URLs, ...) is
  // not valid UTF-8. Not an error for ValidateExportRequest: the caller
  // decides which items to refuse (the trace scanner per span).
  bool invalid_utf8 = false;
};

// Checks that `body` is a well-formed request of that signal: every known
// message field down to the items is well-formed wire format with the right
// wire types; unknown fields are allowed. InvalidArgument with a message
// naming the problem otherwise. With `notes`, the string fields are also
// checked for valid UTF-8 (a few percent more time) and the finding noted.
absl::Status ValidateExportRequest(Signal signal, std::string_view body, ValidationNotes* notes = nullptr);

namespace otlp_wire_internal {
// ValidateExportRequest without its fast paths for scopes of spans, spans
// and plain attributes (otlp_validate_fast_path.h; every message checked
// through the schema tables); the same answer, slower. For tests and the
// trace_wire fuzz target that compare the two.
absl::Status ValidateWithoutFastPath(Signal signal, std::string_view body, ValidationNotes* notes = nullptr);
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
