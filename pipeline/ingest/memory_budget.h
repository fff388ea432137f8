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
// A thread that has to wait for room (AdmissionWaitlist) sleeps in
// AwaitRoomFor instead of polling, and the Release that makes room wakes it:
//
//   while (!budget.TryAdmit(n)) budget.AwaitRoomFor(n, absl::Milliseconds(1));
//
// Thread-safe; any number of threads may admit, release and wait. Admitting
// and releasing are lock-free; a Release takes a mutex only when it brings
// the bytes in flight down to where a waiter asked to be woken.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>

#include "absl/time/time.h"
#include "pipeline/base/sync.h"

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

  // Wakes the threads in AwaitRoomFor when this leaves room for them. The
  // read-modify-write and the load that follows are sequentially consistent
  // (free on x86-64, where the subtraction is a locked instruction anyway),
  // so that either this Release sees a waiter's threshold or the waiter sees
  // the bytes released.
  void Release(int64_t bytes) {
    const int64_t now = in_flight_.fetch_sub(bytes, std::memory_order_seq_cst) - bytes;
    if (now <= wake_at_.load(std::memory_order_seq_cst)) [[unlikely]] WakeWaiters();
  }

  // Returns when a request of `bytes` fits (Fits), at once if it does now,
  // or after `timeout`, whichever comes first; spurious returns are allowed
  // (another waiter's room, or pressure), so callers try to admit again and
  // wait again. Room that comes back as pressure ends is not signalled: the
  // timeout bounds that wait.
  void AwaitRoomFor(int64_t bytes, absl::Duration timeout) {
    const int64_t threshold = std::max<int64_t>(limit_ - std::max<int64_t>(bytes, 1), 0);
    MutexLock lock(&wait_mu_);
    const uint64_t seen = wakes_;
    ++waiters_;
    // The least demanding waiter's threshold: every waiter is woken at least
    // when its own room comes, and re-checks.
    if (threshold > wake_at_.load(std::memory_order_relaxed)) wake_at_.store(threshold, std::memory_order_seq_cst);
    if (in_flight_.load(std::memory_order_seq_cst) > threshold) {
      wait_mu_.AwaitWithTimeout([this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wait_mu_) { return wakes_ != seen; },
                                timeout);
    }
    if (--waiters_ == 0) wake_at_.store(kNobodyWaits, std::memory_order_relaxed);
  }

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
  static constexpr int64_t kNobodyWaits = std::numeric_limits<int64_t>::min();

  void WakeWaiters() {
    MutexLock lock(&wait_mu_);
    if (waiters_ == 0) return;
    ++wakes_;
    // Until a waiter arms it again: the Releases that follow stay lock-free.
    wake_at_.store(kNobodyWaits, std::memory_order_relaxed);
  }

  const int64_t limit_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> pressure_{false};
  // A Release that brings in_flight_ to this or below wakes the waiters.
  std::atomic<int64_t> wake_at_{kNobodyWaits};
  Mutex wait_mu_;
  int waiters_ ABSL_GUARDED_BY(wait_mu_) = 0;
  uint64_t wakes_ ABSL_GUARDED_BY(wait_mu_) = 0;
};

}  // namespace gateway
