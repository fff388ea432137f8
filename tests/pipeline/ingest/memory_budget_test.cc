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

}  // namespace
}  // namespace gateway
