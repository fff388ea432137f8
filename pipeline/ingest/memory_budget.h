// Admission control by bytes in flight.
//
// A receiver admits a request only while the bytes already accepted and not
// yet delivered (or given up) are under the limit; every stage that finishes
// with bytes releases them. The limit is soft by at most one request per
// concurrent caller: what is admitted is never refused later.
//
//   MemoryBudget budget(256 << 20);
//   if (!budget.TryAdmit(body.size())) return Overloaded();
//   ...                       // later, on another thread
//   budget.Release(n);
//
// Thread-safe, lock-free; any number of threads may admit and release.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace gateway {

class MemoryBudget final {
 public:
  explicit MemoryBudget(int64_t limit_bytes) : limit_(limit_bytes) {}

  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Admits `bytes` if the bytes in flight are below the limit. A request
  // larger than the whole limit is admitted only when nothing is in flight,
  // so it cannot starve.
  // Refuses everything while under pressure (SetPressure).
  bool TryAdmit(int64_t bytes) {
    if (pressure_.load(std::memory_order_relaxed)) return false;
    int64_t current = in_flight_.load(std::memory_order_relaxed);
    while (true) {
      if (current > 0 && current + bytes > limit_) return false;
      if (in_flight_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  // Adds bytes that must be carried whatever the limit (e.g. replayed from
  // the persistent queue at start-up).
  void ForceAdmit(int64_t bytes) { in_flight_.fetch_add(bytes, std::memory_order_relaxed); }

  void Release(int64_t bytes) { in_flight_.fetch_sub(bytes, std::memory_order_relaxed); }

  int64_t InFlight() const { return in_flight_.load(std::memory_order_relaxed); }
  int64_t Limit() const { return limit_; }

  // Set by whatever watches the process as a whole (MemoryGuard): while on,
  // TryAdmit refuses whatever is in flight. Bytes already admitted are
  // unaffected.
  void SetPressure(bool on) { pressure_.store(on, std::memory_order_relaxed); }
  bool UnderPressure() const { return pressure_.load(std::memory_order_relaxed); }

  // Whether TryAdmit would currently admit a small request.
  bool HasRoom() const { return !UnderPressure() && InFlight() < Limit(); }
  // Whether TryAdmit would currently admit `bytes`, pressure aside.
  bool Fits(int64_t bytes) const {
    const int64_t current = InFlight();
    return current == 0 || current + std::max<int64_t>(bytes, 1) <= limit_;
  }

 private:
  const int64_t limit_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> pressure_{false};
};

}  // namespace gateway
