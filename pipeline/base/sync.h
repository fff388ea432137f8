// Mutex, MutexLock and Notification built on std::mutex and
// std::condition_variable, with the same surface as the absl:: types they
// replace (Lock/Unlock, MutexLock(&mu), Await*, Notify/WaitForNotification*).
//
// Why not absl::Mutex: Debian's Abseil is not built with -fsanitize=thread,
// so ThreadSanitizer cannot see absl::Mutex synchronize and reports every
// access it guards as a race. These types lock through pthreads, which TSan
// intercepts. They carry Abseil's thread-safety attributes, so
// ABSL_GUARDED_BY(mu) still means what it says under clang -Wthread-safety.
//
//   Mutex mu;
//   int n ABSL_GUARDED_BY(mu) = 0;
//   { MutexLock lock(&mu); ++n; }                  // on one thread
//   MutexLock lock(&mu);                           // on another
//   bool seen = mu.AwaitWithTimeout([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return n > 0; },
//                                   absl::Seconds(1));
//
// Await semantics are absl's: the condition is re-checked whenever another
// thread releases the mutex, so code that changes guarded state only has to
// unlock (no separate notify). Unlock wakes waiters only if there are any.
// Thread-safe: any number of threads.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gateway {

class ABSL_LOCKABLE Mutex final {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }

  // Wakes the threads in Await* (if any) so they re-check their conditions.
  // The notify happens before the unlock so a waiter that times out and
  // destroys this Mutex cannot race with it.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    if (waiters_ > 0) changed_.notify_all();
    mu_.unlock();
  }

  // Releases the mutex until `condition()` holds; returns with it held.
  // `condition` is called with the mutex held.
  template <typename Condition>
  void Await(Condition condition) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    ++waiters_;
    while (!condition()) changed_.wait(lock);
    --waiters_;
    lock.release();
  }

  // Like Await, but gives up after `timeout`. Returns condition() at return.
  template <typename Condition>
  bool AwaitWithTimeout(Condition condition, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    if (timeout == absl::InfiniteDuration()) {
      Await(condition);
      return true;
    }
    // Clamped so that now() + timeout cannot overflow.
    timeout = std::clamp(timeout, absl::ZeroDuration(), absl::Hours(24 * 365));
    return AwaitUntil(condition, std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout));
  }

  // Like Await, but gives up at `deadline`. Returns condition() at return.
  template <typename Condition>
  bool AwaitWithDeadline(Condition condition, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    return AwaitWithTimeout(condition, deadline == absl::InfiniteFuture() ? absl::InfiniteDuration()
                                                                          : deadline - absl::Now());
  }

 private:
  template <typename Condition>
  bool AwaitUntil(Condition& condition, std::chrono::steady_clock::time_point deadline)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    ++waiters_;
    bool met = condition();
    while (!met && changed_.wait_until(lock, deadline) != std::cv_status::timeout) met = condition();
    if (!met) met = condition();
    --waiters_;
    lock.release();
    return met;
  }

  std::mutex mu_;
  std::condition_variable changed_;
  int waiters_ = 0;  // threads in Await*; guarded by mu_
};

// Holds a Mutex for its scope, like absl::MutexLock.
class ABSL_SCOPED_LOCKABLE MutexLock final {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }

  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A one-shot event, like absl::Notification: Notify() once, any number of
// threads wait. Everything written before Notify() is visible to a thread
// that saw it notified.
class Notification final {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  void Notify() {
    MutexLock lock(&mu_);
    notified_ = true;
  }

  bool HasBeenNotified() const {
    MutexLock lock(&mu_);
    return notified_;
  }

  void WaitForNotification() const {
    MutexLock lock(&mu_);
    mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; });
  }

  // Returns whether it was notified within `timeout`.
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; }, timeout);
  }

 private:
  mutable Mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gateway
