// The OTLP/gRPC receiver: TraceService, MetricsService and LogsService
// Export on gRPC's callback API, over raw ByteBuffers. Each request's bytes
// go to Ingest undecoded; the outcome becomes the gRPC status.
//
//   GrpcReceiverOptions options;
//   options.listen_address = "127.0.0.1:0";
//   absl::StatusOr<std::unique_ptr<GrpcReceiver>> receiver =
//       StartGrpcReceiver(options, ingest, metrics);
//   int port = (*receiver)->port();
//   ...
//   (*receiver)->Shutdown(absl::Now() + absl::Seconds(5));
//
// Outcome mapping: kAccepted -> OK (Export*ServiceResponse, with
// partial_success when items were rejected), kInvalid -> INVALID_ARGUMENT,
// kOverloaded and kShuttingDown -> UNAVAILABLE (retryable per the OTLP spec).
// A call refused for lack of room first waits for room, up to
// options.admission_wait.max_wait (admission_waitlist.h).
// A wrong or missing bearer token -> UNAUTHENTICATED. gzip-compressed
// requests are accepted; requests over max_recv_message_bytes get
// RESOURCE_EXHAUSTED from gRPC itself.
//
// Plaintext connections are accepted by the gateway (tcp_listener.h) and
// handed to gRPC, so that running out of descriptors only pauses accepting:
// gRPC 1.51's own listener, used with TLS, stops for good after one failed
// accept.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/receivers/admission_waitlist.h"
#include "pipeline/ingest/ingest.h"
#include "pipeline/base/metrics_registry.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace gateway {

class FdAcceptor;

struct GrpcReceiverOptions {
  // host:port; port 0 picks a free port (see GrpcReceiver::port()).
  std::string listen_address = "0.0.0.0:4317";
  // Largest request message, after decompression.
  int max_recv_message_bytes = 4 << 20;
  // PEM files; TLS when both are set, plaintext when both are empty.
  std::string tls_cert_path;
  std::string tls_key_path;
  // When set, every call needs metadata `authorization: Bearer <token>`.
  std::string bearer_token;
  // Calls in flight on one connection at most (HTTP/2 SETTINGS); more wait
  // in the client. 0: gRPC's default (unlimited).
  int max_concurrent_streams = 100;
  // A connection is asked to go away (GOAWAY) after this long, so clients
  // re-resolve and spread over replicas; calls in flight get
  // max_connection_age_grace to finish. Zero: connections live forever.
  absl::Duration max_connection_age = absl::Minutes(30);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // Calls refused for lack of room in the memory budget wait for room, in
  // arrival order, instead of getting UNAVAILABLE at once
  // (admission_waitlist.h). max_wait zero: they do not wait.
  AdmissionWaitlistOptions admission_wait;
};

class GrpcReceiver final {
 public:
  class Services;

  ~GrpcReceiver();  // Shutdown(now) if not shut down yet.
  GrpcReceiver(const GrpcReceiver&) = delete;
  GrpcReceiver& operator=(const GrpcReceiver&) = delete;

  // The bound port.
  int port() const { return port_; }
  // Accepts that failed (e.g. out of descriptors); 0 with TLS, where gRPC
  // accepts and only logs them.
  int64_t AcceptFailures() const;
  // Calls waiting for room in the memory budget now.
  int64_t WaitingForRoom() const;

  // Stops accepting calls, lets calls in flight finish until `deadline`,
  // then cancels the rest and returns. Idempotent; call from one thread.
  void Shutdown(absl::Time deadline);

 private:
  friend absl::StatusOr<std::unique_ptr<GrpcReceiver>> StartGrpcReceiver(const GrpcReceiverOptions&,
                                                                         Ingest&, MetricsRegistry&);
  GrpcReceiver() = default;

  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<FdAcceptor> acceptor_;  // plaintext only
  int port_ = 0;
  bool shut_down_ = false;
};

// Binds and starts serving. `ingest` and `metrics` must outlive the receiver.
// InvalidArgument for bad options, Unavailable when the address cannot be
// bound, NotFound when a TLS file cannot be read, InvalidArgument when it
// holds no PEM certificate / key or the key does not match the certificate.
absl::StatusOr<std::unique_ptr<GrpcReceiver>> StartGrpcReceiver(const GrpcReceiverOptions& options,
                                                               Ingest& ingest, MetricsRegistry& metrics);

}  // namespace gateway
