// The configuration's scalar values in text form, parsed the same way
// whether they come from the YAML file or from a command-line flag: durations
// ("200ms", "10s", "5m"), span kinds, exporter types and log levels. Errors
// name `key` (a YAML path such as "reparent.hold_window", or a flag such as
// "--hold-window").
//
//   absl::Duration hold;
//   GATEWAY_RETURN_IF_ERROR(ParseConfigDuration("10s", "reparent.hold_window", &hold));
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/config/config_schema.h"
#include "pipeline/base/logging.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

// A non-negative, finite absl duration ("200ms", "10s", "1h30m").
absl::Status ParseConfigDuration(std::string_view text, std::string_view key, absl::Duration* out);

// "internal", "server", "client", "producer" or "consumer", in any case, with
// or without a "span_kind_" prefix.
absl::Status ParseSpanKind(std::string_view text, std::string_view key, SpanKind* kind);

// The name ParseSpanKind takes ("unspecified" for kUnspecified).
std::string_view SpanKindName(SpanKind kind);

// ExporterTypeName's names.
absl::Status ParseExporterType(std::string_view text, std::string_view key, ExporterType* type);

// LogLevelName's names.
absl::Status ParseLogLevelValue(std::string_view text, std::string_view key, LogLevel* level);

}  // namespace gateway
