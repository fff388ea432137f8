#include "pipeline/ingest/heap_trimmer.h"

#include <malloc.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/base/allocator.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/ingest/resident_memory.h"
#include "tests/fakes/fake_resident_memory.h"

namespace gateway {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

using ::gateway::testing::FakeResidentMemory;

// A heap whose free bytes and resident set the test sets; a trim gives the
// free pages back (resident falls) but, as in glibc, leaves the free bytes
// in malloc's books.
class HeapTrimmerTest : public ::testing::Test {
 protected:
  HeapTrimmerTest() { options_.max_free_bytes = 64 * kMiB; }

  HeapTrimmer MakeTrimmer() {
    return HeapTrimmer(options_, memory_, metrics_, [this] { return free_.load(); },
                       [this] {
                         ++trims_;
                         memory_.bytes -= free_.load();
                       });
  }

  HeapTrimmerOptions options_;
  FakeResidentMemory memory_;
  MetricsRegistry metrics_;
  std::atomic<int64_t> free_{0};
  std::atomic<int> trims_{0};
};

TEST_F(HeapTrimmerTest, LittleFreeHeapIsLeftAlone) {
  HeapTrimmer trimmer = MakeTrimmer();
  memory_.bytes = 300 * kMiB;
  free_ = 64 * kMiB;
  EXPECT_FALSE(trimmer.Sample());
  EXPECT_EQ(trims_, 0);
  EXPECT_EQ(metrics_.CounterValue("gateway_heap_trims_total"), 0);
}

TEST_F(HeapTrimmerTest, FreeHeapPastTheThresholdIsGivenBack) {
  HeapTrimmer trimmer = MakeTrimmer();
  memory_.bytes = 500 * kMiB;
  free_ = 265 * kMiB;
  EXPECT_TRUE(trimmer.Sample());
  EXPECT_EQ(trims_, 1);
  EXPECT_EQ(memory_.bytes, 235 * kMiB);
  EXPECT_EQ(metrics_.CounterValue("gateway_heap_trims_total"), 1);
  EXPECT_EQ(metrics_.CounterValue("gateway_heap_trimmed_bytes_total"), 265 * kMiB);
}

// After a trim the free chunks stay free in malloc's books: no trim again
// until the resident set has grown by half the threshold (a new burst that
// reused them).
TEST_F(HeapTrimmerTest, TrimsAgainOnlyAfterTheResidentSetGrew) {
  HeapTrimmer trimmer = MakeTrimmer();
  memory_.bytes = 500 * kMiB;
  free_ = 265 * kMiB;
  ASSERT_TRUE(trimmer.Sample());  // resident 235 MiB
  free_ = 0;
  for (int i = 0; i < 5; ++i) {
    free_ = 265 * kMiB;
    memory_.bytes = 235 * kMiB;  // trim took the free bytes' pages, not the chunks
    EXPECT_FALSE(trimmer.Sample()) << i;
  }
  memory_.bytes = 235 * kMiB + 31 * kMiB;  // less than half the threshold more
  EXPECT_FALSE(trimmer.Sample());
  memory_.bytes = 235 * kMiB + 40 * kMiB;  // a new burst touched the pages again
  EXPECT_TRUE(trimmer.Sample());
  EXPECT_EQ(trims_, 2);
}

// A trim in the middle of a burst: what the burst frees afterwards, free
// bytes beyond those of the last trim, goes back too.
TEST_F(HeapTrimmerTest, TrimsAgainWhenMoreHeapWasFreedSinceTheLastTrim) {
  HeapTrimmer trimmer = MakeTrimmer();
  memory_.bytes = 600 * kMiB;
  free_ = 80 * kMiB;
  ASSERT_TRUE(trimmer.Sample());  // resident 520 MiB
  free_ = 100 * kMiB;             // not half the threshold more
  EXPECT_FALSE(trimmer.Sample());
  free_ = 345 * kMiB;  // the burst ended: its buffers are free, resident unchanged
  EXPECT_TRUE(trimmer.Sample());
  EXPECT_EQ(trims_, 2);
  EXPECT_EQ(memory_.bytes, 175 * kMiB);
}

TEST_F(HeapTrimmerTest, StartSamplesOnItsOwnThreadUntilStop) {
  options_.interval = absl::Milliseconds(1);
  HeapTrimmer trimmer = MakeTrimmer();
  memory_.bytes = 500 * kMiB;
  free_ = 265 * kMiB;
  trimmer.Start();
  for (int i = 0; i < 5000 && trims_.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(1));
  trimmer.Stop();
  EXPECT_EQ(trims_.load(), 1);
  trimmer.Start();  // a stopped trimmer does not start again
  trimmer.Stop();
}

// With glibc's malloc: 96 MiB freed in request-sized blocks stays in the
// heap (pipeline/base/allocator.h), and the trimmer gives it back.
TEST(HeapTrimmerMallocTest, GivesBackTheFreeHeapOfABurst) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "malloc is the sanitizer's";
#endif
  ASSERT_TRUE(TuneAllocatorForThroughput());
  std::unique_ptr<ResidentMemory> rss = NewProcResidentMemory();
  std::vector<void*> blocks;
  for (int i = 0; i < 96; ++i) {
    void* block = std::malloc(kMiB);
    std::memset(block, 1, kMiB);
    blocks.push_back(block);
  }
  // Freed newest first: the heap's top stays in use until the last free,
  // then the chunks coalesce; keep one block so the top is not trimmed by
  // free itself.
  for (size_t i = 1; i < blocks.size(); ++i) std::free(blocks[i]);
  const int64_t before = rss->ResidentBytes();
  ASSERT_GT(static_cast<int64_t>(mallinfo2().fordblks), 64 * kMiB);
  MetricsRegistry metrics;
  HeapTrimmer trimmer(HeapTrimmerOptions{}, *rss, metrics);
  EXPECT_TRUE(trimmer.Sample());
  const int64_t after = rss->ResidentBytes();
  EXPECT_LT(after, before - 64 * kMiB) << before << " -> " << after;
  EXPECT_FALSE(trimmer.Sample());  // nothing new to give back
  std::free(blocks[0]);
}

}  // namespace
}  // namespace gateway
