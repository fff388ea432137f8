// The extension's event loop: registers with Lambda, starts the gateway and
// the Telemetry API listener, subscribes, then loops on event/next doing
// what ExtensionLifecycle says (wait for runtimeDone, flush, next; at
// SHUTDOWN flush and exit).
//
//   ExtensionRunnerDeps deps;
//   deps.api = api.get();
//   deps.load_config = [&] { return LoadExtensionConfig(env, file, flags, resolver); };
//   ExtensionRunner runner(settings, LifecycleOptions{}, std::move(deps));
//   return runner.Run();   // the process's exit code
//
// Init failures after registration (configuration, a port in use) are
// reported to /extension/init/error and Run returns 1; a failing event/next
// is reported to /extension/exit/error. A refused Telemetry API
// subscription is not fatal: the extension then asks for the next event at
// once and delivers in the background and at SHUTDOWN (logged as a warning).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"
#include "gateway/gateway_app.h"
#include "gateway/receivers/http_server.h"
#include "gateway/lambda/extension_config.h"
#include "gateway/lambda/extensions_api.h"
#include "gateway/lambda/program_pages.h"
#include "gateway/lambda/lifecycle.h"
#include "gateway/lambda/telemetry_listener.h"
#include "pipeline/base/clock.h"

namespace gateway::lambda {

struct ExtensionRunnerDeps {
  // Required; must outlive the runner.
  ExtensionsApiClient* api = nullptr;
  // Time for the lifecycle; RealClock() when null. Waits are in wall-clock
  // time, so tests of the runner use the real clock.
  const Clock* clock = nullptr;
  // Loads the configuration; called after registration so that its errors
  // reach /extension/init/error.
  std::function<absl::StatusOr<GatewayConfig>()> load_config;
  // Starts the gateway; StartGateway(config, {}) when empty.
  std::function<absl::StatusOr<std::unique_ptr<GatewayApp>>(const GatewayConfig&)> start_gateway;
  // Told "registered", "otlp_ready" (receivers listening) and "ready"
  // (about to ask for the first event); for benchmarks. May be empty.
  std::function<void(std::string_view phase)> on_phase;
  // ReleaseProgramPages (program_pages.h): called with kReclaim when the
  // first event is an invoke, before the runner waits for its runtimeDone,
  // and with kUnmap once that first event has been handled, before the
  // second event/next. May be empty.
  std::function<void(ProgramPageRelease)> release_program_pages;
};

class ExtensionRunner final {
 public:
  ExtensionRunner(const ExtensionSettings& settings, const LifecycleOptions& lifecycle, ExtensionRunnerDeps deps);
  ~ExtensionRunner();

  // Runs until SHUTDOWN (0) or a failure (1). Call once.
  int Run();

  // For tests, after Run returned (or from another thread, racy).
  const LifecycleStats& stats() const { return lifecycle_.stats(); }
  const RuntimeDoneTracker& runtime_done() const { return runtime_done_; }

 private:
  int Fail(bool init, std::string_view error_type, std::string_view message);
  void Stop();

  const ExtensionSettings settings_;
  ExtensionRunnerDeps deps_;
  const Clock& clock_;
  ExtensionLifecycle lifecycle_;
  RuntimeDoneTracker runtime_done_;
  TelemetryHandler telemetry_handler_{runtime_done_};
  std::unique_ptr<GatewayApp> app_;
  std::unique_ptr<HttpServer> telemetry_server_;
};

}  // namespace gateway::lambda
