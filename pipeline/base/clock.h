// An injectable source of time, so that hold windows, retries and batching
// deadlines run on simulated time in tests.
//
//   std::unique_ptr<Clock> clock = NewRealClock();
//   absl::Time now = clock->Now();
#pragma once

#include <memory>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gateway {

class Clock {
 public:
  virtual ~Clock() = default;
  // Thread-safe.
  virtual absl::Time Now() const = 0;
};

// The process's wall clock (absl::Now()).
std::unique_ptr<Clock> NewRealClock();

// A process-wide real clock, for wiring code that needs a Clock& with static
// lifetime.
Clock& RealClock();

}  // namespace gateway
