#include "pipeline/reparent/trace_batcher.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/ingest/memory_budget.h"
#include "tests/fakes/fake_exporter.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using testing::ProtoSpan;

// The spans below end just after 1'700'000'000 s; they arrive a second later.
const absl::Time kStart = absl::FromUnixSeconds(1'700'000'001);

// One scanned request of `count` spans (span ids first .. first+count-1),
// each padded with `pad` bytes of attribute value.
ScannedTraceRequest Scan(uint64_t first, int count, size_t pad = 0) {
  std::vector<ProtoSpan> spans;
  for (int i = 0; i < count; ++i) {
    ProtoSpan s;
    s.set_trace_id(testing::TraceIdBytes(1));
    s.set_span_id(testing::SpanIdBytes(first + static_cast<uint64_t>(i)));
    s.set_name("op");
    s.set_end_time_unix_nano(1'700'000'000'000'000'000ULL + first + static_cast<uint64_t>(i));
    if (pad > 0) {
      auto* attr = s.add_attributes();
      attr->set_key("pad");
      attr->mutable_value()->set_string_value(std::string(pad, 'x'));
    }
    spans.push_back(s);
  }
  return testing::ScanOrFail(testing::BuildRequest(spans));
}

// Span id -> how many times it was exported, over every exported request.
std::map<std::string, int> ExportedIds(const testing::FakeExporter& exporter) {
  std::map<std::string, int> out;
  for (const ProtoSpan& s : testing::SpansOfBodies(exporter.Bodies())) ++out[s.span_id()];
  return out;
}

class TraceBatcherTest : public ::testing::Test {
 protected:
  void AddAll(TraceBatcher& batcher, const ScannedTraceRequest& scanned, absl::Time now) {
    for (const SpanRef& span : scanned.spans) batcher.Add(OutputSpan::Unchanged(span, scanned.buffer), now);
  }

  testing::FakeExporter exporter_;
  MemoryBudget budget_{1 << 30};
};

TEST_F(TraceBatcherTest, ExportsEachFullBatchAndFlushesTheRest) {
  TraceBatcherOptions options;
  options.max_spans = 3;
  TraceBatcher batcher(options, exporter_, &budget_);
  AddAll(batcher, Scan(1, 7), kStart);
  EXPECT_EQ(exporter_.Requests(), 2);
  EXPECT_EQ(batcher.PendingSpans(), 1u);
  batcher.Flush();
  EXPECT_EQ(exporter_.Requests(), 3);
  EXPECT_EQ(batcher.PendingSpans(), 0u);
  EXPECT_EQ(batcher.RequestsExported(), 3);
  std::map<std::string, int> ids = ExportedIds(exporter_);
  ASSERT_EQ(ids.size(), 7u);
  for (uint64_t id = 1; id <= 7; ++id) EXPECT_EQ(ids[testing::SpanIdBytes(id)], 1) << id;
}

TEST_F(TraceBatcherTest, ExportsByAgeOnlyOnceTheOldestSpanHasWaitedMaxDelay) {
  TraceBatcherOptions options;
  options.max_delay = absl::Milliseconds(200);
  TraceBatcher batcher(options, exporter_, &budget_);
  EXPECT_EQ(batcher.Deadline(), absl::InfiniteFuture());
  AddAll(batcher, Scan(1, 2), kStart);
  AddAll(batcher, Scan(10, 2), kStart + absl::Milliseconds(150));
  EXPECT_EQ(batcher.Deadline(), kStart + absl::Milliseconds(200));
  batcher.FlushIfDue(kStart + absl::Milliseconds(199));
  EXPECT_EQ(exporter_.Requests(), 0);
  batcher.FlushIfDue(kStart + absl::Milliseconds(200));
  EXPECT_EQ(exporter_.Requests(), 1);
  EXPECT_EQ(exporter_.Items(), 4);
  EXPECT_EQ(batcher.Deadline(), absl::InfiniteFuture());
}

TEST_F(TraceBatcherTest, NoRequestGrowsPastMaxBytesUnlessOneSpanAlone) {
  TraceBatcherOptions options;
  options.max_bytes = 4096;
  TraceBatcher batcher(options, exporter_, &budget_);
  AddAll(batcher, Scan(1, 20, /*pad=*/1000), kStart);
  batcher.Flush();
  ASSERT_GE(exporter_.Requests(), 5);
  for (const std::string& body : exporter_.Bodies()) EXPECT_LE(body.size(), 4096u);
  EXPECT_EQ(ExportedIds(exporter_).size(), 20u);

  // A span bigger than max_bytes still goes out, alone.
  testing::FakeExporter big_exporter;
  TraceBatcher big(options, big_exporter, &budget_);
  AddAll(big, Scan(100, 2, /*pad=*/8000), kStart);
  big.Flush();
  EXPECT_EQ(big_exporter.Requests(), 2);
  EXPECT_EQ(ExportedIds(big_exporter).size(), 2u);
}

TEST_F(TraceBatcherTest, EncodedBodiesAreAdmittedUntilTheExporterIsDone) {
  exporter_.set_complete_immediately(false);
  TraceBatcher batcher(TraceBatcherOptions{}, exporter_, &budget_);
  AddAll(batcher, Scan(1, 5), kStart);
  batcher.Flush();
  ASSERT_EQ(exporter_.Requests(), 1);
  EXPECT_EQ(budget_.InFlight(), static_cast<int64_t>(exporter_.Bodies()[0].size()));
  exporter_.CompleteAll();
  EXPECT_EQ(budget_.InFlight(), 0);
}

TEST_F(TraceBatcherTest, OldestItemTimeIsTheOldestSpansEndTime) {
  TraceBatcher batcher(TraceBatcherOptions{}, exporter_, &budget_);
  AddAll(batcher, Scan(5, 3), kStart);
  AddAll(batcher, Scan(2, 1), kStart);
  batcher.Flush();
  ASSERT_EQ(exporter_.Requests(), 1);
  EXPECT_EQ(exporter_.OldestItemTimes()[0], absl::FromUnixNanos(1'700'000'000'000'000'002LL));
}

// A client whose clock runs ahead must not keep its batch young forever: the
// batch's age counts from its first span's arrival at the latest.
TEST_F(TraceBatcherTest, FutureEndTimesAgeFromArrival) {
  TraceBatcher batcher(TraceBatcherOptions{}, exporter_, &budget_);
  const absl::Time arrival = absl::FromUnixSeconds(1'600'000'000);  // before the spans' end times
  AddAll(batcher, Scan(1, 3), arrival);
  batcher.Flush();
  ASSERT_EQ(exporter_.Requests(), 1);
  EXPECT_EQ(exporter_.OldestItemTimes()[0], arrival);
}

}  // namespace
}  // namespace gateway
