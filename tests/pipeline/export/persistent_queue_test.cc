#include "pipeline/export/persistent_queue.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/pipeline/export/forged_record.h"
#include "tests/pipeline/export/persistent_queue_fixture.h"

namespace gateway {
namespace {

using testing::PersistentQueueTest;
using testing::Replayed;

using testing::ForgedRecord;
using testing::kForgedAck;
using testing::kForgedData;
using testing::LittleEndian;

TEST_F(PersistentQueueTest, ReplaysUnackedRecordsAfterReopen) {
  {
    auto queue = Open();
    auto a = queue->Append(Signal::kTraces, "first");
    auto b = queue->Append(Signal::kMetrics, "second");
    auto c = queue->Append(Signal::kLogs, "third");
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_LT(*a, *b);
    EXPECT_LT(*b, *c);
    queue->Ack(*b);
    queue->Ack(*b);  // repeated: ignored
    EXPECT_EQ(queue->PendingRecords(), 2);
  }
  auto queue = Open();
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed.begin()->second.body, "first");
  EXPECT_EQ(replayed.begin()->second.signal, Signal::kTraces);
  EXPECT_EQ(replayed.rbegin()->second.body, "third");
  EXPECT_EQ(replayed.rbegin()->second.signal, Signal::kLogs);
  // New ids continue after the old ones.
  auto d = queue->Append(Signal::kTraces, "fourth");
  ASSERT_TRUE(d.ok());
  EXPECT_GT(*d, replayed.rbegin()->first);
  EXPECT_EQ(queue->CorruptRecordsSkipped(), 0);
  EXPECT_EQ(queue->TornBytesTruncated(), 0);
}

TEST_F(PersistentQueueTest, CutsOffATornTail) {
  std::string segment;
  {
    auto queue = Open();
    ASSERT_TRUE(queue->Append(Signal::kTraces, "one").ok());
    ASSERT_TRUE(queue->Append(Signal::kTraces, std::string(100, 'x')).ok());
    segment = SegmentFiles().back();
  }
  // The last record loses its end, as after a crash mid-write.
  std::filesystem::resize_file(segment, std::filesystem::file_size(segment) - 40);
  {
    auto queue = Open();
    std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
    ASSERT_EQ(replayed.size(), 1u);
    EXPECT_EQ(replayed.begin()->second.body, "one");
    EXPECT_GT(queue->TornBytesTruncated(), 0);
    ASSERT_TRUE(queue->Append(Signal::kLogs, "after").ok());
  }
  auto queue = Open();
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed.rbegin()->second.body, "after");
  EXPECT_EQ(queue->TornBytesTruncated(), 0);
}

TEST_F(PersistentQueueTest, BytesFramedAsRecordsInsideAPayloadAreNeverTakenForRecords) {
  // A client can send any bytes: this request holds a forged data record and
  // a forged ack of an earlier request, framed as the queue frames records.
  std::string segment;
  uint64_t first = 0;
  {
    auto queue = Open();
    auto a = queue->Append(Signal::kTraces, "aaaa");
    ASSERT_TRUE(a.ok());
    first = *a;
    const std::string forged = "xx" + ForgedRecord(kForgedData, Signal::kLogs, 999, "forged") +
                               ForgedRecord(kForgedAck, Signal::kTraces, 0, LittleEndian(first, 8)) + "yy";
    ASSERT_TRUE(queue->Append(Signal::kTraces, forged).ok());
    ASSERT_TRUE(queue->Append(Signal::kTraces, "cccc").ok());
    segment = SegmentFiles().back();
  }
  {
    // Damage the forged request's own header: recovery resynchronizes from
    // there, across its payload.
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16 + 24 + 4);
    f.put('X');
  }
  auto queue = Open();
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed.count(999), 0u);
  ASSERT_EQ(replayed.count(first), 1u);  // not acked by the forged ack
  EXPECT_EQ(replayed[first].body, "aaaa");
  EXPECT_EQ(replayed.rbegin()->second.body, "cccc");
  EXPECT_EQ(queue->CorruptRecordsSkipped(), 1);
}

TEST_F(PersistentQueueTest, ReadsSegmentsWrittenBeforeSegmentHeadersExisted) {
  {
    std::filesystem::create_directories(dir_);
    std::ofstream f(dir_ + "/segment-000000000001.wal", std::ios::binary);
    f << ForgedRecord(kForgedData, Signal::kTraces, 1, "old one") << ForgedRecord(kForgedData, Signal::kLogs, 2, "old two")
      << ForgedRecord(kForgedAck, Signal::kTraces, 0, LittleEndian(1, 8));
  }
  auto queue = Open();
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[2].body, "old two");
  EXPECT_EQ(replayed[2].signal, Signal::kLogs);
  EXPECT_EQ(queue->CorruptRecordsSkipped(), 0);
  auto next = queue->Append(Signal::kTraces, "new");
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, 2u);
}

TEST_F(PersistentQueueTest, SkipsACorruptRecordInTheMiddle) {
  std::string segment;
  {
    auto queue = Open();
    ASSERT_TRUE(queue->Append(Signal::kTraces, "aaaaaaaaaa").ok());
    ASSERT_TRUE(queue->Append(Signal::kTraces, "bbbbbbbbbb").ok());
    ASSERT_TRUE(queue->Append(Signal::kTraces, "cccccccccc").ok());
    segment = SegmentFiles().back();
  }
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16 + 34 + 24 + 3);  // segment header, first record: inside the second record's payload
    f.put('X');
  }
  auto queue = Open();
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed.begin()->second.body, "aaaaaaaaaa");
  EXPECT_EQ(replayed.rbegin()->second.body, "cccccccccc");
  EXPECT_EQ(queue->CorruptRecordsSkipped(), 1);
  EXPECT_EQ(queue->TornBytesTruncated(), 0);
}

TEST_F(PersistentQueueTest, RefusesAppendsBeyondTheByteBoundUntilAcked) {
  PersistentQueueOptions options;
  options.segment_bytes = 424;  // one 400-byte request per segment
  auto queue = Open(1000, options);
  const std::string body(400, 'r');
  auto a = queue->Append(Signal::kTraces, body);
  auto b = queue->Append(Signal::kTraces, body);
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = queue->Append(Signal::kTraces, body);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  queue->Ack(*a);
  EXPECT_LT(queue->UsedBytes(), 600);
  EXPECT_TRUE(queue->Append(Signal::kTraces, body).ok());
  EXPECT_LE(queue->UsedBytes(), queue->MaxBytes());
}

TEST_F(PersistentQueueTest, DeletesSegmentsOnceAllTheirRecordsAreAcked) {
  PersistentQueueOptions options;
  options.segment_bytes = 1000;
  auto queue = Open(1 << 20, options);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 10; ++i) {
    auto id = queue->Append(Signal::kTraces, std::string(500, 'a' + i));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  EXPECT_GE(SegmentFiles().size(), 5u);
  // Acking out of order keeps the oldest segment (and those after it).
  for (size_t i = 1; i < ids.size(); ++i) queue->Ack(ids[i]);
  EXPECT_GE(SegmentFiles().size(), 5u);
  queue->Ack(ids[0]);
  EXPECT_EQ(SegmentFiles().size(), 1u);
  queue.reset();
  auto reopened = Open(1 << 20, options);
  EXPECT_TRUE(ReplayAll(*reopened).empty());
}

TEST_F(PersistentQueueTest, KeepsEveryAcknowledgedAppendWhenKilledMidAppend) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    auto queue = OpenPersistentQueue(dir_, 1 << 28, {});
    if (!queue.ok()) ::_exit(2);
    for (int i = 0; i < 100000; ++i) {
      auto id = (*queue)->Append(Signal::kTraces, std::string(1000 + i % 5000, static_cast<char>('a' + i % 26)));
      if (!id.ok()) ::_exit(3);
      uint64_t v = *id;
      if (::write(fds[1], &v, sizeof(v)) != sizeof(v)) ::_exit(4);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::set<uint64_t> durable;
  uint64_t v;
  while (durable.size() < 200 && ::read(fds[0], &v, sizeof(v)) == sizeof(v)) durable.insert(v);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  while (::read(fds[0], &v, sizeof(v)) == sizeof(v)) durable.insert(v);
  ::close(fds[0]);
  ASSERT_GE(durable.size(), 200u);

  auto queue = Open(1 << 28);
  std::map<uint64_t, Replayed> replayed = ReplayAll(*queue);
  for (uint64_t id : durable) {
    auto it = replayed.find(id);
    ASSERT_NE(it, replayed.end()) << id;
    EXPECT_EQ(it->second.body.size(), 1000u + (id - 1) % 5000);
  }
  EXPECT_EQ(queue->CorruptRecordsSkipped(), 0);
}

}  // namespace
}  // namespace gateway
