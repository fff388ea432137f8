#include "gateway/lambda/telemetry_listener.h"

#include <utility>

#include "gateway/lambda/lambda_events.h"
#include "pipeline/base/logging.h"

namespace gateway::lambda {

void RuntimeDoneTracker::MarkDone(const std::string& request_id) {
  MutexLock lock(&mu_);
  if (!done_.insert(request_id).second) return;
  order_.push_back(request_id);
  while (order_.size() > kRemembered) {
    done_.erase(order_.front());
    order_.pop_front();
  }
}

bool RuntimeDoneTracker::IsDone(const std::string& request_id) const {
  MutexLock lock(&mu_);
  return done_.contains(request_id);
}

bool RuntimeDoneTracker::WaitFor(const std::string& request_id, absl::Time deadline) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      [this, &request_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_.contains(request_id); }, deadline);
}

int64_t RuntimeDoneTracker::batches() const {
  MutexLock lock(&mu_);
  return batches_;
}

int64_t RuntimeDoneTracker::platform_events() const {
  MutexLock lock(&mu_);
  return platform_events_;
}

void RuntimeDoneTracker::CountBatch(int64_t platform_events) {
  MutexLock lock(&mu_);
  ++batches_;
  platform_events_ += platform_events;
}

HttpResponse TelemetryHandler::Handle(HttpRequest request) {
  if (request.method != "POST") return {405, "text/plain; charset=utf-8", "POST only\n", {{"Allow", "POST"}}};
  absl::StatusOr<std::vector<PlatformEvent>> events = ParseTelemetryBatch(request.body);
  if (!events.ok()) {
    LogWarn("telemetry_batch_invalid", {{"error", std::string(events.status().message())}});
    return {400, "text/plain; charset=utf-8", "not a JSON array of events\n", {}};
  }
  tracker_.CountBatch(static_cast<int64_t>(events->size()));
  for (const PlatformEvent& event : *events) {
    if (event.type == "platform.runtimeDone" && !event.request_id.empty()) tracker_.MarkDone(event.request_id);
  }
  return {200, "text/plain; charset=utf-8", "OK\n", {}};
}

}  // namespace gateway::lambda
