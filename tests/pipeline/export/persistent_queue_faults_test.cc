// The persistent queue under failing disks, power loss and a request that
// stays unacknowledged for long.
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/export/persistent_queue.h"
#include "tests/fakes/fake_file_io.h"
#include "tests/pipeline/export/persistent_queue_fixture.h"

namespace gateway {
namespace {

using testing::PersistentQueueTest;
using testing::Replayed;

std::string Body(int i) { return absl::StrCat("request-", i, "-", std::string(200, 'p')); }

class PersistentQueueFaultsTest : public PersistentQueueTest {
 protected:
  PersistentQueueOptions Options(bool sync = true) {
    PersistentQueueOptions options;
    options.segment_bytes = 2048;
    options.sync = sync;
    options.io = &io_;
    return options;
  }

  // Appends `n` requests; the bodies acknowledged, by id.
  std::map<uint64_t, std::string> AppendMany(PersistentQueue& queue, int n) {
    std::map<uint64_t, std::string> acknowledged;
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<uint64_t> id = queue.Append(Signal::kTraces, Body(i));
      if (id.ok()) acknowledged[*id] = Body(i);
    }
    return acknowledged;
  }

  testing::FakeFileIo io_;
};

TEST_F(PersistentQueueFaultsTest, PowerLossKeepsEveryAcknowledgedAppend) {
  std::map<uint64_t, std::string> acknowledged;
  {
    auto queue = Open(1 << 20, Options());
    acknowledged = AppendMany(*queue, 40);
    ASSERT_EQ(acknowledged.size(), 40u);
    io_.LosePowerNow();
  }
  auto queue = Open(1 << 20, Options());
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  for (const auto& [id, body] : acknowledged) {
    ASSERT_EQ(replayed.count(id), 1u) << id;
    EXPECT_EQ(replayed[id].body, body);
  }
}

// The same power loss without fdatasync loses acknowledged requests: the
// simulation above is not vacuous.
TEST_F(PersistentQueueFaultsTest, PowerLossWithoutSyncLosesWhatWasNotSynced) {
  {
    auto queue = Open(1 << 20, Options(/*sync=*/false));
    ASSERT_EQ(AppendMany(*queue, 40).size(), 40u);
    io_.LosePowerNow();
  }
  auto queue = Open(1 << 20, Options(/*sync=*/false));
  EXPECT_LT(ReplayAll(*queue).size(), 40u);
}

TEST_F(PersistentQueueFaultsTest, FailedSyncRefusesTheRequestAndNeverSyncsThatFileAgain) {
  std::map<uint64_t, std::string> acknowledged;
  {
    auto queue = Open(1 << 20, Options());
    acknowledged = AppendMany(*queue, 3);
    io_.FailNextSyncs(1, EIO);
    absl::StatusOr<uint64_t> failed = queue->Append(Signal::kTraces, "lost?");
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_FALSE(queue->Healthy());
    EXPECT_EQ(queue->SyncFailures(), 1);
    // Later requests go to a new file and are durable again.
    absl::StatusOr<uint64_t> after = queue->Append(Signal::kTraces, "after");
    ASSERT_TRUE(after.ok()) << after.status();
    acknowledged[*after] = "after";
    EXPECT_TRUE(queue->Healthy());
    EXPECT_EQ(io_.SyncsAfterFailure(), 0);
  }
  EXPECT_EQ(io_.SyncsAfterFailure(), 0);  // not even at close
  io_.LosePowerNow();
  auto queue = Open(1 << 20, Options());
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  for (const auto& [id, body] : acknowledged) {
    ASSERT_EQ(replayed.count(id), 1u) << id;
    EXPECT_EQ(replayed[id].body, body);
  }
  for (const auto& [id, r] : replayed) EXPECT_NE(r.body, "lost?");
}

TEST_F(PersistentQueueFaultsTest, FullDiskRefusesAppendsAndRecoversWhenSpaceReturns) {
  auto queue = Open(1 << 20, Options());
  ASSERT_TRUE(queue->Append(Signal::kTraces, "before").ok());
  io_.FailWrites(ENOSPC);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<uint64_t> id = queue->Append(Signal::kTraces, Body(i));
    EXPECT_EQ(id.status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_FALSE(queue->Healthy());
  EXPECT_EQ(queue->WriteFailures(), 3);
  io_.ClearFaults();
  ASSERT_TRUE(queue->Append(Signal::kTraces, "after").ok());
  EXPECT_TRUE(queue->Healthy());
  queue.reset();
  auto reopened = Open(1 << 20, Options());
  std::map<uint64_t, Replayed> replayed = ReplayAll(*reopened);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed.begin()->second.body, "before");
  EXPECT_EQ(replayed.rbegin()->second.body, "after");
}

// One request held for long (a span waiting for its parent, a long backoff)
// must not pin every segment written after it.
TEST_F(PersistentQueueFaultsTest, OnePinnedRequestDoesNotFillTheQueue) {
  auto queue = Open(/*max_bytes=*/8192, Options());
  absl::StatusOr<uint64_t> pinned = queue->Append(Signal::kTraces, "pinned");
  ASSERT_TRUE(pinned.ok());
  // 200 x 224 bytes through an 8 KiB queue, each acknowledged at once.
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<uint64_t> id = queue->Append(Signal::kLogs, Body(i));
    ASSERT_TRUE(id.ok()) << i << ": " << id.status();
    queue->Ack(*id);
    ASSERT_LE(queue->UsedBytes(), queue->MaxBytes() + 2048);
  }
  EXPECT_GT(queue->CompactedBytes(), 0);
  EXPECT_EQ(queue->PendingRecords(), 1);
  queue.reset();
  auto reopened = Open(8192, Options());
  std::map<uint64_t, Replayed> replayed = ReplayAll(*reopened);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed.begin()->first, *pinned);
  EXPECT_EQ(replayed.begin()->second.body, "pinned");
}

// A crash after a pinned request was copied forward but before the old
// files were deleted leaves two copies: it is replayed once.
TEST_F(PersistentQueueFaultsTest, ACopiedForwardRequestIsReplayedOnce) {
  uint64_t pinned_id = 0;
  std::map<std::string, std::string> deleted;  // by the compacting Append
  {
    auto queue = Open(/*max_bytes=*/8192, Options());
    absl::StatusOr<uint64_t> pinned = queue->Append(Signal::kTraces, "pinned");
    ASSERT_TRUE(pinned.ok());
    pinned_id = *pinned;
    for (int i = 0; i < 100 && deleted.empty(); ++i) {
      std::map<std::string, std::string> before;
      for (const std::string& path : SegmentFiles()) {
        std::ifstream in(path, std::ios::binary);
        before[path].assign(std::istreambuf_iterator<char>(in), {});
      }
      const int64_t compacted = queue->CompactedBytes();
      absl::StatusOr<uint64_t> id = queue->Append(Signal::kLogs, Body(i));
      ASSERT_TRUE(id.ok()) << id.status();
      if (queue->CompactedBytes() != compacted) {
        for (const auto& [path, bytes] : before) {
          if (!std::filesystem::exists(path)) deleted[path] = bytes;
        }
      }
      queue->Ack(*id);
    }
    ASSERT_FALSE(deleted.empty());
  }
  // As if the process died before its unlinks reached the disk.
  for (const auto& [path, bytes] : deleted) std::ofstream(path, std::ios::binary) << bytes;
  auto queue = Open(8192, Options());
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed.begin()->first, pinned_id);
  EXPECT_EQ(replayed.begin()->second.body, "pinned");
  EXPECT_EQ(queue->PendingRecords(), 1);
  // Once delivered, neither copy holds a file.
  queue->Ack(pinned_id);
  EXPECT_EQ(queue->PendingRecords(), 0);
  EXPECT_EQ(SegmentFiles().size(), 1u);
}

}  // namespace
}  // namespace gateway
