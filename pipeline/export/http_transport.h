// The seam between the OTLP/HTTP exporter and the network: something that
// POSTs request bodies and reports, for each, the HTTP status, the
// Retry-After header and the start of the response body, or why no response
// came. NewCurlHttpTransport (curl_http_transport.h) is the real one; tests
// use a fake.
//
//   std::unique_ptr<HttpTransport> transport = NewCurlHttpTransport(options);
//   transport->Start(/*id=*/1, url, wire);       // `wire` outlives the transfer
//   std::vector<HttpCompletion> done;
//   while (done.empty()) {
//     transport->Perform(&done);
//     if (done.empty()) transport->Wait(absl::Milliseconds(20));
//   }
//
// Threads: one thread drives a transport (Start, Perform, Wait, AbortAll);
// Wakeup may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "pipeline/export/replaceable_header.h"

namespace gateway {

// Why an attempt ended without an HTTP response.
enum class TransportError : uint8_t {
  kNone = 0,     // a response arrived; see HttpCompletion::status
  kTimeout = 1,  // connect or request timeout
  kNetwork = 2,  // anything else: refused, reset, closed mid-request, TLS, DNS
};

struct HttpTransportOptions {
  // Sent with every request, e.g. {"Content-Type", "application/x-protobuf"}.
  std::vector<std::pair<std::string, std::string>> headers;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(30);
  // Connections kept open for reuse.
  int max_connections = 4;
  // Longer response bodies are truncated to this.
  size_t max_response_body_bytes = 64 * 1024;
  // PEM bundle of the CAs to trust for HTTPS, exactly (not the build
  // distribution's CA directory too); empty: libcurl's built-in default.
  std::string ca_file;
  // When set, sent with every request after `headers`, with the value it
  // has when the request starts (the API token, replaced on SIGHUP).
  std::shared_ptr<const ReplaceableHeader> replaceable_header;
};

// The end of one transfer started with HttpTransport::Start.
struct HttpCompletion {
  uint64_t id = 0;
  TransportError error = TransportError::kNone;
  // With an error: a human-readable description, for logs.
  std::string error_message;
  // Without an error: the final response's status, Retry-After header value
  // (whitespace-trimmed, empty when absent) and body (truncated).
  long status = 0;
  std::string retry_after;
  std::string body;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Starts POSTing `body` to `url`. Both must stay valid until the transfer's
  // completion has been returned by Perform or the transfer is aborted.
  // `id` names the transfer in its completion; ids in flight are distinct.
  virtual void Start(uint64_t id, const std::string& url, std::string_view body) = 0;

  // Makes progress without blocking and appends the transfers that ended.
  virtual void Perform(std::vector<HttpCompletion>* completed) = 0;

  // Blocks until there is network activity, Wakeup is called, or `timeout`
  // passes (real time).
  virtual void Wait(absl::Duration timeout) = 0;

  // Ends a Wait in progress, or the next one. Thread-safe.
  virtual void Wakeup() = 0;

  // Drops every transfer in flight without completing it; returns their ids.
  virtual std::vector<uint64_t> AbortAll() = 0;
};

}  // namespace gateway
