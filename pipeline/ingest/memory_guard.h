// Keeps the process's resident memory under a bound.
//
// The MemoryBudget counts the telemetry bytes the pipeline holds; what it
// cannot see (the reparenting tables, per-span records, transient copies,
// the allocator's free lists, thread stacks) still counts against a
// container's memory limit. The guard samples the resident set on its own
// thread: past `trim_fraction` of the limit it hands freed heap back to the
// operating system (malloc_trim, at most every `min_trim_interval`), past
// `refuse_fraction` it puts the budget under pressure so every receiver
// pushes back (gRPC UNAVAILABLE, HTTP 503) until memory is back under
// `resume_fraction`.
//
//   MemoryGuard guard(options, *NewProcResidentMemory(), budget, registry);
//   guard.Start();
//   ...
//   guard.Stop();   // also in the destructor
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "absl/time/time.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/ingest/resident_memory.h"
#include "pipeline/base/sync.h"

namespace gateway {

struct MemoryGuardOptions {
  int64_t limit_bytes = 0;
  double trim_fraction = 0.70;
  double refuse_fraction = 0.85;
  double resume_fraction = 0.80;
  absl::Duration interval = absl::Milliseconds(10);
  absl::Duration min_trim_interval = absl::Milliseconds(250);
};

class MemoryGuard final {
 public:
  // `memory`, `budget` and `metrics` must outlive the guard. `trim` returns
  // freed memory to the OS; the default calls malloc_trim(0).
  MemoryGuard(const MemoryGuardOptions& options, ResidentMemory& memory, MemoryBudget& budget,
              MetricsRegistry& metrics, std::function<void()> trim = {});
  ~MemoryGuard();

  MemoryGuard(const MemoryGuard&) = delete;
  MemoryGuard& operator=(const MemoryGuard&) = delete;

  // Samples every options.interval on a thread of its own until Stop. A
  // stopped guard does not start again. Start and Stop: one thread at a time.
  void Start();
  // Stops sampling and lifts any pressure it had put on the budget.
  void Stop();

  // One sample at time `now`: trims and sets or clears the budget's
  // pressure. Start's thread calls it; tests call it directly (without
  // Start).
  void Sample(absl::Time now);

  int64_t LastResidentBytes() const { return last_resident_.load(std::memory_order_relaxed); }

 private:
  const MemoryGuardOptions options_;
  ResidentMemory& memory_;
  MemoryBudget& budget_;
  const std::function<void()> trim_;
  Counter* const trims_;
  Counter* const pressure_episodes_;
  std::atomic<int64_t> last_resident_{0};
  // Touched by Sample only (one thread at a time).
  absl::Time last_trim_ = absl::InfinitePast();
  absl::Time last_log_ = absl::InfinitePast();
  int64_t episodes_since_log_ = 0;

  Notification stop_;
  std::thread thread_;
};

}  // namespace gateway
