// An in-memory FateStore whose test can take it down, make it slow (a round
// trip blocks until released or its timeout passes) and see every round
// trip it served. TTLs are recorded, not applied.
//
//   auto owned = std::make_unique<FakeFateStore>();
//   FakeFateStore& store = *owned;
//   store.Put({trace_b, producer_b}, trace_a);
//   store.SetDown(true);                 // round trips fail with kUnavailable
//   store.BlockRoundTrips(true);         // round trips wait for Unblock / their timeout
//   std::vector<FakeFateStore::Trip> trips = store.Trips();
//
// Thread-safe: the client's thread calls RoundTrip, the test the rest.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "pipeline/base/sync.h"
#include "pipeline/reparent/fate_store.h"

namespace gateway::testing {

class FakeFateStore final : public FateStore {
 public:
  struct Trip {
    size_t published = 0;
    size_t looked_up = 0;
    bool ok = true;
  };

  absl::Status RoundTrip(absl::Span<const StoredFate> publish, absl::Duration ttl,
                         absl::Span<const StoredFateKey> lookup, absl::Duration timeout,
                         std::vector<std::optional<TraceId>>* found) override {
    found->clear();
    MutexLock lock(&mu_);
    ++in_round_trip_;
    // Waiting releases the lock without waking WaitBlocked; an unlock does.
    mu_.Unlock();
    mu_.Lock();
    const bool released = mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !blocked_; },
                                               timeout);
    --in_round_trip_;
    if (!released) {
      trips_.push_back({publish.size(), lookup.size(), false});
      return absl::DeadlineExceededError("fake: timed out");
    }
    if (down_) {
      trips_.push_back({publish.size(), lookup.size(), false});
      return absl::UnavailableError("fake: down");
    }
    trips_.push_back({publish.size(), lookup.size(), true});
    last_ttl_ = ttl;
    for (const StoredFate& record : publish) fates_[record.query] = record.new_trace;
    for (const StoredFateKey& query : lookup) {
      auto it = fates_.find(query);
      found->push_back(it == fates_.end() ? std::nullopt : std::optional<TraceId>(it->second));
    }
    return absl::OkStatus();
  }

  std::string Describe() const override { return "fake"; }

  void Put(const StoredFateKey& query, const TraceId& new_trace) {
    MutexLock lock(&mu_);
    fates_[query] = new_trace;
  }
  std::optional<TraceId> Get(const StoredFateKey& query) const {
    MutexLock lock(&mu_);
    auto it = fates_.find(query);
    return it == fates_.end() ? std::nullopt : std::optional<TraceId>(it->second);
  }
  size_t Size() const {
    MutexLock lock(&mu_);
    return fates_.size();
  }
  void SetDown(bool down) {
    MutexLock lock(&mu_);
    down_ = down;
  }
  void BlockRoundTrips(bool blocked) {
    MutexLock lock(&mu_);
    blocked_ = blocked;
  }
  // True once a round trip is waiting in BlockRoundTrips, within `timeout`.
  bool WaitBlocked(absl::Duration timeout) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_round_trip_ > 0; }, timeout);
  }
  std::vector<Trip> Trips() const {
    MutexLock lock(&mu_);
    return trips_;
  }
  absl::Duration LastTtl() const {
    MutexLock lock(&mu_);
    return last_ttl_;
  }

 private:
  mutable Mutex mu_;
  absl::flat_hash_map<StoredFateKey, TraceId> fates_ ABSL_GUARDED_BY(mu_);
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  int in_round_trip_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Trip> trips_ ABSL_GUARDED_BY(mu_);
  absl::Duration last_ttl_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gateway::testing
