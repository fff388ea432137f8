#include "tests/fakes/fake_extensions_api.h"

#include <utility>

#include "absl/strings/numbers.h"

namespace gateway::testing {

lambda::LifecycleEvent Invoke(std::string request_id, absl::Time deadline) {
  lambda::LifecycleEvent e;
  e.type = lambda::LifecycleEventType::kInvoke;
  e.request_id = std::move(request_id);
  e.deadline = deadline;
  return e;
}

lambda::LifecycleEvent Shutdown(absl::Time deadline, std::string reason) {
  lambda::LifecycleEvent e;
  e.type = lambda::LifecycleEventType::kShutdown;
  e.deadline = deadline;
  e.shutdown_reason = std::move(reason);
  return e;
}

absl::StatusOr<lambda::RegisterInfo> FakeExtensionsApi::Register(std::string_view extension_name) {
  MutexLock lock(&mu_);
  registered_name_ = std::string(extension_name);
  if (!register_status_.ok()) return register_status_;
  return lambda::RegisterInfo{"fake-function", "$LATEST", "handler.main"};
}

absl::StatusOr<lambda::LifecycleEvent> FakeExtensionsApi::NextEvent() {
  int call = 0;
  {
    MutexLock lock(&mu_);
    call = ++next_started_;
  }
  if (on_next_) on_next_(call);
  {
    // Counted once on_next has run, so a test that waits for this call sees
    // what on_next recorded. In its own critical section: waiters are woken
    // by Unlock, not by the Await below.
    MutexLock lock(&mu_);
    ++next_calls_;
  }
  MutexLock lock(&mu_);
  if (!mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty(); },
                            next_timeout_)) {
    return absl::DeadlineExceededError("fake: no event pushed in time");
  }
  Next next = std::move(queue_.front());
  queue_.pop_front();
  if (!next.status.ok()) return next.status;
  return next.event;
}

absl::Status FakeExtensionsApi::SubscribeTelemetry(const lambda::TelemetrySubscription& subscription) {
  MutexLock lock(&mu_);
  subscribed_ = true;
  subscription_ = subscription;
  return subscribe_status_;
}

absl::Status FakeExtensionsApi::InitError(std::string_view error_type, std::string_view message) {
  MutexLock lock(&mu_);
  errors_.push_back({true, std::string(error_type), std::string(message)});
  return absl::OkStatus();
}

absl::Status FakeExtensionsApi::ExitError(std::string_view error_type, std::string_view message) {
  MutexLock lock(&mu_);
  errors_.push_back({false, std::string(error_type), std::string(message)});
  return absl::OkStatus();
}

void FakeExtensionsApi::set_register_status(absl::Status status) {
  MutexLock lock(&mu_);
  register_status_ = std::move(status);
}

void FakeExtensionsApi::set_subscribe_status(absl::Status status) {
  MutexLock lock(&mu_);
  subscribe_status_ = std::move(status);
}

void FakeExtensionsApi::PushNextError(absl::Status status) {
  MutexLock lock(&mu_);
  queue_.push_back({std::move(status), {}});
}

void FakeExtensionsApi::PushEvent(lambda::LifecycleEvent event) {
  MutexLock lock(&mu_);
  queue_.push_back({absl::OkStatus(), std::move(event)});
}

void FakeExtensionsApi::set_next_timeout(absl::Duration timeout) {
  MutexLock lock(&mu_);
  next_timeout_ = timeout;
}

void FakeExtensionsApi::set_on_next(std::function<void(int call)> on_next) { on_next_ = std::move(on_next); }

bool FakeExtensionsApi::WaitForSubscription(absl::Time deadline) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return subscribed_; }, deadline);
}

bool FakeExtensionsApi::WaitForNextCalls(int calls, absl::Time deadline) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline([this, calls]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return next_calls_ >= calls; },
                               deadline);
}

std::string FakeExtensionsApi::registered_name() const {
  MutexLock lock(&mu_);
  return registered_name_;
}

lambda::TelemetrySubscription FakeExtensionsApi::subscription() const {
  MutexLock lock(&mu_);
  return subscription_;
}

int FakeExtensionsApi::telemetry_port() const {
  const std::string uri = subscription().destination_uri;
  const size_t colon = uri.rfind(':');
  if (colon == std::string::npos) return 0;
  const size_t slash = uri.find('/', colon);
  int port = 0;
  const std::string digits = uri.substr(colon + 1, slash == std::string::npos ? std::string::npos : slash - colon - 1);
  return absl::SimpleAtoi(digits, &port) ? port : 0;
}

int FakeExtensionsApi::next_calls() const {
  MutexLock lock(&mu_);
  return next_calls_;
}

std::vector<FakeExtensionsApi::ReportedError> FakeExtensionsApi::errors() const {
  MutexLock lock(&mu_);
  return errors_;
}

}  // namespace gateway::testing
