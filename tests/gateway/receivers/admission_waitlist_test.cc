#include "gateway/receivers/admission_waitlist.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/sync.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_ingest.h"

namespace gateway {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(10);  // only a failing test waits this long

IngestResult NoRoom() {
  IngestResult result{IngestOutcome::kOverloaded, 0, "gateway memory limit reached", absl::Seconds(1)};
  result.no_room = true;
  return result;
}

// An Ingest whose room is counted in requests: each admitted request takes
// one unit, tests add units.
class RoomyIngest {
 public:
  explicit RoomyIngest(testing::FakeIngest& ingest) {
    ingest.SetHook([this](Signal, const std::string& body) {
      MutexLock lock(&mu_);
      if (room_ == 0) return NoRoom();
      --room_;
      admitted_.push_back(body);
      return IngestResult{};
    });
  }
  void AddRoom(int n) {
    MutexLock lock(&mu_);
    room_ += n;
  }
  std::vector<std::string> Admitted() const {
    MutexLock lock(&mu_);
    return admitted_;
  }

 private:
  mutable Mutex mu_;
  int room_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> admitted_ ABSL_GUARDED_BY(mu_);
};

// Collects the outcomes handed to `done`, in the order they came.
class Outcomes {
 public:
  AdmissionWaitlist::Done Record(std::string name) {
    return [this, name = std::move(name)](IngestResult result) {
      MutexLock lock(&mu_);
      done_.push_back({name, result.outcome});
    };
  }
  bool WaitFor(size_t n) const {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_.size() >= n; }, kPatience);
  }
  std::vector<std::pair<std::string, IngestOutcome>> Done() const {
    MutexLock lock(&mu_);
    return done_;
  }

 private:
  mutable Mutex mu_;
  std::vector<std::pair<std::string, IngestOutcome>> done_ ABSL_GUARDED_BY(mu_);
};

class AdmissionWaitlistTest : public ::testing::Test {
 protected:
  std::unique_ptr<AdmissionWaitlist> Start(AdmissionWaitlistOptions options = {}) {
    return std::make_unique<AdmissionWaitlist>(ingest_, options, clock_, metrics_);
  }
  int64_t Waits(const char* outcome) const {
    return metrics_.CounterValue("gateway_admission_waits_total", {{"transport", "grpc"}, {"outcome", outcome}});
  }

  testing::FakeIngest ingest_;
  testing::FakeClock clock_;
  MetricsRegistry metrics_;
  Outcomes outcomes_;
};

TEST_F(AdmissionWaitlistTest, WithRoomTheRequestIsAcceptedOnTheCallersThread) {
  auto waitlist = Start();
  waitlist->Submit(Signal::kTraces, "body", absl::InfiniteFuture(), outcomes_.Record("a"));
  // No wait: done ran before Submit returned.
  ASSERT_EQ(outcomes_.Done().size(), 1u);
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kAccepted);
  EXPECT_EQ(ingest_.Calls()[0].request, "body");
  EXPECT_EQ(waitlist->Waiting(), 0);
}

TEST_F(AdmissionWaitlistTest, ARequestWaitsForRoomAndIsAcceptedWhole) {
  RoomyIngest room(ingest_);
  auto waitlist = Start();
  waitlist->Submit(Signal::kTraces, "first body", absl::InfiniteFuture(), outcomes_.Record("a"));
  EXPECT_TRUE(outcomes_.Done().empty());
  EXPECT_EQ(waitlist->Waiting(), 1);
  room.AddRoom(1);
  ASSERT_TRUE(outcomes_.WaitFor(1));
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kAccepted);
  EXPECT_EQ(room.Admitted(), std::vector<std::string>{"first body"});
  EXPECT_EQ(Waits("admitted"), 1);
  EXPECT_EQ(waitlist->Waiting(), 0);
}

TEST_F(AdmissionWaitlistTest, TheReleaseThatMakesRoomWakesTheWaitlistBeforeItsNextPoll) {
  RoomyIngest room(ingest_);
  AdmissionWaitlistOptions options;
  options.max_wait = absl::Hours(2);
  options.poll = absl::Hours(1);  // only a wake-up from the Ingest can end the wait in time
  auto waitlist = Start(options);
  waitlist->Submit(Signal::kTraces, "waiting body", absl::InfiniteFuture(), outcomes_.Record("a"));
  // The waitlist's thread offers it once more, then waits for room.
  const absl::Time give_up = absl::Now() + kPatience;
  while (ingest_.RoomAwaited().empty() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_FALSE(ingest_.RoomAwaited().empty());
  EXPECT_EQ(ingest_.RoomAwaited()[0], static_cast<int64_t>(std::string("waiting body").size()));
  room.AddRoom(1);
  ingest_.SignalRoom();
  ASSERT_TRUE(outcomes_.WaitFor(1));
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kAccepted);
  EXPECT_EQ(room.Admitted(), std::vector<std::string>{"waiting body"});
}

TEST_F(AdmissionWaitlistTest, TheOldestIsAdmittedFirst) {
  RoomyIngest room(ingest_);
  auto waitlist = Start();
  for (const char* name : {"a", "b", "c"}) {
    waitlist->Submit(Signal::kTraces, name, absl::InfiniteFuture(), outcomes_.Record(name));
  }
  EXPECT_EQ(waitlist->Waiting(), 3);
  // Room for one at a time: each must go to the oldest waiting.
  for (size_t n = 1; n <= 3; ++n) {
    room.AddRoom(1);
    ASSERT_TRUE(outcomes_.WaitFor(n));
  }
  // Room for a newcomer while others wait goes to those waiting first.
  waitlist->Submit(Signal::kTraces, "d", absl::InfiniteFuture(), outcomes_.Record("d"));
  room.AddRoom(1);
  ASSERT_TRUE(outcomes_.WaitFor(4));
  EXPECT_EQ(room.Admitted(), (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST_F(AdmissionWaitlistTest, AfterMaxWaitTheRequestGetsTheLastOfferAndItsAnswer) {
  RoomyIngest room(ingest_);
  auto waitlist = Start({.max_wait = absl::Milliseconds(500)});
  waitlist->Submit(Signal::kTraces, "x", absl::InfiniteFuture(), outcomes_.Record("x"));
  clock_.Advance(absl::Milliseconds(400));
  EXPECT_EQ(waitlist->Waiting(), 1);
  clock_.Advance(absl::Milliseconds(101));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kOverloaded);
  EXPECT_EQ(Waits("timed_out"), 1);
  EXPECT_EQ(Waits("admitted"), 0);
  EXPECT_EQ(metrics_.CounterValue("gateway_admission_wait_microseconds_total", {{"transport", "grpc"}}), 501'000);
}

TEST_F(AdmissionWaitlistTest, AClientDeadlineShortensTheWaitToHalfOfWhatIsLeft) {
  RoomyIngest room(ingest_);
  auto waitlist = Start({.max_wait = absl::Seconds(5)});
  waitlist->Submit(Signal::kTraces, "x", clock_.Now() + absl::Milliseconds(200), outcomes_.Record("x"));
  EXPECT_EQ(waitlist->Waiting(), 1);
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kOverloaded);
  // A client already past its deadline does not wait at all.
  waitlist->Submit(Signal::kTraces, "y", clock_.Now(), outcomes_.Record("y"));
  ASSERT_EQ(outcomes_.Done().size(), 2u);
  EXPECT_EQ(Waits("no_wait"), 1);
}

TEST_F(AdmissionWaitlistTest, WhatDoesNotFitUnderTheByteBoundIsAnsweredAtOnce) {
  RoomyIngest room(ingest_);
  auto waitlist = Start({.max_wait = absl::Seconds(1), .max_waiting_bytes = 10});
  waitlist->Submit(Signal::kTraces, "12345678", absl::InfiniteFuture(), outcomes_.Record("fits"));
  waitlist->Submit(Signal::kTraces, "123", absl::InfiniteFuture(), outcomes_.Record("does not"));
  ASSERT_EQ(outcomes_.Done().size(), 1u);
  EXPECT_EQ(outcomes_.Done()[0].first, "does not");
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kOverloaded);
  EXPECT_EQ(Waits("no_wait"), 1);
  room.AddRoom(1);
  ASSERT_TRUE(outcomes_.WaitFor(2));
  // Once that one is admitted, its bytes are free again.
  waitlist->Submit(Signal::kTraces, "1234567890", absl::InfiniteFuture(), outcomes_.Record("now fits"));
  EXPECT_EQ(waitlist->Waiting(), 1);
  room.AddRoom(1);
  ASSERT_TRUE(outcomes_.WaitFor(3));
  EXPECT_EQ(room.Admitted(), (std::vector<std::string>{"12345678", "1234567890"}));
}

TEST_F(AdmissionWaitlistTest, StopGivesEveryWaitingRequestItsLastOffer) {
  RoomyIngest room(ingest_);
  auto waitlist = Start();
  waitlist->Submit(Signal::kTraces, "a", absl::InfiniteFuture(), outcomes_.Record("a"));
  waitlist->Submit(Signal::kLogs, "b", absl::InfiniteFuture(), outcomes_.Record("b"));
  room.AddRoom(0);
  waitlist->Stop();
  // Stop returns once each has its answer (here: still no room).
  ASSERT_EQ(outcomes_.Done().size(), 2u);
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kOverloaded);
  EXPECT_EQ(Waits("shutdown"), 2);
  // Later requests do not wait.
  waitlist->Submit(Signal::kTraces, "c", absl::InfiniteFuture(), outcomes_.Record("c"));
  EXPECT_EQ(outcomes_.Done().size(), 3u);
  EXPECT_EQ(waitlist->Waiting(), 0);
}

TEST_F(AdmissionWaitlistTest, WithoutMaxWaitNothingWaits) {
  ingest_.SetResult(NoRoom());
  auto waitlist = Start({.max_wait = absl::ZeroDuration()});
  waitlist->Submit(Signal::kTraces, "a", absl::InfiniteFuture(), outcomes_.Record("a"));
  ASSERT_EQ(outcomes_.Done().size(), 1u);
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kOverloaded);
  EXPECT_EQ(ingest_.CallCount(), 1u);
}

TEST_F(AdmissionWaitlistTest, OtherOutcomesAreAnsweredAtOnce) {
  auto waitlist = Start();
  ingest_.SetResult({IngestOutcome::kInvalid, 0, "bad", absl::ZeroDuration()});
  waitlist->Submit(Signal::kTraces, "a", absl::InfiniteFuture(), outcomes_.Record("a"));
  ingest_.SetResult({IngestOutcome::kOverloaded, 0, "persistent queue full", absl::Seconds(5)});  // not no_room
  waitlist->Submit(Signal::kTraces, "b", absl::InfiniteFuture(), outcomes_.Record("b"));
  ASSERT_EQ(outcomes_.Done().size(), 2u);
  EXPECT_EQ(outcomes_.Done()[0].second, IngestOutcome::kInvalid);
  EXPECT_EQ(outcomes_.Done()[1].second, IngestOutcome::kOverloaded);
  EXPECT_EQ(waitlist->Waiting(), 0);
}

// Many submitters while room comes and goes: every request gets exactly one
// answer, and every accepted body is one that was submitted, once.
TEST_F(AdmissionWaitlistTest, ConcurrentSubmittersEachGetOneAnswer) {
  RoomyIngest room(ingest_);
  auto waitlist = Start({.max_wait = absl::Seconds(30)});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::atomic<int> answered{0};
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        waitlist->Submit(Signal::kTraces, absl::StrCat(t, "/", i), absl::InfiniteFuture(),
                         [&](IngestResult result) {
                           answered.fetch_add(1);
                           if (result.outcome == IngestOutcome::kAccepted) accepted.fetch_add(1);
                         });
        if (i % 10 == 0) room.AddRoom(8);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  room.AddRoom(kThreads * kPerThread);
  waitlist->Stop();
  EXPECT_EQ(answered.load(), kThreads * kPerThread);
  std::vector<std::string> admitted = room.Admitted();
  EXPECT_EQ(static_cast<int>(admitted.size()), accepted.load());
  EXPECT_EQ(std::set<std::string>(admitted.begin(), admitted.end()).size(), admitted.size());
  // Everything was admitted: the room added at the end covers every request,
  // and Stop offers what still waits once more.
  EXPECT_EQ(accepted.load(), kThreads * kPerThread);
}

}  // namespace
}  // namespace gateway
