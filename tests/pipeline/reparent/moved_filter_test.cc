#include "pipeline/reparent/moved_filter.h"

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gateway {
namespace {

std::vector<uint64_t> Fingerprints(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> out(n);
  for (uint64_t& f : out) f = rng();
  return out;
}

TEST(MovedFilterTest, BytesForIsAPowerOfTwoOfAtLeastOneByteAnEntry) {
  EXPECT_EQ(MovedFilter::BytesFor(0), 64u);
  EXPECT_EQ(MovedFilter::BytesFor(64), 64u);
  EXPECT_EQ(MovedFilter::BytesFor(65), 128u);
  EXPECT_EQ(MovedFilter::BytesFor(1'000'000), 1u << 20);
  EXPECT_EQ(MovedFilter(MovedFilter::BytesFor(1000)).Bytes(), 2 * 1024);
}

TEST(MovedFilterTest, NeverMissesWhatWasAddedAndRarelyClaimsWhatWasNot) {
  // Full: exactly one byte per fate (BytesFor of a power of two).
  constexpr size_t kEntries = 16'384;
  ASSERT_EQ(MovedFilter::BytesFor(kEntries), kEntries);
  MovedFilter filter(MovedFilter::BytesFor(kEntries));
  const std::vector<uint64_t> added = Fingerprints(kEntries, 1);
  for (uint64_t f : added) filter.Add(f);
  for (uint64_t f : added) ASSERT_TRUE(filter.MayContain(f));
  int false_positives = 0;
  for (uint64_t f : Fingerprints(100'000, 2)) false_positives += filter.MayContain(f) ? 1 : 0;
  EXPECT_LT(false_positives, 6'000);
  std::printf("false positives when full: %.2f %%\n", false_positives / 1000.0);
}

TEST(MovedFilterTest, ForgetsAGenerationAtTheSecondRotationAsTheFateMemoryDoes) {
  MovedFilter filter(MovedFilter::BytesFor(1000));
  const std::vector<uint64_t> first = Fingerprints(100, 3);
  const std::vector<uint64_t> second = Fingerprints(100, 4);
  for (uint64_t f : first) filter.Add(f);
  filter.Rotate();
  for (uint64_t f : second) filter.Add(f);
  for (uint64_t f : first) EXPECT_TRUE(filter.MayContain(f));
  filter.Rotate();  // the first generation is dropped
  int still = 0;
  for (uint64_t f : first) still += filter.MayContain(f) ? 1 : 0;
  EXPECT_LT(still, 10);  // only false positives of the second
  for (uint64_t f : second) EXPECT_TRUE(filter.MayContain(f));
  filter.Clear();
  int left = 0;
  for (uint64_t f : second) left += filter.MayContain(f) ? 1 : 0;
  EXPECT_EQ(left, 0);
}

// One writer and readers at once (run under TSan by scripts/test_all.sh):
// what a reader has seen published by the writer's release store it finds.
TEST(MovedFilterTest, AReaderFindsEverythingAddedBeforeAWatermarkItAcquired) {
  constexpr size_t kEntries = 50'000;
  MovedFilter filter(MovedFilter::BytesFor(kEntries));
  const std::vector<uint64_t> added = Fingerprints(kEntries, 5);
  std::atomic<size_t> published{0};
  std::atomic<int> misses{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      size_t seen = 0;
      while (seen < kEntries) {
        const size_t upto = published.load(std::memory_order_acquire);
        for (size_t i = seen; i < upto; ++i) {
          if (!filter.MayContain(added[i])) misses.fetch_add(1);
        }
        seen = upto;
        std::this_thread::yield();
      }
    });
  }
  for (size_t i = 0; i < kEntries; ++i) {
    filter.Add(added[i]);
    if (i % 100 == 99 || i + 1 == kEntries) published.store(i + 1, std::memory_order_release);
  }
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(misses.load(), 0);
}

}  // namespace
}  // namespace gateway
