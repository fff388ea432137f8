// Reads the partial_success of an OTLP Export{Traces,Metrics,Logs}ServiceResponse:
// how many items a target that answered 2xx still refused, and why.
//
//   std::optional<PartialSuccess> p = ParsePartialSuccess(Signal::kTraces, response_body);
//   if (p && p->rejected_items > 0) LogWarn(...);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pipeline/base/signal.h"

namespace gateway {

struct PartialSuccess {
  // rejected_spans, rejected_data_points or rejected_log_records.
  int64_t rejected_items = 0;
  std::string error_message;
};

// The partial_success of the response to a `signal` export; std::nullopt
// when `body` is not a serialized response message. An empty body parses
// (to zero rejected, no message).
std::optional<PartialSuccess> ParsePartialSuccess(Signal signal, std::string_view body);

}  // namespace gateway
