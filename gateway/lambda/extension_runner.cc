#include "gateway/lambda/extension_runner.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/logging.h"

namespace gateway::lambda {
namespace {

// Steps one event can take: wait, flush, then next or exit.
constexpr int kMaxStepsPerEvent = 4;

}  // namespace

ExtensionRunner::ExtensionRunner(const ExtensionSettings& settings, const LifecycleOptions& lifecycle,
                                 ExtensionRunnerDeps deps)
    : settings_(settings),
      deps_(std::move(deps)),
      clock_(deps_.clock != nullptr ? *deps_.clock : RealClock()),
      lifecycle_(lifecycle) {}

ExtensionRunner::~ExtensionRunner() { Stop(); }

void ExtensionRunner::Stop() {
  if (app_ != nullptr) app_->Shutdown();
  if (telemetry_server_ != nullptr) telemetry_server_->Shutdown();
}

int ExtensionRunner::Fail(bool init, std::string_view error_type, std::string_view message) {
  LogError(init ? "lambda_init_failed" : "lambda_failed",
           {{"error_type", std::string(error_type)}, {"error", std::string(message)}});
  absl::Status reported =
      init ? deps_.api->InitError(error_type, message) : deps_.api->ExitError(error_type, message);
  if (!reported.ok()) LogWarn("lambda_error_report_failed", {{"error", std::string(reported.message())}});
  Stop();
  return 1;
}

int ExtensionRunner::Run() {
  auto phase = [this](std::string_view name) {
    if (deps_.on_phase) deps_.on_phase(name);
  };
  absl::StatusOr<RegisterInfo> registered = deps_.api->Register(settings_.extension_name);
  if (!registered.ok()) {
    // Without an identifier there is nobody to tell but the log.
    LogError("lambda_register_failed", {{"name", settings_.extension_name},
                                        {"error", std::string(registered.status().message())}});
    return 1;
  }
  phase("registered");

  absl::StatusOr<GatewayConfig> config = deps_.load_config();
  if (!config.ok()) return Fail(true, kErrorConfig, ToStd(config.status().message()));
  absl::StatusOr<std::unique_ptr<GatewayApp>> app =
      deps_.start_gateway ? deps_.start_gateway(*config) : StartGateway(*config, {});
  if (!app.ok()) return Fail(true, kErrorStart, ToStd(app.status().message()));
  app_ = *std::move(app);
  phase("otlp_ready");

  HttpServerOptions listener;
  listener.listen_address = absl::StrCat(settings_.telemetry_listen_host, ":", settings_.telemetry_port);
  listener.thread_name = "telapi";
  listener.threads = 1;
  listener.max_body_bytes = size_t{4} << 20;  // 2 x maxBytes (1 MiB at most) plus metadata
  listener.shutdown_grace = absl::Milliseconds(100);
  absl::StatusOr<std::unique_ptr<HttpServer>> server = StartHttpServer(listener, telemetry_handler_);
  if (!server.ok()) {
    return Fail(true, kErrorStart, absl::StrCat("telemetry listener: ", server.status().message()));
  }
  telemetry_server_ = *std::move(server);
  TelemetrySubscription subscription;
  subscription.destination_uri =
      absl::StrCat("http://", settings_.telemetry_host, ":", telemetry_server_->port(), "/telemetry");
  absl::Status subscribed = deps_.api->SubscribeTelemetry(subscription);
  if (!subscribed.ok()) {
    LogWarn("lambda_telemetry_unavailable",
            {{"error", std::string(subscribed.message())},
             {"effect", "no end-of-invoke flush: data goes out in the background and at SHUTDOWN"}});
  }
  lifecycle_.Ready(subscribed.ok());
  LogInfo("lambda_extension_ready", {{"name", settings_.extension_name},
                                     {"function", registered->function_name},
                                     {"runtime_done", subscribed.ok() ? "true" : "false"},
                                     {"telemetry_port", absl::StrCat(telemetry_server_->port())}});
  phase("ready");

  for (int events = 1;; ++events) {
    absl::StatusOr<LifecycleEvent> event = deps_.api->NextEvent();
    if (!event.ok()) return Fail(false, kErrorEventLoop, absl::StrCat("event/next: ", event.status().message()));
    const absl::Time received = clock_.Now();
    // Not during init, whose length is the function's cold start: when the
    // first invoke begins, so that the rest of it brings back from the
    // layer's file what the invokes run; what only init ran stays out.
    if (events == 1 && event->type == LifecycleEventType::kInvoke && deps_.release_program_pages) {
      deps_.release_program_pages(ProgramPageRelease::kReclaim);
    }
    Step step = event->type == LifecycleEventType::kInvoke ? lifecycle_.OnInvoke(*event, received)
                                                           : lifecycle_.OnShutdown(*event, received);
    for (int i = 0; i < kMaxStepsPerEvent && (step.kind == Step::kWaitForRuntimeDone || step.kind == Step::kFlush);
         ++i) {
      if (step.kind == Step::kWaitForRuntimeDone) {
        const bool done = runtime_done_.WaitFor(step.request_id, step.until);
        step = done ? lifecycle_.OnRuntimeDone(clock_.Now()) : lifecycle_.OnWaitExpired(clock_.Now());
        if (!done) LogWarn("lambda_runtime_done_missing", {{"request_id", event->request_id}});
      } else {
        const FlushResult flushed = app_->Flush(step.until);
        if (!flushed.engine_flushed || flushed.undelivered_bytes > 0) {
          LogWarn("lambda_flush_incomplete", {{"request_id", event->request_id},
                                              {"engine_flushed", flushed.engine_flushed ? "true" : "false"},
                                              {"undelivered_bytes", absl::StrCat(flushed.undelivered_bytes)}});
        }
        step = lifecycle_.OnFlushed(flushed, clock_.Now());
      }
    }
    if (step.kind == Step::kExit) {
      const LifecycleStats& s = lifecycle_.stats();
      LogInfo("lambda_shutdown", {{"reason", event->shutdown_reason},
                                  {"invokes", absl::StrCat(s.invokes)},
                                  {"runtime_done_missed", absl::StrCat(s.runtime_done_missed)},
                                  {"flushes_incomplete", absl::StrCat(s.flushes_incomplete)},
                                  {"undelivered_bytes", absl::StrCat(s.undelivered_bytes)}});
      Stop();
      return step.exit_code;
    }
    // And once it has ended: what only the first invoke ran (the first
    // export's connection) leaves the process, the page cache keeps it, so
    // the second invoke maps what it runs back without reading the file.
    if (events == 1 && deps_.release_program_pages) deps_.release_program_pages(ProgramPageRelease::kUnmap);
  }
}

}  // namespace gateway::lambda
