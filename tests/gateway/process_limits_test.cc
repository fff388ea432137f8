#include "gateway/process_limits.h"

#include <sys/resource.h>

#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(RaiseOpenFileLimitTest, RaisesTheSoftLimitToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  if (before.rlim_max < 64) GTEST_SKIP() << "hard open-file limit " << before.rlim_max;
  // A soft limit below the hard one, as a shell's default 1024 is.
  rlimit lowered = before;
  lowered.rlim_cur = 32;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  absl::StatusOr<uint64_t> limit = RaiseOpenFileLimit();
  ASSERT_TRUE(limit.ok()) << limit.status();
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  EXPECT_EQ(*limit, static_cast<uint64_t>(after.rlim_cur));
  EXPECT_EQ(after.rlim_max, before.rlim_max);
  // Already at the hard limit: unchanged.
  absl::StatusOr<uint64_t> again = RaiseOpenFileLimit();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *limit);
}

}  // namespace
}  // namespace gateway
