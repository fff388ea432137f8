// OTLP/JSON at the edge: requests are converted to the protobuf wire form so
// that everything behind the receiver sees protobuf; responses are written
// back as OTLP/JSON.
//
// OTLP/JSON differs from proto3's canonical JSON mapping: trace and span ids
// are hex strings (not base64), enums are integers (names are accepted too),
// keys are lowerCamelCase (snake_case accepted), 64-bit integers may be
// strings or numbers, and unknown keys are ignored.
//
//   absl::StatusOr<std::string> wire = OtlpJsonToProto(Signal::kTraces, body);
//   if (!wire.ok()) return BadRequest(wire.status().message());
//   std::string reply = ExportResponseJson(Signal::kTraces, 0, "");  // "{}"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pipeline/base/signal.h"

namespace gateway {

// Converts an OTLP/JSON Export{Traces,Metrics,Logs}ServiceRequest to its
// protobuf wire form. InvalidArgument naming the JSON path of the problem
// when the body is not valid JSON, a value has the wrong type, an id is not
// hex of the right length, or nesting is deeper than 64 levels.
absl::StatusOr<std::string> OtlpJsonToProto(Signal signal, std::string_view json);

// An Export*ServiceResponse as OTLP/JSON: "{}" when rejected_items is 0 and
// message is empty, else {"partialSuccess":{"rejectedSpans":"N","errorMessage":"..."}}
// (rejectedDataPoints / rejectedLogRecords for metrics / logs).
std::string ExportResponseJson(Signal signal, int64_t rejected_items, std::string_view message);

}  // namespace gateway
