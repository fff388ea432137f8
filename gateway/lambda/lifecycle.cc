#include "gateway/lambda/lifecycle.h"

#include <algorithm>

namespace gateway::lambda {

void ExtensionLifecycle::Ready(bool runtime_done_available) {
  runtime_done_available_ = runtime_done_available;
  state_ = LifecycleState::kIdle;
}

Step ExtensionLifecycle::OnInvoke(const LifecycleEvent& event, absl::Time now) {
  ++stats_.invokes;
  request_id_ = event.request_id;
  invoke_deadline_ = std::min(event.deadline, now + options_.max_invoke);
  if (!runtime_done_available_) {
    // Nothing marks the end of the function's work: do not hold the invoke
    // up; what it sends goes out in the background.
    state_ = LifecycleState::kIdle;
    return Step{Step::kNext};
  }
  state_ = LifecycleState::kAwaitingRuntimeDone;
  Step step{Step::kWaitForRuntimeDone};
  // Late enough that a whole flush still fits before the deadline.
  step.until = std::max(now, invoke_deadline_ - options_.flush_timeout - options_.deadline_margin);
  step.request_id = request_id_;
  return step;
}

Step ExtensionLifecycle::FlushInvoke(absl::Time now) {
  state_ = LifecycleState::kFlushing;
  Step step{Step::kFlush};
  step.until = std::max(now, std::min(now + options_.flush_timeout, invoke_deadline_ - options_.deadline_margin));
  return step;
}

Step ExtensionLifecycle::OnRuntimeDone(absl::Time now) {
  if (state_ != LifecycleState::kAwaitingRuntimeDone) return Step{Step::kNext};
  ++stats_.runtime_done_seen;
  return FlushInvoke(now);
}

Step ExtensionLifecycle::OnWaitExpired(absl::Time now) {
  if (state_ != LifecycleState::kAwaitingRuntimeDone) return Step{Step::kNext};
  ++stats_.runtime_done_missed;
  return FlushInvoke(now);
}

Step ExtensionLifecycle::OnShutdown(const LifecycleEvent& event, absl::Time now) {
  state_ = LifecycleState::kShutdownFlushing;
  Step step{Step::kFlush};
  step.until = std::max(now, event.deadline - options_.deadline_margin);
  return step;
}

Step ExtensionLifecycle::OnFlushed(const FlushResult& result, absl::Time now) {
  ++stats_.flushes;
  stats_.undelivered_bytes = result.undelivered_bytes;
  if (!result.engine_flushed || result.undelivered_bytes > 0) ++stats_.flushes_incomplete;
  if (state_ == LifecycleState::kShutdownFlushing) {
    state_ = LifecycleState::kDone;
    return Step{Step::kExit};
  }
  state_ = LifecycleState::kIdle;
  return Step{Step::kNext};
}

}  // namespace gateway::lambda
