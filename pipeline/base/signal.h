// The three OTLP signals and their names on the wire and in URLs.
//
//   Signal s = Signal::kTraces;
//   SignalName(s);  // "traces", as in POST /v1/traces
#pragma once

#include <cstdint>
#include <string_view>

namespace gateway {

enum class Signal : uint8_t { kTraces = 0, kMetrics = 1, kLogs = 2 };

inline constexpr int kSignalCount = 3;

// "traces", "metrics" or "logs".
constexpr std::string_view SignalName(Signal signal) {
  switch (signal) {
    case Signal::kTraces:
      return "traces";
    case Signal::kMetrics:
      return "metrics";
    case Signal::kLogs:
      return "logs";
  }
  return "unknown";
}

}  // namespace gateway
