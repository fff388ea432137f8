#include "pipeline/reparent/fate_store_client.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/sync.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_fate_store.h"

namespace gateway {
namespace {

using testing::FakeFateStore;

TraceId Trace(uint64_t n) {
  TraceId t;
  for (int i = 0; i < 8; ++i) t.bytes[15 - i] = static_cast<uint8_t>(n >> (8 * i));
  t.bytes[0] = 0x7f;
  return t;
}
SpanId Span(uint64_t n) {
  SpanId s;
  for (int i = 0; i < 8; ++i) s.bytes[7 - i] = static_cast<uint8_t>(n >> (8 * i));
  s.bytes[0] |= 0x01;
  return s;
}
StoredFateKey Query(uint64_t n) { return StoredFateKey{Trace(n), Span(n)}; }

// Collects the answers delivered to one reply queue.
class Answers {
 public:
  Answers() : replies_(std::make_shared<FateStoreReplies>([this] { MutexLock lock(&mu_); ++wakes_; })) {}

  FateStoreLookup Lookup(uint64_t id, std::vector<StoredFateKey> queries, absl::Time deadline) {
    return FateStoreLookup{id, std::move(queries), deadline, replies_};
  }

  // Waits (real time, bounded) until `n` answers in all have arrived.
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      FateStoreAnswer answer;
      while (replies_->TryTake(&answer)) taken_.push_back(std::move(answer));
      if (taken_.size() >= n) return true;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return false;
  }
  const std::vector<FateStoreAnswer>& taken() const { return taken_; }
  int wakes() {
    MutexLock lock(&mu_);
    return wakes_;
  }

 private:
  Mutex mu_;
  int wakes_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<FateStoreReplies> replies_;
  std::vector<FateStoreAnswer> taken_;
};

class FateStoreClientTest : public ::testing::Test {
 protected:
  FateStoreClientTest() {
    // The fake clock stands still unless a test moves it: no lingering.
    options_.lookup_linger = absl::ZeroDuration();
    options_.publish_linger = absl::ZeroDuration();
  }

  void Start() {
    auto store = std::make_unique<FakeFateStore>();
    store_ = store.get();
    client_ = std::make_unique<FateStoreClient>(options_, std::move(store), metrics_, clock_);
  }
  int64_t Lookups(const std::string& result) const {
    return metrics_.CounterValue("gateway_fate_store_lookups_total", {{"result", result}});
  }
  bool WaitTrips(size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (store_->Trips().size() < n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

  FateStoreClientOptions options_;
  testing::FakeClock clock_;
  MetricsRegistry metrics_;
  FakeFateStore* store_ = nullptr;
  std::unique_ptr<FateStoreClient> client_;
};

TEST_F(FateStoreClientTest, LookupsArrivingDuringARoundTripShareTheNextOne) {
  options_.timeout = absl::Seconds(30);
  Start();
  store_->Put(Query(7), Trace(1));
  store_->BlockRoundTrips(true);
  client_->Submit({StoredFate{Query(1), Trace(1)}}, {});
  ASSERT_TRUE(store_->WaitBlocked(absl::Seconds(10)));
  Answers answers;
  // 4 threads x 25 lookups, all asking query 7 and one of their own.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const uint64_t id = static_cast<uint64_t>(t * 100 + i);
        client_->Submit({}, {answers.Lookup(id, {Query(7), Query(1000 + id)}, clock_.Now() + absl::Milliseconds(1))});
      }
    });
  }
  for (auto& th : threads) th.join();
  store_->BlockRoundTrips(false);
  ASSERT_TRUE(answers.WaitFor(100));
  const std::vector<FakeFateStore::Trip> trips = store_->Trips();
  ASSERT_EQ(trips.size(), 2u);
  EXPECT_EQ(trips[0].published, 1u);
  // Query 7 asked once for all 100 lookups, plus their own: one round trip.
  EXPECT_EQ(trips[1].looked_up, 101u);
  for (const FateStoreAnswer& a : answers.taken()) {
    EXPECT_EQ(a.outcome, FateStoreAnswer::Outcome::kAnswered);
    ASSERT_EQ(a.fates.size(), 2u);
    EXPECT_EQ(a.fates[0], Trace(1));
    EXPECT_FALSE(a.fates[1].has_value());
  }
}

TEST_F(FateStoreClientTest, LookupsLingerToShareARoundTrip) {
  options_.lookup_linger = absl::Milliseconds(1);
  Start();
  Answers answers;
  for (uint64_t i = 0; i < 3; ++i) {
    client_->Submit({}, {answers.Lookup(i, {Query(10 + i)}, clock_.Now() + absl::Milliseconds(2))});
  }
  absl::SleepFor(absl::Milliseconds(100));  // real time passes; the fake clock does not
  EXPECT_TRUE(store_->Trips().empty());
  // A publish arriving meanwhile goes at once, and takes the lookups along.
  client_->Submit({StoredFate{Query(1), Trace(1)}}, {});
  ASSERT_TRUE(answers.WaitFor(3));
  const std::vector<FakeFateStore::Trip> trips = store_->Trips();
  ASSERT_EQ(trips.size(), 1u);
  EXPECT_EQ(trips[0].published, 1u);
  EXPECT_EQ(trips[0].looked_up, 3u);
  // Alone, a lookup goes once its linger has passed.
  client_->Submit({}, {answers.Lookup(9, {Query(9)}, clock_.Now() + absl::Milliseconds(2))});
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(store_->Trips().size(), 1u);
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(answers.WaitFor(4));
  EXPECT_EQ(store_->Trips().size(), 2u);
}

TEST_F(FateStoreClientTest, FlushSendsWhatLingersAndWaitsForIt) {
  options_.publish_linger = absl::Seconds(10);
  options_.lookup_linger = absl::Seconds(10);
  Start();
  Answers answers;
  client_->Submit({StoredFate{Query(1), Trace(2)}}, {answers.Lookup(1, {Query(1)}, clock_.Now() + absl::Minutes(1))});
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_TRUE(store_->Trips().empty());
  EXPECT_TRUE(client_->Flush(absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(store_->Get(Query(1)), Trace(2));
  ASSERT_TRUE(answers.WaitFor(1));
  EXPECT_EQ(store_->Trips().size(), 1u);
  // Down: the flush says so at once; the publish stays queued.
  store_->SetDown(true);
  client_->Submit({StoredFate{Query(3), Trace(4)}}, {});
  EXPECT_FALSE(client_->Flush(absl::Now() + absl::Seconds(10)));
  EXPECT_FALSE(client_->Flush(absl::Now() + absl::Seconds(10)));
  EXPECT_FALSE(store_->Get(Query(3)).has_value());
}

TEST_F(FateStoreClientTest, AbsentFatesAreAskedAgainUntilTheDeadline) {
  options_.retry_interval = absl::Milliseconds(250);
  Start();
  Answers answers;
  client_->Submit({}, {answers.Lookup(1, {Query(1)}, clock_.Now() + absl::Seconds(1)),
                       answers.Lookup(2, {Query(2)}, clock_.Now() + absl::Seconds(1))});
  ASSERT_TRUE(WaitTrips(1));
  EXPECT_EQ(answers.taken().size(), 0u);
  // Query 1's producer is published by another gateway meanwhile.
  store_->Put(Query(1), Trace(9));
  clock_.Advance(absl::Milliseconds(300));
  ASSERT_TRUE(answers.WaitFor(1));
  EXPECT_EQ(answers.taken()[0].id, 1u);
  EXPECT_EQ(answers.taken()[0].fates[0], Trace(9));
  // Query 2 never is: answered absent once the next ask would pass the deadline.
  for (int i = 0; i < 4 && answers.taken().size() < 2; ++i) {
    clock_.Advance(absl::Milliseconds(300));
    answers.WaitFor(2, absl::Milliseconds(200));
  }
  ASSERT_EQ(answers.taken().size(), 2u);
  EXPECT_EQ(answers.taken()[1].outcome, FateStoreAnswer::Outcome::kAnswered);
  EXPECT_FALSE(answers.taken()[1].fates[0].has_value());
  EXPECT_EQ(Lookups("absent"), 1);
  EXPECT_EQ(Lookups("found"), 1);
}

TEST_F(FateStoreClientTest, FatesPublishedHereAnswerWithoutARoundTrip) {
  Start();
  Answers answers;
  client_->Submit({StoredFate{Query(3), Trace(4)}}, {answers.Lookup(1, {Query(3)}, clock_.Now() + absl::Seconds(1))});
  ASSERT_TRUE(answers.WaitFor(1));
  EXPECT_EQ(answers.taken()[0].fates[0], Trace(4));
  EXPECT_EQ(Lookups("cached"), 1);
  ASSERT_TRUE(WaitTrips(1));
  EXPECT_EQ(store_->Trips()[0].looked_up, 0u);
  EXPECT_EQ(store_->Get(Query(3)), Trace(4));
  EXPECT_EQ(store_->LastTtl(), options_.ttl);
}

TEST_F(FateStoreClientTest, StoreDownAnswersAtOnceKeepsPublishesAndReconnects) {
  Start();
  store_->SetDown(true);
  client_->Submit({StoredFate{Query(5), Trace(6)}}, {});
  ASSERT_TRUE(WaitTrips(1));
  // Down: a lookup with a long deadline is answered unavailable at once
  // (fake clock frozen: no time passes for the client).
  Answers answers;
  client_->Submit({}, {answers.Lookup(1, {Query(8)}, clock_.Now() + absl::Seconds(5))});
  ASSERT_TRUE(answers.WaitFor(1, absl::Seconds(2)));
  EXPECT_EQ(answers.taken()[0].outcome, FateStoreAnswer::Outcome::kUnavailable);
  EXPECT_EQ(Lookups("unavailable"), 1);
  EXPECT_FALSE(client_->Snapshot().up);
  EXPECT_NE(client_->Snapshot().last_error.find("down"), std::string::npos);
  // Back: after the backoff the pending publish goes out.
  store_->SetDown(false);
  clock_.Advance(absl::Seconds(1));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!store_->Get(Query(5)).has_value() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  EXPECT_EQ(store_->Get(Query(5)), Trace(6));
  EXPECT_TRUE(client_->Snapshot().up);
  EXPECT_EQ(client_->Snapshot().published, 1);
}

TEST_F(FateStoreClientTest, ASlowStoreNeverBlocksSubmitAndCountsAsDown) {
  options_.timeout = absl::Milliseconds(300);
  Start();
  store_->BlockRoundTrips(true);
  Answers answers;
  client_->Submit({}, {answers.Lookup(1, {Query(1)}, clock_.Now() + absl::Seconds(5))});
  ASSERT_TRUE(store_->WaitBlocked(absl::Seconds(10)));
  // The client thread is stuck in the round trip; Submit still returns at once.
  const absl::Time start = absl::Now();
  for (int i = 0; i < 1000; ++i) client_->Submit({StoredFate{Query(100 + i), Trace(1)}}, {});
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
  // The round trip times out: the lookup is answered unavailable.
  ASSERT_TRUE(answers.WaitFor(1));
  EXPECT_EQ(answers.taken()[0].outcome, FateStoreAnswer::Outcome::kUnavailable);
  EXPECT_GE(metrics_.CounterValue("gateway_fate_store_round_trips_total", {{"result", "error"}}), 1);
}

TEST_F(FateStoreClientTest, PublishesBeyondTheBoundAreDroppedOldestFirst) {
  options_.max_pending_publishes = 10;
  Start();
  store_->SetDown(true);
  std::vector<StoredFate> many;
  for (int i = 0; i < 25; ++i) many.push_back(StoredFate{Query(i), Trace(i)});
  client_->Submit(std::move(many), {});
  ASSERT_TRUE(WaitTrips(1));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (metrics_.CounterValue("gateway_fate_store_publish_dropped_total") < 15 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(metrics_.CounterValue("gateway_fate_store_publish_dropped_total"), 15);
  store_->SetDown(false);
  clock_.Advance(absl::Seconds(1));
  while (!store_->Get(Query(24)).has_value() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  EXPECT_TRUE(store_->Get(Query(24)).has_value());
  EXPECT_FALSE(store_->Get(Query(0)).has_value());
}

TEST_F(FateStoreClientTest, ShutdownSendsWhatIsPendingAndAnswersLateLookups) {
  Start();
  store_->BlockRoundTrips(true);
  client_->Submit({StoredFate{Query(1), Trace(2)}}, {});
  ASSERT_TRUE(store_->WaitBlocked(absl::Seconds(10)));
  client_->Submit({StoredFate{Query(3), Trace(4)}}, {});
  std::thread unblock([&] {
    absl::SleepFor(absl::Milliseconds(50));
    store_->BlockRoundTrips(false);
  });
  client_->Shutdown();
  unblock.join();
  EXPECT_EQ(store_->Get(Query(3)), Trace(4));
  Answers answers;
  client_->Submit({}, {answers.Lookup(1, {Query(1)}, clock_.Now() + absl::Seconds(1))});
  ASSERT_TRUE(answers.WaitFor(1, absl::Seconds(1)));
  EXPECT_EQ(answers.taken()[0].outcome, FateStoreAnswer::Outcome::kUnavailable);
}

}  // namespace
}  // namespace gateway
