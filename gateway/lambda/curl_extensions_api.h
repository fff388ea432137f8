// ExtensionsApiClient over libcurl's easy interface: one connection to
// ${AWS_LAMBDA_RUNTIME_API}, reused for every call.
//
//   std::unique_ptr<ExtensionsApiClient> api =
//       NewCurlExtensionsApiClient(getenv("AWS_LAMBDA_RUNTIME_API"), RealClock());
//
// Not thread-safe: one thread (the extension's event loop) makes the calls.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gateway/lambda/extensions_api.h"
#include "pipeline/base/clock.h"

namespace gateway::lambda {

struct CurlExtensionsApiOptions {
  // host:port of the Runtime API, as AWS_LAMBDA_RUNTIME_API gives it.
  std::string runtime_api;
  // For every call but NextEvent, which has none.
  absl::Duration request_timeout = absl::Seconds(10);
};

// `clock` (reads deadlineMs given as remaining time) must outlive the client.
std::unique_ptr<ExtensionsApiClient> NewCurlExtensionsApiClient(const CurlExtensionsApiOptions& options,
                                                                const Clock& clock);

}  // namespace gateway::lambda
