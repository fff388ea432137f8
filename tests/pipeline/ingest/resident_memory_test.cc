#include "pipeline/ingest/resident_memory.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_cgroup_tree.h"

namespace gateway {
namespace {

using testing::FakeCgroupTree;

class ContainerMemoryLimitTest : public ::testing::Test {
 protected:
  void Write(const std::string& relative, const std::string& text) { tree_.Write(relative, text); }
  absl::StatusOr<int64_t> Limit() { return ContainerMemoryLimit(tree_.Root(), tree_.Self()); }

  FakeCgroupTree tree_;
};

TEST_F(ContainerMemoryLimitTest, CgroupV2LimitAtTheNamespaceRoot) {
  Write("cgroup/memory.max", "805306368\n");
  Write("proc_self_cgroup", "0::/\n");
  EXPECT_EQ(Limit().value_or(-1), 805306368);
}

TEST_F(ContainerMemoryLimitTest, CgroupV2LimitAtTheProcessPath) {
  Write("cgroup/system.slice/gw.service/memory.max", "268435456\n");
  Write("proc_self_cgroup", "0::/system.slice/gw.service\n");
  EXPECT_EQ(Limit().value_or(-1), 268435456);
}

TEST_F(ContainerMemoryLimitTest, CgroupV2MaxMeansNoLimit) {
  Write("cgroup/memory.max", "max\n");
  Write("proc_self_cgroup", "0::/\n");
  EXPECT_TRUE(absl::IsNotFound(Limit().status())) << Limit().status();
}

TEST_F(ContainerMemoryLimitTest, CgroupV1LimitAndItsUnlimitedSpelling) {
  Write("cgroup/memory/task/memory.limit_in_bytes", "536870912\n");
  Write("proc_self_cgroup", "5:cpu,cpuacct:/task\n4:memory:/task\n0::/\n");
  EXPECT_EQ(Limit().value_or(-1), 536870912);

  Write("cgroup/memory/task/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_TRUE(absl::IsNotFound(Limit().status())) << Limit().status();
}

TEST_F(ContainerMemoryLimitTest, NoCgroupFilesMeansNoLimit) {
  EXPECT_TRUE(absl::IsNotFound(Limit().status())) << Limit().status();
}

TEST_F(ContainerMemoryLimitTest, GarbageIsAnError) {
  Write("cgroup/memory.max", "lots\n");
  EXPECT_TRUE(absl::IsInvalidArgument(Limit().status())) << Limit().status();
}

TEST(ProcResidentMemoryTest, ReportsAPlausibleResidentSizeThatGrowsWithTouchedMemory) {
  std::unique_ptr<ResidentMemory> rss = NewProcResidentMemory();
  const int64_t before = rss->ResidentBytes();
  EXPECT_GT(before, int64_t{1} << 20);
  std::vector<char> block(size_t{64} << 20, 1);  // touched: resident
  const int64_t after = rss->ResidentBytes();
  EXPECT_GE(after, before + (int64_t{48} << 20));
  EXPECT_EQ(block[12345], 1);
}

}  // namespace
}  // namespace gateway
