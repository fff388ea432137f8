#include "gateway/config/config_values.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {

absl::Status ParseConfigDuration(std::string_view text, std::string_view key, absl::Duration* out) {
  absl::Duration d;
  if (!absl::ParseDuration(ToAbsl(text), &d) || d == absl::InfiniteDuration() || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": invalid duration \"", ToAbsl(text),
                                                   "\" (use a number with a unit, e.g. 200ms, 10s, 5m, 1h)"));
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status ParseSpanKind(std::string_view text, std::string_view key, SpanKind* kind) {
  std::string lower = absl::AsciiStrToLower(ToAbsl(text));
  absl::string_view name = lower;
  absl::ConsumePrefix(&name, "span_kind_");
  static constexpr std::pair<std::string_view, SpanKind> kKinds[] = {
      {"internal", SpanKind::kInternal}, {"server", SpanKind::kServer},
      {"client", SpanKind::kClient},     {"producer", SpanKind::kProducer},
      {"consumer", SpanKind::kConsumer},
  };
  for (const auto& [n, k] : kKinds) {
    if (ToStd(name) == n) {
      *kind = k;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      ToAbsl(key), ": unknown span kind \"", ToAbsl(text), "\" (internal, server, client, producer, consumer)"));
}

std::string_view SpanKindName(SpanKind kind) {
  switch (kind) {
    case SpanKind::kInternal:
      return "internal";
    case SpanKind::kServer:
      return "server";
    case SpanKind::kClient:
      return "client";
    case SpanKind::kProducer:
      return "producer";
    case SpanKind::kConsumer:
      return "consumer";
    case SpanKind::kUnspecified:
      break;
  }
  return "unspecified";
}

absl::Status ParseExporterType(std::string_view text, std::string_view key, ExporterType* type) {
  for (ExporterType t : {ExporterType::kAuto, ExporterType::kDynatrace, ExporterType::kOtlpHttp,
                         ExporterType::kDebug}) {
    if (text == ExporterTypeName(t)) {
      *type = t;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be dynatrace, otlphttp, debug or auto, got \"",
                                                 ToAbsl(text), "\""));
}

absl::Status ParseLogLevelValue(std::string_view text, std::string_view key, LogLevel* level) {
  if (!ParseLogLevel(text, level)) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be debug, info, warn or error, got \"",
                                                   ToAbsl(text), "\""));
  }
  return absl::OkStatus();
}

}  // namespace gateway
