// The seam between the extension and Lambda: the Extensions API
// (http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension/...) and the
// Telemetry API's Subscribe, which shares its endpoint and identifier.
//
//   std::unique_ptr<ExtensionsApiClient> api = NewCurlExtensionsApiClient(runtime_api, RealClock());
//   absl::StatusOr<RegisterInfo> info = api->Register("otlp-reparent-gateway");
//   absl::Status s = api->SubscribeTelemetry(subscription);
//   while (true) {
//     absl::StatusOr<LifecycleEvent> event = api->NextEvent();   // blocks
//     ...
//   }
//
// Implementations: curl_extensions_api.h (libcurl), and a scripted fake for
// tests (tests/gateway/lambda/fake_extensions_api.h).
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/lambda/lambda_events.h"

namespace gateway::lambda {

// Lambda-Extension-Function-Error-Type values this extension reports.
inline constexpr char kErrorConfig[] = "Extension.ConfigInvalid";
inline constexpr char kErrorStart[] = "Extension.StartFailed";
inline constexpr char kErrorEventLoop[] = "Extension.EventLoopFailed";

class ExtensionsApiClient {
 public:
  virtual ~ExtensionsApiClient() = default;

  // POST /extension/register for INVOKE and SHUTDOWN under `extension_name`
  // (Lambda-Extension-Name: the extension's file name); keeps the returned
  // Lambda-Extension-Identifier for the other calls. A non-2xx answer is an
  // error carrying the status and the answer's errorType.
  virtual absl::StatusOr<RegisterInfo> Register(std::string_view extension_name) = 0;

  // GET /extension/event/next: tells Lambda this extension is done with the
  // current event, and blocks (no timeout: the sandbox may be frozen in
  // between) until the next one.
  virtual absl::StatusOr<LifecycleEvent> NextEvent() = 0;

  // PUT /2022-07-01/telemetry. Only 200 counts as subscribed: 202 is what
  // AWS documents for local test environments, and AWS's emulator answers
  // it ("Telemetry.NotSupported") without ever sending events; that is
  // Unimplemented.
  virtual absl::Status SubscribeTelemetry(const TelemetrySubscription& subscription) = 0;

  // POST /extension/init/error or /extension/exit/error with
  // Lambda-Extension-Function-Error-Type `error_type` and an ErrorRequest
  // body. After either, Lambda answers no further call; the extension exits.
  virtual absl::Status InitError(std::string_view error_type, std::string_view message) = 0;
  virtual absl::Status ExitError(std::string_view error_type, std::string_view message) = 0;
};

}  // namespace gateway::lambda
