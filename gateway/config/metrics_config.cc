#include "gateway/config/metrics_config.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {
namespace {

bool Resolve(AutoBool v, bool dynatrace) { return v == AutoBool::kAuto ? dynatrace : v == AutoBool::kTrue; }

}  // namespace

MetricsOptions ResolveMetricsOptions(const MetricsConfig& c, bool dynatrace, int64_t process_limit_bytes) {
  MetricsOptions o;
  o.cumulative_to_delta = Resolve(c.cumulative_to_delta, dynatrace);
  o.initial_value = c.initial_value;
  o.series.max_series = c.max_series;
  o.series.max_bytes = c.max_series_mib << 20;
  if (process_limit_bytes > 0) o.series.max_bytes = std::min(o.series.max_bytes, std::max<int64_t>(1 << 20, process_limit_bytes / 16));
  o.series.ttl = c.series_ttl;
  o.drop_summaries = Resolve(c.drop_summaries, dynatrace);
  o.max_dimensions = c.max_dimensions >= 0 ? c.max_dimensions : (dynatrace ? kDynatraceMaxDimensions : 0);
  return o;
}

absl::Status ParseAutoBool(std::string_view text, std::string_view key, AutoBool* out) {
  if (text == "auto") {
    *out = AutoBool::kAuto;
  } else if (text == "true") {
    *out = AutoBool::kTrue;
  } else if (text == "false") {
    *out = AutoBool::kFalse;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(key), ": must be auto, true or false, got \"", ToAbsl(text), "\""));
  }
  return absl::OkStatus();
}

absl::Status ParseInitialValue(std::string_view text, std::string_view key, metrics::InitialValue* out) {
  for (metrics::InitialValue v : {metrics::InitialValue::kAuto, metrics::InitialValue::kKeep,
                                  metrics::InitialValue::kDrop}) {
    if (text == metrics::InitialValueName(v)) {
      *out = v;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(key), ": must be auto, keep or drop, got \"", ToAbsl(text), "\""));
}

absl::Status ParseMaxDimensions(std::string_view text, std::string_view key, int* out) {
  if (text == "auto") {
    *out = -1;
    return absl::OkStatus();
  }
  int value = 0;
  if (!absl::SimpleAtoi(ToAbsl(text), &value) || value < 0 || value > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(key), ": must be auto or a whole number from 0 (no limit) to 100000, got \"", ToAbsl(text), "\""));
  }
  *out = value;
  return absl::OkStatus();
}

std::string_view AutoBoolName(AutoBool v) {
  switch (v) {
    case AutoBool::kAuto:
      return "auto";
    case AutoBool::kTrue:
      return "true";
    case AutoBool::kFalse:
      return "false";
  }
  return "auto";
}

std::string RenderMetricsConfig(const MetricsConfig& c, bool dynatrace) {
  const MetricsOptions o = ResolveMetricsOptions(c, dynatrace);
  auto in_effect = [](bool on) { return on ? "  # in effect: true" : "  # in effect: false"; };
  return absl::StrCat(
      "  cumulative_to_delta: ", ToAbsl(AutoBoolName(c.cumulative_to_delta)), in_effect(o.cumulative_to_delta),
      "\n  initial_value: ", ToAbsl(metrics::InitialValueName(c.initial_value)), "\n  max_series: ", c.max_series,
      "\n  max_series_mib: ", c.max_series_mib, "\n  series_ttl: \"", absl::FormatDuration(c.series_ttl),
      "\"\n  drop_summaries: ", ToAbsl(AutoBoolName(c.drop_summaries)), in_effect(o.drop_summaries),
      "\n  max_dimensions: ", c.max_dimensions < 0 ? std::string("auto") : absl::StrCat(c.max_dimensions),
      "  # in effect: ", o.max_dimensions, o.max_dimensions == 0 ? " (no limit)" : "", "\n");
}

}  // namespace gateway
