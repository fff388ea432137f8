// The OTLP/HTTP receiver: POST /v1/traces, /v1/metrics and /v1/logs with
// protobuf or JSON bodies, optionally gzip- or deflate-compressed. The body
// is decompressed, JSON converted to protobuf, and handed to Ingest; the
// outcome becomes the HTTP answer in the request's own encoding.
//
//   OtlpHttpHandler otlp(OtlpHttpHandlerOptions{}, ingest, metrics);
//   HttpServerOptions server_options;
//   server_options.listen_address = "0.0.0.0:4318";
//   auto server = StartHttpServer(server_options, otlp);
//
// What the headers decide (path, method, content type, token, and whether
// the memory budget has room) is decided in OnHeaders, before the body is
// read. An export that arrives while the budget is full first waits for
// room, up to `admission_wait`, its body unread (RoomWait): room for what
// Content-Length announces, times the recent inflation ratio of compressed
// requests when the body is gzip or deflate (it is admitted decompressed).
// The body then holds budget for what it has in memory as it arrives
// (OnBodyProgress), not for what Content-Length announces; when it outgrows
// the room, reading pauses for what is left of `admission_wait`
// (BodyRoomWait) before the request is refused.
//
// Answers:
//   200  Export*ServiceResponse (partial_success when items were rejected)
//   400  body does not parse, or Ingest says kInvalid
//   401  bearer token required and missing or wrong
//   404  unknown path; 405 (Allow: POST) wrong method
//   413  decompressed body over max_decompressed_bytes
//   415  content type other than application/x-protobuf or application/json,
//        or an encoding other than gzip, deflate or identity
//   503  with Retry-After (seconds) when Ingest says kOverloaded or kShuttingDown,
//        or the budget has no room after the headers or as the body grows
//        (each after waiting up to admission_wait in all)
//   508  the request is this gateway's own export (its exporter points back at it)
// Error bodies are a google.rpc.Status, in protobuf or JSON like the request.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/receivers/http_handler.h"
#include "gateway/receivers/receiver_common.h"
#include "pipeline/ingest/ingest.h"
#include "pipeline/base/metrics_registry.h"

namespace gateway {

struct OtlpHttpHandlerOptions {
  // Largest body after decompression (and, for JSON, before conversion).
  size_t max_decompressed_bytes = size_t{4} << 20;
  // Origins browsers may send from ("https://app.example.com", or "*" for
  // any). Empty: no CORS headers, OPTIONS gets 405.
  std::vector<std::string> cors_allowed_origins;
  // When set, requests need `Authorization: Bearer <token>`.
  std::string bearer_token;
  // This gateway's ExportLoopGuard id: a request carrying it in
  // X-Otlp-Reparent-Gateway-Instance is its own export and is refused (508).
  std::string own_instance_id;
  // How long a request that arrives while the memory budget is full waits
  // for room, its body unread, before it is answered 503. Zero: at once.
  absl::Duration admission_wait = absl::ZeroDuration();
};

class OtlpHttpHandler final : public HttpHandler {
 public:
  // `ingest` and `metrics` must outlive the handler.
  OtlpHttpHandler(OtlpHttpHandlerOptions options, Ingest& ingest, MetricsRegistry& metrics);

  // Thread-safe; called from the server's I/O threads.
  std::optional<HttpResponse> OnHeaders(HttpRequest* request) override;
  std::optional<HttpResponse> OnBodyProgress(HttpRequest* request, size_t bytes_in_memory) override;
  HttpResponse Handle(HttpRequest request) override;
  // An export that finds the budget full waits up to `admission_wait`.
  absl::Duration RoomWait(const HttpRequest& request) override;
  bool HasRoom(const HttpRequest& request) override;
  // A body that outgrows the room as it arrives pauses for what is left of
  // `admission_wait`.
  absl::Duration BodyRoomWait(const HttpRequest& request, size_t bytes_in_memory, absl::Duration waited) override;
  bool HasRoomForBody(const HttpRequest& request, size_t bytes_in_memory) override;
  void RoomWaitEnded(bool room, absl::Duration waited) override;

 private:
  enum class Format : uint8_t { kProtobuf, kJson };

  // The answer when the headers alone refuse the request (unknown path,
  // wrong method, unsupported content type, bad token), else nullopt with
  // *signal and *format set. OPTIONS preflights pass.
  std::optional<HttpResponse> Screen(const HttpRequest& request, Signal* signal, Format* format);
  // What Screen decides, without counting or logging: kExport for a POST it
  // lets through.
  enum class Screening : uint8_t {
    kExport,
    kNoPath,
    kExportLoop,
    kPreflight,
    kWrongMethod,
    kUnsupportedType,
    kUnauthenticated
  };
  Screening Classify(const HttpRequest& request) const;
  // Takes request->body (moved into the pipeline when it needs no decoding).
  HttpResponse Export(Signal signal, Format format, HttpRequest* request);
  // The 503 with Retry-After for a full pipeline or a draining gateway.
  HttpResponse Unavailable(Signal signal, Format format, bool overloaded, absl::Duration retry_after);
  HttpResponse Preflight(const HttpRequest& request, const std::string& origin) const;
  HttpResponse Reject(Signal signal, RejectReason reason, int http_status, Format format,
                      std::string message);
  bool OriginAllowed(const std::string& origin) const;
  bool Authorized(const HttpRequest& request) const;
  // The bytes a request will need admitted: its announced body, inflated
  // by the recent ratio when compressed (RoomWait, HasRoom).
  int64_t ExpectedAdmittedBytes(const HttpRequest& request) const;
  // Folds one decompressed body's ratio into the recent one.
  void NoteInflation(size_t compressed, size_t inflated);

  const OtlpHttpHandlerOptions options_;
  Ingest& ingest_;
  ReceiverMetrics metrics_;
  RejectLog reject_log_;
  AdmissionWaitCounters waits_;  // RoomWait's
  // Recent decompressed/compressed size of compressed bodies, in sixteenths
  // (16: 1x), a moving average over about the last 8. Relaxed: an estimate,
  // updated by every I/O thread.
  std::atomic<int64_t> inflation_x16_{16};
};

}  // namespace gateway
