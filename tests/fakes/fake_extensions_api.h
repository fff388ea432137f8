// An in-process ExtensionsApiClient for tests of the extension's event loop:
// events are pushed by the test, answers can be scripted, calls are recorded.
//
//   FakeExtensionsApi api;
//   api.set_on_next([&](int n) { snapshot = dynatrace.SpanCount(); });  // "next requested"
//   ... run ExtensionRunner on a thread with deps.api = &api ...
//   ASSERT_TRUE(api.WaitForSubscription(absl::Now() + absl::Seconds(10)));
//   api.PushEvent(Invoke("req-1", absl::Now() + absl::Seconds(30)));
//   api.PushEvent(Shutdown(absl::Now() + absl::Seconds(2)));
//
// NextEvent blocks until an event is pushed; when none comes within
// `next_timeout` (real time) it fails, so that a test that forgets to push
// one ends instead of hanging. Thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/lambda/extensions_api.h"
#include "pipeline/base/sync.h"

namespace gateway::testing {

lambda::LifecycleEvent Invoke(std::string request_id, absl::Time deadline);
lambda::LifecycleEvent Shutdown(absl::Time deadline, std::string reason = "spindown");

class FakeExtensionsApi final : public lambda::ExtensionsApiClient {
 public:
  struct ReportedError {
    bool init = true;  // init/error (true) or exit/error
    std::string type;
    std::string message;
  };

  absl::StatusOr<lambda::RegisterInfo> Register(std::string_view extension_name) override;
  absl::StatusOr<lambda::LifecycleEvent> NextEvent() override;
  absl::Status SubscribeTelemetry(const lambda::TelemetrySubscription& subscription) override;
  absl::Status InitError(std::string_view error_type, std::string_view message) override;
  absl::Status ExitError(std::string_view error_type, std::string_view message) override;

  // Scripted answers (OK by default).
  void set_register_status(absl::Status status);
  void set_subscribe_status(absl::Status status);
  // Pushes an error as the next "event".
  void PushNextError(absl::Status status);
  void PushEvent(lambda::LifecycleEvent event);
  void set_next_timeout(absl::Duration timeout);
  // Called on the caller's thread each time NextEvent is entered, before it
  // blocks, with the number of that call (1 for the first). Set it before
  // the runner starts.
  void set_on_next(std::function<void(int call)> on_next);

  // Waits until SubscribeTelemetry was called (whatever its answer).
  bool WaitForSubscription(absl::Time deadline) const;
  // Waits until NextEvent has been entered `calls` times (and on_next has
  // run for each).
  bool WaitForNextCalls(int calls, absl::Time deadline) const;

  std::string registered_name() const;
  // The last subscription request; its destination URI names the listener.
  lambda::TelemetrySubscription subscription() const;
  // The port in the subscription's destination URI, 0 if none.
  int telemetry_port() const;
  int next_calls() const;
  std::vector<ReportedError> errors() const;

 private:
  struct Next {
    absl::Status status;
    lambda::LifecycleEvent event;
  };

  mutable Mutex mu_;
  absl::Status register_status_ ABSL_GUARDED_BY(mu_);
  absl::Status subscribe_status_ ABSL_GUARDED_BY(mu_);
  std::deque<Next> queue_ ABSL_GUARDED_BY(mu_);
  absl::Duration next_timeout_ ABSL_GUARDED_BY(mu_) = absl::Seconds(30);
  std::function<void(int)> on_next_;
  std::string registered_name_ ABSL_GUARDED_BY(mu_);
  bool subscribed_ ABSL_GUARDED_BY(mu_) = false;
  lambda::TelemetrySubscription subscription_ ABSL_GUARDED_BY(mu_);
  int next_started_ ABSL_GUARDED_BY(mu_) = 0;
  int next_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ReportedError> errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gateway::testing
