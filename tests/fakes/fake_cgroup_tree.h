// A made-up cgroup tree for code that reads the container's limits: a
// directory per test under TEST_TMPDIR holding `cgroup/` (what
// /sys/fs/cgroup would be) and `proc_self_cgroup` (what /proc/self/cgroup
// would be), written file by file.
//
//   FakeCgroupTree tree;
//   tree.Write("cgroup/cpu.max", "150000 100000\n");
//   ContainerCpuLimit(tree.Root(), tree.Self());
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace gateway::testing {

class FakeCgroupTree {
 public:
  // Empty, named after the running test.
  FakeCgroupTree() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  // Writes `text` to `relative` (under the tree), making its directories.
  void Write(const std::string& relative, const std::string& text) const {
    const std::filesystem::path path = dir_ / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  std::string Root() const { return (dir_ / "cgroup").string(); }
  std::string Self() const { return (dir_ / "proc_self_cgroup").string(); }

 private:
  std::filesystem::path dir_;
};

}  // namespace gateway::testing
