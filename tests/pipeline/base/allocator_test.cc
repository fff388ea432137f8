#include "pipeline/base/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

namespace gateway {
namespace {

// The sanitizers replace malloc; glibc's settings and counters do not apply.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

class AllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kGlibcMalloc) GTEST_SKIP() << "malloc is the sanitizer's";
  }
};

// Blocks the size of received requests and export bodies (here 1 MiB, far
// above glibc's initial 128 KiB mmap threshold) come from the heap once the
// allocator is tuned, not from a fresh mapping each.
TEST_F(AllocatorTest, RequestSizedBlocksComeFromTheHeapNotFromMmap) {
  ASSERT_TRUE(TuneAllocatorForThroughput());
  const size_t mapped_before = mallinfo2().hblks;
  void* block = std::malloc(size_t{1} << 20);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, size_t{1} << 20);
  EXPECT_EQ(mallinfo2().hblks, mapped_before);
  std::free(block);
}

// Above the threshold, blocks are still mapped (and unmapped on free).
TEST_F(AllocatorTest, BlocksAboveTheThresholdAreStillMapped) {
  ASSERT_TRUE(TuneAllocatorForThroughput());
  const size_t mapped_before = mallinfo2().hblks;
  void* block = std::malloc(kMmapThresholdBytes + (size_t{1} << 20));
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(mallinfo2().hblks, mapped_before + 1);
  std::free(block);
  EXPECT_EQ(mallinfo2().hblks, mapped_before);
}

}  // namespace
}  // namespace gateway
