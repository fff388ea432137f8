// The extension's lifecycle as a pure state machine: given Lambda's events
// and the time, it says what to do next and until when. No I/O, no clock of
// its own; the event loop (extension_runner.h) does what it says.
//
//   ExtensionLifecycle lifecycle(LifecycleOptions{});
//   lifecycle.Ready(/*runtime_done_available=*/true);
//   Step step = lifecycle.OnInvoke(event, clock.Now());
//   // kWaitForRuntimeDone until step.until -> OnRuntimeDone / OnWaitExpired
//   // kFlush until step.until              -> OnFlushed
//   // kNext: ask for the next event; kExit: stop with step.exit_code
//
// Per invoke, with the Telemetry API: wait for platform.runtimeDone of the
// invoke, then flush (reparent and deliver everything the function sent)
// for at most flush_timeout, then ask for the next event, so nothing waits
// in a frozen sandbox. If runtimeDone does not come, the flush starts when
// there is just time left for it before the function's deadline. Without the
// Telemetry API (subscription refused), the next event is asked for at once
// and data goes out in the background while the sandbox runs, at the latest
// at SHUTDOWN. SHUTDOWN: flush until the event's deadline (less a margin),
// then exit 0.
//
// Not thread-safe: the event loop's thread only.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "gateway/gateway_app.h"
#include "gateway/lambda/lambda_events.h"

namespace gateway::lambda {

struct LifecycleOptions {
  // Longest a flush at the end of an invoke may take.
  absl::Duration flush_timeout = absl::Seconds(2);
  // Left free before the function's deadline and the shutdown deadline, for
  // the call to event/next and exiting.
  absl::Duration deadline_margin = absl::Milliseconds(50);
  // An INVOKE without a deadline is waited on for at most this (Lambda's
  // longest function timeout).
  absl::Duration max_invoke = absl::Minutes(15);
};

enum class LifecycleState {
  kStarting,             // before Ready
  kIdle,                 // between events (event/next outstanding)
  kAwaitingRuntimeDone,  // an invoke is running
  kFlushing,             // delivering what the invoke sent
  kShutdownFlushing,     // delivering at SHUTDOWN
  kDone,                 // exit
};

struct Step {
  enum Kind { kWaitForRuntimeDone, kFlush, kNext, kExit };
  Kind kind = kNext;
  // kWaitForRuntimeDone, kFlush: until when (wall clock).
  absl::Time until = absl::InfinitePast();
  // kWaitForRuntimeDone: the invoke's request id.
  std::string request_id;
  // kExit: the process's exit code.
  int exit_code = 0;
};

struct LifecycleStats {
  int64_t invokes = 0;
  int64_t runtime_done_seen = 0;
  // Invokes whose runtimeDone did not come in time (flushed anyway).
  int64_t runtime_done_missed = 0;
  int64_t flushes = 0;
  // Flushes that ended with spans not handed over or bytes undelivered.
  int64_t flushes_incomplete = 0;
  // What the last flush left undelivered (kept for the next one).
  int64_t undelivered_bytes = 0;
};

class ExtensionLifecycle final {
 public:
  explicit ExtensionLifecycle(const LifecycleOptions& options) : options_(options) {}

  // Init is over. `runtime_done_available`: the Telemetry API subscription
  // succeeded, so platform.runtimeDone will mark the end of each invoke.
  void Ready(bool runtime_done_available);

  Step OnInvoke(const LifecycleEvent& event, absl::Time now);
  // platform.runtimeDone of the current invoke arrived.
  Step OnRuntimeDone(absl::Time now);
  // The wait for runtimeDone reached its `until`.
  Step OnWaitExpired(absl::Time now);
  Step OnShutdown(const LifecycleEvent& event, absl::Time now);
  // The flush asked for by the last kFlush step is over.
  Step OnFlushed(const FlushResult& result, absl::Time now);

  LifecycleState state() const { return state_; }
  const LifecycleStats& stats() const { return stats_; }
  bool runtime_done_available() const { return runtime_done_available_; }

 private:
  Step FlushInvoke(absl::Time now);

  const LifecycleOptions options_;
  LifecycleState state_ = LifecycleState::kStarting;
  bool runtime_done_available_ = false;
  std::string request_id_;
  absl::Time invoke_deadline_ = absl::InfiniteFuture();
  LifecycleStats stats_;
};

}  // namespace gateway::lambda
