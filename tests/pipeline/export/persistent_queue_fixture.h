// A test fixture for the persistent queue: a fresh directory per test under
// $TEST_TMPDIR, and helpers to open, replay and list segment files.
//
//   TEST_F(PersistentQueueTest, Something) {
//     auto queue = Open();
//     std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
//   }
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/export/persistent_queue.h"

namespace gateway::testing {

struct Replayed {
  Signal signal;
  std::string body;
};

class PersistentQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/pq_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_", ::getpid());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<PersistentQueue> Open(int64_t max_bytes = 1 << 20, PersistentQueueOptions options = {}) {
    auto queue = OpenPersistentQueue(dir_, max_bytes, options);
    EXPECT_TRUE(queue.ok()) << queue.status();
    return queue.ok() ? *std::move(queue) : nullptr;
  }

  static std::map<uint64_t, Replayed> ReplayAll(PersistentQueue& queue) {
    std::map<uint64_t, Replayed> out;
    EXPECT_TRUE(queue
                    .Replay([&](uint64_t id, Signal signal, std::string body) {
                      out[id] = Replayed{signal, std::move(body)};
                    })
                    .ok());
    return out;
  }

  std::vector<std::string> SegmentFiles() const {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    return files;
  }

  std::string dir_;
};

}  // namespace gateway::testing
