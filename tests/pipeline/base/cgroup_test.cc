// The container's CPU quota and the CPUs the process may use, read from a
// made-up cgroup tree (v2 and v1, at the namespace root and at the
// process's own path).
#include "pipeline/base/cgroup.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_cgroup_tree.h"

namespace gateway {
namespace {

using testing::FakeCgroupTree;

class CgroupTest : public ::testing::Test {
 protected:
  void Write(const std::string& relative, const std::string& text) { tree_.Write(relative, text); }
  std::string Root() const { return tree_.Root(); }
  std::string Self() const { return tree_.Self(); }

  FakeCgroupTree tree_;
};

TEST_F(CgroupTest, CgroupV2QuotaAtTheNamespaceRoot) {
  Write("cgroup/cpu.max", "150000 100000\n");
  absl::StatusOr<double> limit = ContainerCpuLimit(Root(), Self());
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_DOUBLE_EQ(*limit, 1.5);
  // Rounded up, and never above what the affinity mask allows.
  EXPECT_EQ(UsableCpus(Root(), Self(), 16), 2);
  EXPECT_EQ(UsableCpus(Root(), Self(), 1), 1);
}

TEST_F(CgroupTest, CgroupV2MaxIsNoQuota) {
  Write("cgroup/cpu.max", "max 100000\n");
  EXPECT_TRUE(absl::IsNotFound(ContainerCpuLimit(Root(), Self()).status()));
  EXPECT_EQ(UsableCpus(Root(), Self(), 8), 8);
}

TEST_F(CgroupTest, CgroupV2QuotaAtTheProcessPath) {
  Write("proc_self_cgroup", "0::/kubepods/pod1/ctr\n");
  Write("cgroup/kubepods/pod1/ctr/cpu.max", "50000 100000");
  EXPECT_EQ(UsableCpus(Root(), Self(), 64), 1);  // half a CPU: one
}

TEST_F(CgroupTest, CgroupV1QuotaAndItsUnlimitedSpelling) {
  Write("proc_self_cgroup", "4:cpu,cpuacct:/ecs/task/ctr\n");
  Write("cgroup/cpu/ecs/task/ctr/cpu.cfs_quota_us", "300000");
  Write("cgroup/cpu/ecs/task/ctr/cpu.cfs_period_us", "100000");
  EXPECT_EQ(UsableCpus(Root(), Self(), 32), 3);
  Write("cgroup/cpu/ecs/task/ctr/cpu.cfs_quota_us", "-1");
  EXPECT_TRUE(absl::IsNotFound(ContainerCpuLimit(Root(), Self()).status()));
  EXPECT_EQ(UsableCpus(Root(), Self(), 32), 32);
}

TEST_F(CgroupTest, AnUnreadableQuotaIsAnErrorAndLeavesTheAffinity) {
  Write("cgroup/cpu.max", "lots 100000");
  EXPECT_TRUE(absl::IsInvalidArgument(ContainerCpuLimit(Root(), Self()).status()));
  EXPECT_EQ(UsableCpus(Root(), Self(), 4), 4);
}

TEST_F(CgroupTest, NoCgroupFilesMeansTheAffinityAlone) {
  EXPECT_TRUE(absl::IsNotFound(ContainerCpuLimit(Root(), Self()).status()));
  EXPECT_EQ(UsableCpus(Root(), Self(), 2), 2);
  EXPECT_EQ(UsableCpus(Root(), Self(), 0), 1);
}

TEST_F(CgroupTest, ThisProcessHasAtLeastOneCpu) { EXPECT_GE(UsableCpus(), 1); }

}  // namespace
}  // namespace gateway
