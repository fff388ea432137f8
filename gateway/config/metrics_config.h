// The `metrics:` section of the configuration (what the gateway does to
// metrics before export) and how its `auto` values resolve for the exporter
// in use. docs/configuration.md lists the keys; docs/metrics.md the rules.
//
//   MetricsConfig c;                              // all auto
//   MetricsOptions o = ResolveMetricsOptions(c, /*dynatrace=*/true);
//   // o.cumulative_to_delta, o.drop_summaries: true; o.max_dimensions: 50
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "pipeline/metrics/metrics_options.h"

namespace gateway {

// true, false, or `auto`: true when exporting to Dynatrace.
enum class AutoBool : uint8_t { kAuto = 0, kTrue = 1, kFalse = 2 };

struct MetricsConfig {
  AutoBool cumulative_to_delta = AutoBool::kAuto;
  metrics::InitialValue initial_value = metrics::InitialValue::kAuto;
  int64_t max_series = 250'000;
  int64_t max_series_mib = 64;
  absl::Duration series_ttl = absl::Hours(1);
  AutoBool drop_summaries = AutoBool::kAuto;
  // -1: auto (Dynatrace's 50 when exporting to Dynatrace, else none);
  // 0: no limit.
  int max_dimensions = -1;
};

// The options in effect; `dynatrace`: the exporter is Dynatrace's.
// `process_limit_bytes` > 0 caps the series table at a sixteenth of it.
MetricsOptions ResolveMetricsOptions(const MetricsConfig& config, bool dynatrace, int64_t process_limit_bytes = 0);

// Parsers and names for config.cc; errors name `key`.
absl::Status ParseAutoBool(std::string_view text, std::string_view key, AutoBool* out);
absl::Status ParseInitialValue(std::string_view text, std::string_view key, metrics::InitialValue* out);
// "auto" or a whole number >= 0.
absl::Status ParseMaxDimensions(std::string_view text, std::string_view key, int* out);
std::string_view AutoBoolName(AutoBool v);

// The section as YAML (two-space indented under "metrics:"), with what
// `auto` resolved to as comments.
std::string RenderMetricsConfig(const MetricsConfig& config, bool dynatrace);

}  // namespace gateway
