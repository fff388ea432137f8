// A local stand-in for the Dynatrace OTLP/HTTP ingest API, for tests.
//
// Keeps to the API's contract: POST {base}/v1/{traces,metrics,logs} with
// `Authorization: Api-Token <token>` (401 otherwise) and
// `Content-Type: application/x-protobuf` (415 otherwise), optional
// `Content-Encoding: gzip`; bodies that do not parse as the signal's
// Export*ServiceRequest get 400. Unless the script says otherwise, metric
// data points Dynatrace refuses (monotonic cumulative sums, cumulative
// histograms, summaries, too many dimensions) are answered as a partial
// success naming them (tests/fakes/dynatrace_metrics_contract.h). Every request is recorded, and answers can be
// scripted: errors with Retry-After, 413 above a size, slow answers, closed
// connections, partial success, or the whole server "down" and back up on the
// same port.
//
//   FakeDynatrace::Options options;
//   options.token = "secret";
//   std::unique_ptr<FakeDynatrace> dt = *FakeDynatrace::Start(options);
//   exporter_options.endpoint = dt->url();           // http://127.0.0.1:port/api/v2/otlp
//   dt->PushResponse({.status = 503, .retry_after = "2"});
//   ...
//   ASSERT_TRUE(dt->WaitForSpans(100, absl::Now() + absl::Seconds(10)));
//   std::vector<ResourceSpans> spans = dt->ReceivedSpans();
//
// With options.tls_cert_path and tls_key_path it serves HTTPS instead, so
// that a client's TLS handshake, certificate check and encryption are part
// of what a test or benchmark exercises.
//
// Thread-safe; one thread accepts, one thread serves each connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "opentelemetry/proto/logs/v1/logs.pb.h"
#include "opentelemetry/proto/metrics/v1/metrics.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "pipeline/base/signal.h"
#include "pipeline/base/sync.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace gateway::testing {

class FakeDynatrace final {
 public:
  struct Options {
    // Expected API token; requests without `Authorization: Api-Token <token>`
    // get 401.
    std::string token = "test-token";
    // Path prefix of the OTLP API.
    std::string base_path = "/api/v2/otlp";
    // Decoded bodies larger than this get 413 (0: no limit).
    size_t max_body_bytes = 0;
    // PEM files: HTTPS when both are set (a certificate for "localhost",
    // e.g. tests/gateway/testdata/localhost.crt), plain HTTP when both are
    // empty.
    std::string tls_cert_path;
    std::string tls_key_path;
  };

  // One scripted answer, used for the next request (FIFO); when the script
  // is empty the server accepts with 200.
  struct Response {
    int status = 200;
    // Sent as the Retry-After header when non-empty ("3" or an HTTP date).
    std::string retry_after;
    // Response body; for 2xx, empty means an empty Export*ServiceResponse.
    std::string body;
    // For 2xx: report this many items rejected in partial_success.
    int64_t partial_success_rejected = 0;
    std::string partial_success_message;
    // Wait this long before answering.
    absl::Duration delay = absl::ZeroDuration();
    // Close the connection after reading the request, without answering.
    bool close_without_response = false;
  };

  struct ReceivedRequest {
    Signal signal = Signal::kTraces;
    std::string path;
    // Lower-case header names.
    std::map<std::string, std::string> headers;
    // Bytes on the wire and after gunzip.
    size_t wire_bytes = 0;
    std::string body;
    // What the fake answered (0: closed without answering).
    int status = 0;
    // With a 2xx answer: spans or metric data points in the body (0 for
    // logs), and how many the partial_success refused, and why.
    int64_t items = 0;
    int64_t rejected_items = 0;
    std::string rejection_message;
  };

  static absl::StatusOr<std::unique_ptr<FakeDynatrace>> Start(Options options);
  ~FakeDynatrace();

  FakeDynatrace(const FakeDynatrace&) = delete;
  FakeDynatrace& operator=(const FakeDynatrace&) = delete;

  // "http://127.0.0.1:<port><base_path>", or "https://localhost:<port>..."
  // with TLS: the OTLP base, to which the exporter appends /v1/traces etc.
  std::string url() const;
  int port() const { return port_; }

  // Appends scripted answers / replaces the script.
  void PushResponse(Response response);
  void SetScript(std::vector<Response> script);
  // Answer used when the script is empty (200 by default).
  void SetDefaultResponse(Response response);
  void SetMaxBodyBytes(size_t max_body_bytes);
  // Answers 400 to any traces request holding a span of this name, as
  // Dynatrace refuses a whole request for one invalid span. Empty: off.
  void RejectSpansNamed(std::string name);

  // Stops listening and drops open connections (clients get connection
  // refused / reset) / listens again on the same port.
  void GoDown();
  absl::Status ComeBack();

  // Every request received, in arrival order, whatever the answer.
  std::vector<ReceivedRequest> Requests() const;
  int64_t RequestCount() const;
  // Resource spans / metrics / logs from requests answered 2xx.
  std::vector<opentelemetry::proto::trace::v1::ResourceSpans> ReceivedSpans() const;
  // The same for the requests received since `*cursor` (a request index,
  // 0 at first), which it then moves past them: for a caller that reads the
  // spans as they come without re-reading all of them each time.
  std::vector<opentelemetry::proto::trace::v1::ResourceSpans> ReceivedSpansSince(size_t* cursor) const;
  std::vector<opentelemetry::proto::metrics::v1::ResourceMetrics> ReceivedMetrics() const;
  std::vector<opentelemetry::proto::logs::v1::ResourceLogs> ReceivedLogs() const;
  // Spans / log records in requests answered 2xx (partial_success rejections
  // are not subtracted).
  int64_t SpanCount() const;
  int64_t LogRecordCount() const;
  // Metric data points in requests answered 2xx (refused ones included), and
  // items refused in partial successes of that signal.
  int64_t MetricPointCount() const;
  int64_t RejectedItems(Signal signal) const;

  // Wait (bounded by `deadline`, real time) until that many requests / spans
  // have arrived; false on timeout.
  bool WaitForRequests(int64_t n, absl::Time deadline) const;
  bool WaitForSpans(int64_t n, absl::Time deadline) const;
  bool WaitForMetricPoints(int64_t n, absl::Time deadline) const;

 private:
  explicit FakeDynatrace(Options options);
  absl::Status Listen(int port);
  void AcceptLoop();
  void Serve(int fd);
  // Answers requests on a connected (and, for TLS, handshaken) stream until
  // the client closes or the socket is shut down.
  template <class Stream>
  void ServeRequests(Stream& stream);
  Response NextResponse();

  Options options_;
  // Set once in Start() when TLS is on; shared by the connections.
  std::unique_ptr<boost::asio::ssl::context> tls_;
  int port_ = 0;

  mutable Mutex mu_;
  int listen_fd_ ABSL_GUARDED_BY(mu_) = -1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<Response> script_ ABSL_GUARDED_BY(mu_);
  Response default_response_ ABSL_GUARDED_BY(mu_);
  std::vector<ReceivedRequest> requests_ ABSL_GUARDED_BY(mu_);
  int64_t accepted_spans_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::thread accept_thread_;
  std::string refused_span_name_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gateway::testing
