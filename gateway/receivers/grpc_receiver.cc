#include "gateway/receivers/grpc_receiver.h"

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/receivers/admission_waitlist.h"
#include "gateway/receivers/receiver_common.h"
#include "gateway/receivers/tcp_listener.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/clock.h"

namespace gateway {
namespace {

namespace trace_v1 = opentelemetry::proto::collector::trace::v1;
namespace metrics_v1 = opentelemetry::proto::collector::metrics::v1;
namespace logs_v1 = opentelemetry::proto::collector::logs::v1;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// gRPC only logs why it cannot use a certificate and key, and BuildAndStart
// then fails like a port that cannot be bound; check the pair up front so
// that the error names the file at fault.
absl::Status CheckKeyPair(const std::string& cert_pem, const std::string& cert_path, const std::string& key_pem,
                          const std::string& key_path) {
  ERR_clear_error();
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = cert_bio == nullptr ? nullptr : PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = key_bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  absl::Status status;
  if (cert == nullptr) {
    status = absl::InvalidArgumentError(absl::StrCat("grpc TLS certificate ", cert_path, ": no PEM certificate"));
  } else if (key == nullptr) {
    status = absl::InvalidArgumentError(
        absl::StrCat("grpc TLS key ", key_path, ": no unencrypted PEM private key"));
  } else if (X509_check_private_key(cert, key) != 1) {
    status = absl::InvalidArgumentError(
        absl::StrCat("grpc TLS key ", key_path, " does not match the certificate ", cert_path));
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  ERR_clear_error();
  return status;
}

// Everything the three services share: counters, the Ingest (through the
// admission waitlist), the token.
class ExportCore final {
 public:
  ExportCore(const GrpcReceiverOptions& options, Ingest& ingest, MetricsRegistry& registry)
      : waitlist_(ingest, options.admission_wait, RealClock(), registry),
        metrics_(registry, "grpc"),
        bearer_token_(options.bearer_token) {}

  // The call finishes now, or later on the waitlist's thread once the
  // pipeline has room for it.
  grpc::ServerUnaryReactor* Export(Signal signal, grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request, grpc::ByteBuffer* response) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    ReceiverMetrics::SignalCounters& counters = metrics_.For(signal);
    counters.requests->Add();
    if (!bearer_token_.empty() && !Authorized(*context)) {
      reactor->Finish(Reject(signal, RejectReason::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED,
                             "missing or invalid bearer token"));
      return reactor;
    }
    std::string bytes;
    if (!Flatten(*request, &bytes)) {
      reactor->Finish(
          Reject(signal, RejectReason::kInvalid, grpc::StatusCode::INVALID_ARGUMENT, "unreadable request"));
      return reactor;
    }
    counters.bytes->Add(static_cast<int64_t>(bytes.size()));
    const std::chrono::system_clock::time_point deadline = context->deadline();
    waitlist_.Submit(signal, std::move(bytes),
                     deadline == std::chrono::system_clock::time_point::max() ? absl::InfiniteFuture()
                                                                               : absl::FromChrono(deadline),
                     [this, signal, reactor, response](IngestResult result) {
                       reactor->Finish(Answer(signal, std::move(result), response));
                     });
    return reactor;
  }

  // Finishes every call waiting for room; later calls do not wait.
  void StopWaiting() { waitlist_.Stop(); }
  int64_t Waiting() const { return waitlist_.Waiting(); }

 private:
  grpc::Status Answer(Signal signal, IngestResult result, grpc::ByteBuffer* response) {
    switch (result.outcome) {
      case IngestOutcome::kAccepted: {
        std::string reply = ExportResponseProto(result.rejected_items, result.message);
        grpc::Slice slice(std::move(reply));
        *response = grpc::ByteBuffer(&slice, 1);
        return grpc::Status::OK;
      }
      case IngestOutcome::kInvalid:
        return Reject(signal, RejectReason::kInvalid, grpc::StatusCode::INVALID_ARGUMENT,
                      result.message.empty() ? "invalid request" : result.message);
      case IngestOutcome::kOverloaded:
        return Reject(signal, RejectReason::kOverloaded, grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("gateway overloaded, retry after ", absl::FormatDuration(result.retry_after)),
                      result.retry_after);
      case IngestOutcome::kShuttingDown:
        return Reject(signal, RejectReason::kShuttingDown, grpc::StatusCode::UNAVAILABLE,
                      "gateway shutting down", absl::Seconds(1));
    }
    return grpc::Status(grpc::StatusCode::INTERNAL, "unknown ingest outcome");
  }

  // With `retry_after` > 0 the status carries a google.rpc.RetryInfo in its
  // binary details (grpc-status-details-bin), which OTLP exporters honour.
  grpc::Status Reject(Signal signal, RejectReason reason, grpc::StatusCode code, std::string message,
                      absl::Duration retry_after = absl::ZeroDuration()) {
    metrics_.Rejected(signal, reason);
    reject_log_.Rejected("grpc", signal, reason, message);
    if (retry_after <= absl::ZeroDuration()) return grpc::Status(code, std::move(message));
    std::string details = StatusProto(static_cast<int>(code), message, retry_after);
    return grpc::Status(code, std::move(message), std::move(details));
  }

  bool Authorized(const grpc::CallbackServerContext& context) const {
    const auto& md = context.client_metadata();
    auto it = md.find("authorization");
    if (it == md.end()) return false;
    return BearerTokenMatches(std::string_view(it->second.data(), it->second.size()), bearer_token_);
  }

  static bool Flatten(const grpc::ByteBuffer& buffer, std::string* out) {
    std::vector<grpc::Slice> slices;
    if (!buffer.Dump(&slices).ok()) return false;
    size_t total = 0;
    for (const grpc::Slice& s : slices) total += s.size();
    out->reserve(total);
    for (const grpc::Slice& s : slices) out->append(reinterpret_cast<const char*>(s.begin()), s.size());
    return true;
  }

  AdmissionWaitlist waitlist_;
  ReceiverMetrics metrics_;
  RejectLog reject_log_;
  const std::string bearer_token_;
};

class TraceExport final : public trace_v1::TraceService::WithRawCallbackMethod_Export<trace_v1::TraceService::Service> {
 public:
  explicit TraceExport(ExportCore& core) : core_(core) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    return core_.Export(Signal::kTraces, context, request, response);
  }

 private:
  ExportCore& core_;
};

class MetricsExport final
    : public metrics_v1::MetricsService::WithRawCallbackMethod_Export<metrics_v1::MetricsService::Service> {
 public:
  explicit MetricsExport(ExportCore& core) : core_(core) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    return core_.Export(Signal::kMetrics, context, request, response);
  }

 private:
  ExportCore& core_;
};

class LogsExport final : public logs_v1::LogsService::WithRawCallbackMethod_Export<logs_v1::LogsService::Service> {
 public:
  explicit LogsExport(ExportCore& core) : core_(core) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    return core_.Export(Signal::kLogs, context, request, response);
  }

 private:
  ExportCore& core_;
};

}  // namespace

class GrpcReceiver::Services {
 public:
  Services(const GrpcReceiverOptions& options, Ingest& ingest, MetricsRegistry& registry)
      : core(options, ingest, registry), traces(core), metrics(core), logs(core) {}

  ExportCore core;
  TraceExport traces;
  MetricsExport metrics;
  LogsExport logs;
};

GrpcReceiver::~GrpcReceiver() { Shutdown(absl::Now()); }

int64_t GrpcReceiver::AcceptFailures() const { return acceptor_ != nullptr ? acceptor_->AcceptFailures() : 0; }

int64_t GrpcReceiver::WaitingForRoom() const { return services_ != nullptr ? services_->core.Waiting() : 0; }

void GrpcReceiver::Shutdown(absl::Time deadline) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  if (acceptor_ != nullptr) acceptor_->Stop();  // no connection reaches a server shutting down
  // Calls waiting for room are finished first: gRPC's shutdown waits for
  // every call to finish.
  services_->core.StopWaiting();
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
}

absl::StatusOr<std::unique_ptr<GrpcReceiver>> StartGrpcReceiver(const GrpcReceiverOptions& options,
                                                               Ingest& ingest, MetricsRegistry& metrics) {
  if (options.listen_address.empty()) return absl::InvalidArgumentError("grpc listen address is empty");
  if (options.max_recv_message_bytes <= 0) {
    return absl::InvalidArgumentError("grpc max_recv_message_bytes must be positive");
  }
  if (options.tls_cert_path.empty() != options.tls_key_path.empty()) {
    return absl::InvalidArgumentError("grpc TLS needs both a certificate and a key");
  }

  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::optional<ListenSocket> socket;
  if (options.tls_cert_path.empty()) {
    absl::StatusOr<ListenSocket> bound = ListenTcp(options.listen_address);
    if (!bound.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen for gRPC on ", options.listen_address, ": ", bound.status().message()));
    }
    socket = *std::move(bound);
  } else {
    absl::StatusOr<std::string> cert = ReadFile(options.tls_cert_path);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(options.tls_key_path);
    if (!key.ok()) return key.status();
    absl::Status pair = CheckKeyPair(*cert, options.tls_cert_path, *key, options.tls_key_path);
    if (!pair.ok()) return pair;
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
    credentials = grpc::SslServerCredentials(ssl);
  }

  std::unique_ptr<GrpcReceiver> receiver(new GrpcReceiver());
  receiver->services_ = std::make_unique<GrpcReceiver::Services>(options, ingest, metrics);

  grpc::ServerBuilder builder;
  if (credentials != nullptr) builder.AddListeningPort(options.listen_address, credentials, &receiver->port_);
  builder.SetMaxReceiveMessageSize(options.max_recv_message_bytes);
  if (options.max_concurrent_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  }
  if (options.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(options.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(options.max_connection_age_grace)));
  }
  // A second gateway on the same port must fail to start, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Clients may compress with any algorithm gRPC knows; gzip is what OTLP
  // exporters use.
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, true);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, true);
  builder.RegisterService(&receiver->services_->traces);
  builder.RegisterService(&receiver->services_->metrics);
  builder.RegisterService(&receiver->services_->logs);
  receiver->server_ = builder.BuildAndStart();
  if (receiver->server_ == nullptr || (credentials != nullptr && receiver->port_ == 0)) {
    receiver->server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", options.listen_address));
  }
  if (socket.has_value()) {
    receiver->port_ = socket->port();
    absl::StatusOr<std::unique_ptr<FdAcceptor>> acceptor =
        FdAcceptor::Start(*std::move(socket), "grpc_accept_failed",
                          [server = receiver->server_.get()](int fd) { grpc::AddInsecureChannelFromFd(server, fd); },
                          "grpc-accept");
    if (!acceptor.ok()) return acceptor.status();
    receiver->acceptor_ = *std::move(acceptor);
  }
  return receiver;
}

}  // namespace gateway
