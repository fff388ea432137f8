#include "pipeline/ingest/resident_memory.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace gateway {
namespace {

namespace fs = std::filesystem;

class ContainerMemoryLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    root_ = fs::path(tmp != nullptr ? tmp : "/tmp") /
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
  }

  void Write(const std::string& relative, const std::string& text) {
    const fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  absl::StatusOr<int64_t> Limit() {
    return ContainerMemoryLimit((root_ / "cgroup").string(), (root_ / "proc_self_cgroup").string());
  }

  fs::path root_;
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
