// What the gRPC and HTTP receivers share: the Export*ServiceResponse wire
// form, their counters and a rate-limited log of rejected requests.
//
//   ReceiverMetrics metrics(registry, "grpc");
//   metrics.For(Signal::kTraces).requests->Add();
//   std::string reply = ExportResponseProto(/*rejected_items=*/0, "");  // ""
//   RejectLog log;
//   log.Rejected("grpc", Signal::kTraces, "invalid", status_message);
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/signal.h"

namespace gateway {

// An Export{Trace,Metrics,Logs}ServiceResponse in protobuf wire form. The
// three share one shape: field 1 partial_success { int64 rejected_* = 1;
// string error_message = 2; }. Empty (a valid empty message) when
// rejected_items is 0 and message is empty.
std::string ExportResponseProto(int64_t rejected_items, std::string_view message);

// A google.rpc.Status in protobuf wire form: the OTLP/HTTP protobuf error
// body, and gRPC's binary error details. With `retry_after` > 0 it carries a
// google.rpc.RetryInfo detail, which OTLP clients honour as the delay before
// their next attempt.
std::string StatusProto(int code, std::string_view message, absl::Duration retry_after);

// The same Status in the proto3 JSON mapping, for OTLP/HTTP JSON clients:
// {"code":14,"message":"...","details":[{"@type":
// "type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}.
std::string StatusJson(int code, std::string_view message, absl::Duration retry_after);

// Whether an Authorization header value is "Bearer <token>" (scheme
// case-insensitive) with exactly `token`, compared in constant time. Both
// receivers call it; `token` must not be empty.
bool BearerTokenMatches(std::string_view authorization, std::string_view token);

// Why a receiver turned a request away; the `reason` label.
enum class RejectReason : uint8_t {
  kInvalid = 0,         // body does not parse / wrong path or method
  kOverloaded = 1,      // Ingest said kOverloaded
  kUnauthenticated = 2, // missing or wrong bearer token
  kShuttingDown = 3,    // Ingest said kShuttingDown
  kTooLarge = 4,        // body or decompressed body over the limit
  kUnsupported = 5,     // content type or encoding not supported
  kExportLoop = 6,      // the gateway's own export came back to it
};
inline constexpr int kRejectReasonCount = 7;

// "invalid", "overloaded", "unauthenticated", "shutting_down", "too_large",
// "unsupported", "export_loop".
std::string_view RejectReasonName(RejectReason reason);

// Counters of one transport, registered at construction:
//   gateway_requests_received_total{transport,signal}
//   gateway_bytes_received_total{transport,signal}  (protobuf bytes handed to Ingest)
//   gateway_requests_rejected_total{transport,signal,reason}
class ReceiverMetrics final {
 public:
  struct SignalCounters {
    Counter* requests = nullptr;
    Counter* bytes = nullptr;
    std::array<Counter*, kRejectReasonCount> rejected{};
  };

  ReceiverMetrics(MetricsRegistry& registry, std::string_view transport);

  SignalCounters& For(Signal signal) { return counters_[static_cast<int>(signal)]; }
  void Rejected(Signal signal, RejectReason reason) {
    For(signal).rejected[static_cast<int>(reason)]->Add();
  }

 private:
  std::array<SignalCounters, kSignalCount> counters_;
};

// Counters of the requests of one transport that waited for budget room
// (queue.admission_wait), registered at construction:
//   gateway_admission_waits_total{transport,outcome}: admitted (room came),
//     timed_out (the wait ended without room), no_wait (no room and no
//     place to wait), shutdown (the gateway stopped the wait)
//   gateway_admission_wait_microseconds_total{transport}
struct AdmissionWaitCounters {
  AdmissionWaitCounters(MetricsRegistry& registry, std::string_view transport);

  Counter* admitted;
  Counter* timed_out;
  Counter* no_wait;
  Counter* shutdown;
  Counter* waited_us;  // summed over the requests that waited
};

// Logs a rejected request as one warn line, at most `per_second` lines a
// second across all threads; the lines that were skipped are counted in the
// next one's "suppressed" field. Thread-safe.
class RejectLog final {
 public:
  explicit RejectLog(int per_second = 10) : limiter_(per_second) {}

  void Rejected(std::string_view transport, Signal signal, RejectReason reason,
                std::string_view detail);

 private:
  LogRateLimiter limiter_;
};

}  // namespace gateway
