#include "pipeline/ingest/memory_guard.h"

#include <atomic>
#include <cstdint>

#include "gtest/gtest.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/ingest/resident_memory.h"
#include "tests/fakes/fake_resident_memory.h"

namespace gateway {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

using ::gateway::testing::FakeResidentMemory;

class MemoryGuardTest : public ::testing::Test {
 protected:
  MemoryGuardTest() : budget_(64 * kMiB) {
    options_.limit_bytes = 100 * kMiB;
    options_.trim_fraction = 0.80;
    options_.refuse_fraction = 0.95;
    options_.resume_fraction = 0.90;
    options_.min_trim_interval = absl::Seconds(1);
  }

  MemoryGuard MakeGuard() {
    return MemoryGuard(options_, memory_, budget_, metrics_, [this] {
      ++trims_;
      memory_.bytes -= freed_by_trim_;
    });
  }

  MemoryGuardOptions options_;
  FakeResidentMemory memory_;
  MemoryBudget budget_;
  MetricsRegistry metrics_;
  int trims_ = 0;
  int64_t freed_by_trim_ = 0;
  const absl::Time t0_ = absl::FromUnixSeconds(1700000000);
};

TEST_F(MemoryGuardTest, BelowTheTrimMarkNothingHappens) {
  MemoryGuard guard = MakeGuard();
  memory_.bytes = 79 * kMiB;
  guard.Sample(t0_);
  EXPECT_EQ(trims_, 0);
  EXPECT_FALSE(budget_.UnderPressure());
  EXPECT_TRUE(budget_.TryAdmit(kMiB));
  EXPECT_EQ(guard.LastResidentBytes(), 79 * kMiB);
}

TEST_F(MemoryGuardTest, PastTheTrimMarkFreedHeapIsReturnedAtMostOncePerInterval) {
  MemoryGuard guard = MakeGuard();
  memory_.bytes = 85 * kMiB;
  guard.Sample(t0_);
  guard.Sample(t0_ + absl::Milliseconds(500));
  EXPECT_EQ(trims_, 1);
  guard.Sample(t0_ + absl::Seconds(1));
  EXPECT_EQ(trims_, 2);
  EXPECT_EQ(metrics_.CounterValue("gateway_memory_trims_total"), 2);
  EXPECT_FALSE(budget_.UnderPressure());
}

TEST_F(MemoryGuardTest, PastTheRefuseMarkEveryRequestIsRefusedUntilMemoryFallsUnderTheResumeMark) {
  MemoryGuard guard = MakeGuard();
  ASSERT_TRUE(budget_.TryAdmit(kMiB));
  memory_.bytes = 96 * kMiB;
  guard.Sample(t0_);
  EXPECT_TRUE(budget_.UnderPressure());
  EXPECT_FALSE(budget_.HasRoom());
  EXPECT_FALSE(budget_.TryAdmit(1));  // even a tiny request, far under the byte budget
  EXPECT_EQ(metrics_.CounterValue("gateway_memory_pressure_total"), 1);

  // Between the resume and refuse marks: still refusing (no flapping).
  memory_.bytes = 92 * kMiB;
  guard.Sample(t0_ + absl::Seconds(2));
  EXPECT_TRUE(budget_.UnderPressure());

  memory_.bytes = 89 * kMiB;
  guard.Sample(t0_ + absl::Seconds(4));
  EXPECT_FALSE(budget_.UnderPressure());
  EXPECT_TRUE(budget_.TryAdmit(1));
  EXPECT_EQ(metrics_.CounterValue("gateway_memory_pressure_total"), 1);
}

TEST_F(MemoryGuardTest, ATrimThatBringsMemoryDownAvoidsRefusing) {
  MemoryGuard guard = MakeGuard();
  memory_.bytes = 97 * kMiB;
  freed_by_trim_ = 20 * kMiB;
  guard.Sample(t0_);
  EXPECT_EQ(trims_, 1);
  EXPECT_FALSE(budget_.UnderPressure());
  EXPECT_EQ(guard.LastResidentBytes(), 77 * kMiB);
}

TEST_F(MemoryGuardTest, AnUnreadableResidentSizeChangesNothing) {
  MemoryGuard guard = MakeGuard();
  memory_.bytes = -1;
  guard.Sample(t0_);
  EXPECT_EQ(trims_, 0);
  EXPECT_FALSE(budget_.UnderPressure());
}

TEST_F(MemoryGuardTest, StopLiftsThePressure) {
  MemoryGuard guard = MakeGuard();
  memory_.bytes = 99 * kMiB;
  guard.Sample(t0_);
  ASSERT_TRUE(budget_.UnderPressure());
  guard.Stop();
  EXPECT_FALSE(budget_.UnderPressure());
}

TEST_F(MemoryGuardTest, ItsThreadSamplesUntilStopped) {
  options_.interval = absl::Milliseconds(1);
  MemoryGuard guard = MakeGuard();
  memory_.bytes = 99 * kMiB;
  guard.Start();
  // Bounded wait for the thread's first samples (no fixed sleep).
  for (int i = 0; i < 5000 && !budget_.UnderPressure(); ++i) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(budget_.UnderPressure());
  guard.Stop();
  EXPECT_FALSE(budget_.UnderPressure());
}

TEST_F(MemoryGuardTest, ExportsItsGauges) {
  MemoryGuard guard = MakeGuard();
  memory_.bytes = 42 * kMiB;
  guard.Sample(t0_);
  const std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(text.find("gateway_process_resident_bytes 44040192"), std::string::npos) << text;
  EXPECT_NE(text.find("gateway_process_memory_limit_bytes 104857600"), std::string::npos) << text;
}

}  // namespace
}  // namespace gateway
