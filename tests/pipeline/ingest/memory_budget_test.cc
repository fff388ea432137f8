#include "pipeline/ingest/memory_budget.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(MemoryBudgetTest, AdmitsWhileUnderTheLimitAndReleases) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.TryAdmit(60));
  EXPECT_TRUE(budget.TryAdmit(40));
  EXPECT_EQ(budget.InFlight(), 100);
  EXPECT_FALSE(budget.HasRoom());
  EXPECT_FALSE(budget.TryAdmit(1));
  budget.Release(40);
  EXPECT_TRUE(budget.HasRoom());
  EXPECT_TRUE(budget.TryAdmit(40));
  EXPECT_FALSE(budget.TryAdmit(1));
  budget.Release(100);
  EXPECT_EQ(budget.InFlight(), 0);
}

TEST(MemoryBudgetTest, RequestLargerThanTheLimitIsAdmittedOnlyAlone) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.TryAdmit(10));
  EXPECT_FALSE(budget.TryAdmit(500));
  budget.Release(10);
  EXPECT_TRUE(budget.TryAdmit(500));  // nothing in flight: it cannot starve
  EXPECT_FALSE(budget.TryAdmit(1));
  budget.Release(500);
}

TEST(MemoryBudgetTest, FitsAnswersAsTryAdmitWouldWithoutAdmitting) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.Fits(500));  // nothing in flight
  ASSERT_TRUE(budget.TryAdmit(70));
  EXPECT_TRUE(budget.Fits(30));
  EXPECT_FALSE(budget.Fits(31));
  EXPECT_TRUE(budget.Fits(0));
  EXPECT_EQ(budget.InFlight(), 70);
  ASSERT_TRUE(budget.TryAdmit(30));
  EXPECT_FALSE(budget.Fits(0));  // full: not even an empty body
  budget.Release(100);
}

TEST(MemoryBudgetTest, PressureRefusesEverythingButKeepsWhatWasAdmitted) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryAdmit(10));
  budget.SetPressure(true);
  EXPECT_TRUE(budget.UnderPressure());
  EXPECT_FALSE(budget.TryAdmit(1));
  EXPECT_FALSE(budget.HasRoom());
  EXPECT_EQ(budget.InFlight(), 10);
  budget.SetPressure(false);
  EXPECT_TRUE(budget.TryAdmit(1));
}

TEST(MemoryBudgetTest, ForceAdmitIgnoresTheLimit) {
  MemoryBudget budget(100);
  budget.ForceAdmit(250);
  EXPECT_EQ(budget.InFlight(), 250);
  EXPECT_FALSE(budget.TryAdmit(1));
  budget.Release(250);
  EXPECT_TRUE(budget.TryAdmit(1));
}

// The bound is soft by at most one request per concurrent caller, and every
// admitted byte comes back.
TEST(MemoryBudgetTest, ConcurrentCallersStayWithinOneRequestEachOfTheLimit) {
  constexpr int kThreads = 4;
  constexpr int64_t kLimit = 1000;
  constexpr int64_t kRequest = 64;
  MemoryBudget budget(kLimit);
  std::atomic<int64_t> peak{0};
  std::atomic<int64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!budget.TryAdmit(kRequest)) continue;
        admitted.fetch_add(1, std::memory_order_relaxed);
        int64_t now = budget.InFlight();
        int64_t seen = peak.load(std::memory_order_relaxed);
        while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
        }
        budget.Release(kRequest);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GT(admitted.load(), 0);
  EXPECT_LE(peak.load(), kLimit + kThreads * kRequest);
  EXPECT_EQ(budget.InFlight(), 0);
}

// AwaitRoomFor: the timeouts below are an hour, so a wake-up that never
// comes shows as the test's own timeout, not as a flaky time bound.
TEST(MemoryBudgetTest, AwaitRoomForReturnsAtOnceWhenTheRequestFits) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryAdmit(60));
  budget.AwaitRoomFor(40, absl::Hours(1));  // 60 + 40 fits
  budget.Release(60);
  budget.AwaitRoomFor(1000, absl::Hours(1));  // nothing in flight: anything fits
}

TEST(MemoryBudgetTest, AwaitRoomForGivesUpAfterItsTimeoutWithoutRoom) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryAdmit(100));
  budget.AwaitRoomFor(50, absl::Milliseconds(1));
  EXPECT_FALSE(budget.Fits(50));
}

TEST(MemoryBudgetTest, TheReleaseThatMakesRoomWakesEveryWaiter) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryAdmit(100));
  std::vector<std::thread> waiters;
  std::atomic<int> woken{0};
  for (int64_t bytes : {10, 50}) {
    waiters.emplace_back([&budget, &woken, bytes] {
      // Spurious returns are allowed; a waiter returns for good once it fits.
      while (!budget.Fits(bytes)) budget.AwaitRoomFor(bytes, absl::Hours(1));
      woken.fetch_add(1);
    });
  }
  budget.Release(5);   // room for neither: 95 + 10 > 100
  budget.Release(45);  // room for both: 50 + 50 <= 100
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(woken.load(), 2);
}

}  // namespace
}  // namespace gateway
