// The HttpTransport over libcurl's multi interface: connections are reused,
// TLS uses the system CA store, and proxies come from the environment
// (HTTPS_PROXY, NO_PROXY, ...), which libcurl reads by itself.
//
//   HttpTransportOptions options;
//   options.headers = {{"Content-Type", "application/x-protobuf"}};
//   std::unique_ptr<HttpTransport> transport = NewCurlHttpTransport(options);
#pragma once

#include <memory>

#include "pipeline/export/http_transport.h"

namespace gateway {

// Initializes libcurl once per process (thread-safe). Every request also
// carries "Expect:" (no 100-continue round trip) and the gateway's
// User-Agent.
std::unique_ptr<HttpTransport> NewCurlHttpTransport(const HttpTransportOptions& options);

}  // namespace gateway
