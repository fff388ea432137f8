#include "gateway/receivers/receiver_common.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/logging.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

constexpr std::string_view kRetryInfoType = "type.googleapis.com/google.rpc.RetryInfo";

}  // namespace

std::string StatusProto(int code, std::string_view message, absl::Duration retry_after) {
  google::rpc::Status status;
  status.set_code(code);
  status.set_message(std::string(message));
  if (retry_after > absl::ZeroDuration()) {
    google::rpc::RetryInfo retry;
    const int64_t nanos = absl::ToInt64Nanoseconds(retry_after);
    retry.mutable_retry_delay()->set_seconds(nanos / 1'000'000'000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
    google::protobuf::Any* detail = status.add_details();
    detail->set_type_url(std::string(kRetryInfoType));
    detail->set_value(retry.SerializeAsString());
  }
  return status.SerializeAsString();
}

std::string StatusJson(int code, std::string_view message, absl::Duration retry_after) {
  std::string out = absl::StrCat("{\"code\":", code, ",\"message\":\"", JsonEscape(message), "\"");
  if (retry_after > absl::ZeroDuration()) {
    // Duration's JSON form: seconds with up to nine fractional digits and "s".
    const int64_t millis = absl::ToInt64Milliseconds(retry_after);
    std::string delay = millis % 1000 == 0
                            ? absl::StrCat(millis / 1000, "s")
                            : absl::StrCat(millis / 1000, ".", absl::StrFormat("%03d", millis % 1000), "s");
    absl::StrAppend(&out, ",\"details\":[{\"@type\":\"", ToAbsl(kRetryInfoType), "\",\"retryDelay\":\"", delay, "\"}]");
  }
  out.push_back('}');
  return out;
}

std::string ExportResponseProto(int64_t rejected_items, std::string_view message) {
  if (rejected_items == 0 && message.empty()) return {};
  std::string inner;
  if (rejected_items != 0) {
    AppendTag(&inner, 1, WireType::kVarint);  // rejected_*
    AppendVarint(&inner, static_cast<uint64_t>(rejected_items));
  }
  if (!message.empty()) AppendLengthDelimited(&inner, 2, message);  // error_message
  std::string out;
  out.reserve(inner.size() + 6);
  AppendLengthDelimited(&out, 1, inner);  // partial_success
  return out;
}

bool BearerTokenMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(ToAbsl(authorization.substr(0, kScheme.size())), ToAbsl(kScheme))) {
    return false;
  }
  // Constant-time comparison, so the token cannot be guessed byte by byte.
  const std::string_view presented = authorization.substr(kScheme.size());
  if (presented.size() != token.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(presented[i] ^ token[i]);
  return diff == 0;
}

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kInvalid:
      return "invalid";
    case RejectReason::kOverloaded:
      return "overloaded";
    case RejectReason::kUnauthenticated:
      return "unauthenticated";
    case RejectReason::kShuttingDown:
      return "shutting_down";
    case RejectReason::kTooLarge:
      return "too_large";
    case RejectReason::kUnsupported:
      return "unsupported";
    case RejectReason::kExportLoop:
      return "export_loop";
  }
  return "unknown";
}

ReceiverMetrics::ReceiverMetrics(MetricsRegistry& registry, std::string_view transport) {
  const std::string t(transport);
  for (int s = 0; s < kSignalCount; ++s) {
    const std::string signal(SignalName(static_cast<Signal>(s)));
    SignalCounters& c = counters_[s];
    c.requests = registry.GetCounter("gateway_requests_received_total",
                                     "Export requests received, by transport and signal",
                                     {{"transport", t}, {"signal", signal}});
    c.bytes = registry.GetCounter("gateway_bytes_received_total",
                                  "Uncompressed protobuf bytes of requests handed to the pipeline",
                                  {{"transport", t}, {"signal", signal}});
    for (int r = 0; r < kRejectReasonCount; ++r) {
      c.rejected[r] = registry.GetCounter(
          "gateway_requests_rejected_total", "Export requests turned away, by reason",
          {{"transport", t}, {"signal", signal}, {"reason", std::string(RejectReasonName(static_cast<RejectReason>(r)))}});
    }
  }
}

namespace {

Counter* AdmissionWaits(MetricsRegistry& registry, const std::string& transport, const char* outcome) {
  return registry.GetCounter("gateway_admission_waits_total",
                             "Requests refused for lack of room that waited for it, by transport and how it ended",
                             {{"transport", transport}, {"outcome", outcome}});
}

}  // namespace

AdmissionWaitCounters::AdmissionWaitCounters(MetricsRegistry& registry, std::string_view transport)
    : admitted(AdmissionWaits(registry, std::string(transport), "admitted")),
      timed_out(AdmissionWaits(registry, std::string(transport), "timed_out")),
      no_wait(AdmissionWaits(registry, std::string(transport), "no_wait")),
      shutdown(AdmissionWaits(registry, std::string(transport), "shutdown")),
      waited_us(registry.GetCounter("gateway_admission_wait_microseconds_total",
                                    "Time requests waited for room, summed, by transport",
                                    {{"transport", std::string(transport)}})) {}

void RejectLog::Rejected(std::string_view transport, Signal signal, RejectReason reason,
                         std::string_view detail) {
  int64_t suppressed = 0;
  if (!limiter_.Allow(&suppressed)) return;
  LogWarn("request_rejected", {{"transport", std::string(transport)},
                               {"signal", std::string(SignalName(signal))},
                               {"reason", std::string(RejectReasonName(reason))},
                               {"detail", std::string(detail.substr(0, 256))},
                               {"suppressed", std::to_string(suppressed)}});
}

}  // namespace gateway
