// A local stand-in for Lambda's Extensions API and Telemetry API over HTTP,
// for tests and benchmarks of the extension process (the libcurl client, the
// binary in extension mode). Keeps to the documented contract: register
// needs Lambda-Extension-Name and answers Lambda-Extension-Identifier, the
// other calls need that identifier (403 otherwise), event/next blocks until
// the test pushes an event, telemetry subscriptions are recorded and the
// test can deliver platform events to the subscriber's HTTP destination
// (its host replaced by 127.0.0.1, as AWS's emulator does).
//
//   std::unique_ptr<FakeLambdaApi> api = *FakeLambdaApi::Start({});
//   setenv("AWS_LAMBDA_RUNTIME_API", api->address().c_str(), 1);   // 127.0.0.1:port
//   ... start the extension ...
//   api->WaitForNextCalls(1, deadline);          // registered, subscribed, waiting
//   api->PushInvoke("req-1", absl::Now() + absl::Seconds(30));
//   api->SendRuntimeDone("req-1");
//   api->WaitForNextCalls(2, deadline);
//   api->PushShutdown(absl::Now() + absl::Seconds(2));
//
// Thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/receivers/http_handler.h"
#include "gateway/receivers/http_server.h"
#include "pipeline/base/sync.h"

namespace gateway::testing {

class FakeLambdaApi final : public HttpHandler {
 public:
  struct Options {
    // Answers to register and telemetry subscribe (200 by default).
    int register_status = 200;
    int subscribe_status = 200;
    // How long event/next waits for a pushed event before answering 500.
    absl::Duration next_timeout = absl::Seconds(60);
  };

  struct ErrorReport {
    std::string path;  // /2020-01-01/extension/init/error or .../exit/error
    std::string error_type;
    std::string body;
  };

  static absl::StatusOr<std::unique_ptr<FakeLambdaApi>> Start(Options options);
  ~FakeLambdaApi() override;

  // "127.0.0.1:<port>", the value of AWS_LAMBDA_RUNTIME_API.
  std::string address() const;

  void PushInvoke(const std::string& request_id, absl::Time deadline);
  void PushShutdown(absl::Time deadline, const std::string& reason = "spindown");

  // POSTs a Telemetry API batch (a JSON array) to the subscriber; the HTTP
  // status, 0 when there is no subscriber or it could not be reached.
  long SendTelemetry(const std::string& json_array);
  long SendRuntimeDone(const std::string& request_id);

  // Called on the handler thread when event/next arrives, before it blocks,
  // with the call's number (1 for the first) and the time it arrived. Set it
  // before the extension starts.
  void set_on_next(std::function<void(int call, absl::Time at)> on_next);
  // Called on the handler thread when a registration is accepted, before
  // the answer. Set it before the extension starts.
  void set_on_register(std::function<void()> on_register);

  bool WaitForNextCalls(int calls, absl::Time deadline) const;
  bool WaitForSubscription(absl::Time deadline) const;

  std::string registered_name() const;
  std::string registered_events() const;  // the register body
  absl::Time registered_at() const;
  std::string subscription_body() const;
  std::string destination() const;  // the subscriber's URI, host replaced
  int next_calls() const;
  std::vector<ErrorReport> errors() const;

  HttpResponse Handle(HttpRequest request) override;

 private:
  explicit FakeLambdaApi(Options options) : options_(options) {}
  HttpResponse Register(const HttpRequest& request);
  HttpResponse Next(const HttpRequest& request);
  HttpResponse Subscribe(const HttpRequest& request);
  HttpResponse ReportError(const HttpRequest& request);
  bool Identified(const HttpRequest& request) const;

  const Options options_;
  std::unique_ptr<HttpServer> server_;
  std::function<void(int, absl::Time)> on_next_;
  std::function<void()> on_register_;

  mutable Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string identifier_ ABSL_GUARDED_BY(mu_);
  std::string registered_name_ ABSL_GUARDED_BY(mu_);
  std::string registered_events_ ABSL_GUARDED_BY(mu_);
  absl::Time registered_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool subscribed_ ABSL_GUARDED_BY(mu_) = false;
  std::string subscription_body_ ABSL_GUARDED_BY(mu_);
  std::string destination_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> events_ ABSL_GUARDED_BY(mu_);
  int next_started_ ABSL_GUARDED_BY(mu_) = 0;
  int next_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ErrorReport> errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gateway::testing
