#include "pipeline/gateway_pipeline.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/export/persistent_queue.h"
#include "pipeline/ingest/memory_budget.h"
#include "tests/fakes/fake_exporter.h"
#include "tests/fakes/fake_file_io.h"
#include "tests/fakes/fake_trace_engine.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using testing::ProtoSpan;

std::string TraceRequest(uint64_t trace, int spans,
                         uint64_t end_time_unix_nano = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {
  std::vector<ProtoSpan> out;
  for (int i = 1; i <= spans; ++i) {
    ProtoSpan s;
    s.set_trace_id(testing::TraceIdBytes(trace));
    s.set_span_id(testing::SpanIdBytes(static_cast<uint64_t>(i)));
    s.set_name("op");
    s.set_end_time_unix_nano(end_time_unix_nano);
    out.push_back(s);
  }
  return testing::BuildRequest(out);
}

std::string GaugeRequest() {
  ExportMetricsServiceRequest request;
  auto* metric = request.add_resource_metrics()->add_scope_metrics()->add_metrics();
  metric->set_name("queue.depth");
  auto* point = metric->mutable_gauge()->add_data_points();
  point->set_time_unix_nano(1'700'000'000'000'000'000ULL);
  point->set_as_int(3);
  return request.SerializeAsString();
}

class GatewayPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/gp_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_", ::getpid());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    engine_.ReleaseAll();  // held buffers acknowledge into the queue: before it closes
    pipeline_.reset();
    queue_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A pipeline over the fakes; with a persistent queue of `queue_bytes` when
  // that is > 0.
  void Start(int64_t queue_bytes = 0) {
    if (queue_bytes > 0) OpenQueue(queue_bytes);
    pipeline_ = std::make_unique<GatewayPipeline>(engine_, exporter_, budget_, metrics_, queue_.get());
  }

  void OpenQueue(int64_t queue_bytes) {
    PersistentQueueOptions options;
    options.segment_bytes = 4096;
    options.sync = false;
    auto queue = OpenPersistentQueue(dir_, queue_bytes, options);
    ASSERT_TRUE(queue.ok()) << queue.status();
    queue_ = *std::move(queue);
  }

  int64_t Backpressured(Signal signal) const {
    return metrics_.CounterValue("gateway_requests_backpressured_total",
                                 {{"signal", std::string(SignalName(signal))}});
  }

  std::string dir_;
  testing::FakeTraceEngine engine_;
  testing::FakeExporter exporter_;
  MemoryBudget budget_{1 << 20};
  MetricsRegistry metrics_;
  testing::FakeFileIo io_;  // outlives queue_
  std::unique_ptr<PersistentQueue> queue_;
  std::unique_ptr<GatewayPipeline> pipeline_;
};

TEST_F(GatewayPipelineTest, AcceptedTracesStayAdmittedUntilTheEngineLetsThemGo) {
  Start();
  const std::string body = TraceRequest(1, 3);
  IngestResult result = pipeline_->Accept(Signal::kTraces, body);
  ASSERT_EQ(result.outcome, IngestOutcome::kAccepted) << result.message;
  EXPECT_EQ(engine_.Requests(), 1);
  EXPECT_EQ(budget_.InFlight(), static_cast<int64_t>(body.size()));
  engine_.ReleaseAll();
  EXPECT_EQ(budget_.InFlight(), 0);
}

TEST_F(GatewayPipelineTest, InvalidRequestsReleaseTheirBudget) {
  Start();
  for (Signal signal : {Signal::kTraces, Signal::kMetrics, Signal::kLogs}) {
    IngestResult result = pipeline_->Accept(signal, std::string("\x0a\xff\xff", 3));
    EXPECT_EQ(result.outcome, IngestOutcome::kInvalid) << SignalName(signal);
    EXPECT_FALSE(result.message.empty());
    EXPECT_EQ(budget_.InFlight(), 0) << SignalName(signal);
  }
  EXPECT_EQ(engine_.Requests(), 0);
  EXPECT_EQ(exporter_.Requests(), 0);
}

TEST_F(GatewayPipelineTest, FullBudgetPushesBackAndCounts) {
  budget_.SetPressure(true);
  Start();
  IngestResult result = pipeline_->Accept(Signal::kTraces, TraceRequest(1, 1));
  EXPECT_EQ(result.outcome, IngestOutcome::kOverloaded);
  EXPECT_GT(result.retry_after, absl::ZeroDuration());
  EXPECT_EQ(Backpressured(Signal::kTraces), 1);
  EXPECT_EQ(budget_.InFlight(), 0);
}

TEST_F(GatewayPipelineTest, OfferLeavesARequestRefusedForRoomWithItsCaller) {
  Start();
  // The budget is full while the engine holds one request as large as it.
  budget_.ForceAdmit(budget_.Limit());
  std::string body = TraceRequest(7, 3);
  const std::string original = body;
  IngestResult refused = pipeline_->Offer(Signal::kTraces, &body);
  ASSERT_EQ(refused.outcome, IngestOutcome::kOverloaded);
  EXPECT_TRUE(refused.no_room);
  EXPECT_EQ(body, original);
  // Its caller may offer it again, so the refusal is not backpressure yet.
  EXPECT_EQ(Backpressured(Signal::kTraces), 0);
  // Accept is a last offer: it counts.
  EXPECT_TRUE(pipeline_->Accept(Signal::kTraces, original).no_room);
  EXPECT_EQ(Backpressured(Signal::kTraces), 1);
  budget_.Release(budget_.Limit());
  IngestResult accepted = pipeline_->Offer(Signal::kTraces, &body);
  ASSERT_EQ(accepted.outcome, IngestOutcome::kAccepted) << accepted.message;
  EXPECT_EQ(engine_.Requests(), 1);
  EXPECT_EQ(Backpressured(Signal::kTraces), 1);
}

TEST_F(GatewayPipelineTest, MemoryPressureIsNotARefusalForRoom) {
  budget_.SetPressure(true);
  Start();
  std::string body = TraceRequest(1, 1);
  IngestResult result = pipeline_->Offer(Signal::kTraces, &body);
  EXPECT_EQ(result.outcome, IngestOutcome::kOverloaded);
  // Room does not come back as exports finish under memory pressure: the
  // refusal is final and counted.
  EXPECT_FALSE(result.no_room);
  EXPECT_EQ(Backpressured(Signal::kTraces), 1);
}

TEST_F(GatewayPipelineTest, PassThroughReleasesBudgetWhenExported) {
  exporter_.set_complete_immediately(false);
  Start();
  const std::string body = GaugeRequest();
  ASSERT_EQ(pipeline_->Accept(Signal::kMetrics, body).outcome, IngestOutcome::kAccepted);
  EXPECT_EQ(budget_.InFlight(), static_cast<int64_t>(body.size()));
  ASSERT_EQ(exporter_.Requests(), 1);
  EXPECT_EQ(exporter_.Bodies()[0], body);
  EXPECT_EQ(exporter_.Items(), 1);
  // A failed export releases what it held too.
  EXPECT_EQ(exporter_.CompleteAll(ExportResult{ExportOutcome::kGivenUp}), 1);
  EXPECT_EQ(budget_.InFlight(), 0);
}

TEST_F(GatewayPipelineTest, FullPersistentQueuePushesBackAndReleasesBudget) {
  Start(/*queue_bytes=*/16 << 10);
  int accepted = 0;
  IngestResult result;
  // Nothing is acknowledged (the engine holds every request), so the queue
  // fills; bounded by the queue's size over the request's.
  for (int i = 0; i < 200; ++i) {
    result = pipeline_->Accept(Signal::kTraces, TraceRequest(static_cast<uint64_t>(i + 1), 10));
    if (result.outcome != IngestOutcome::kAccepted) break;
    ++accepted;
  }
  ASSERT_EQ(result.outcome, IngestOutcome::kOverloaded);
  EXPECT_GT(accepted, 0);
  EXPECT_GE(result.retry_after, absl::Seconds(1));
  EXPECT_EQ(Backpressured(Signal::kTraces), 1);
  EXPECT_EQ(engine_.Requests(), accepted);
  // The refused request's bytes are not left admitted.
  engine_.ReleaseAll();
  EXPECT_EQ(budget_.InFlight(), 0);
  EXPECT_EQ(queue_->PendingRecords(), 0);
  // Space is back once the held requests are delivered.
  EXPECT_EQ(pipeline_->Accept(Signal::kTraces, TraceRequest(999, 10)).outcome, IngestOutcome::kAccepted);
}

TEST_F(GatewayPipelineTest, RecordsAreAcknowledgedOnlyWhenDeliveredAndNotAfterAbandon) {
  Start(/*queue_bytes=*/1 << 20);
  ASSERT_EQ(pipeline_->Accept(Signal::kTraces, TraceRequest(1, 2)).outcome, IngestOutcome::kAccepted);
  EXPECT_EQ(queue_->PendingRecords(), 1);
  engine_.ReleaseAll();
  EXPECT_EQ(queue_->PendingRecords(), 0);

  ASSERT_EQ(pipeline_->Accept(Signal::kTraces, TraceRequest(2, 2)).outcome, IngestOutcome::kAccepted);
  pipeline_->AbandonUnfinished();
  engine_.ReleaseAll();
  EXPECT_EQ(queue_->PendingRecords(), 1);  // left for the next run's replay
}

TEST_F(GatewayPipelineTest, ReplayDeliversValidRecordsAndDropsInvalidOnes) {
  OpenQueue(1 << 20);
  const std::string valid = TraceRequest(7, 4);
  ASSERT_TRUE(queue_->Append(Signal::kTraces, valid).ok());
  ASSERT_TRUE(queue_->Append(Signal::kTraces, std::string("\x0a\xff\xff", 3)).ok());
  ASSERT_TRUE(queue_->Append(Signal::kMetrics, GaugeRequest()).ok());
  queue_.reset();  // as at a restart

  Start(/*queue_bytes=*/1 << 20);
  ASSERT_EQ(queue_->PendingRecords(), 3);
  absl::StatusOr<int64_t> replayed = pipeline_->ReplayPersistentQueue();
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(*replayed, 3);
  EXPECT_EQ(engine_.Requests(), 1);
  EXPECT_EQ(engine_.HeldSpans(), 4);
  EXPECT_EQ(exporter_.Requests(), 1);  // the metrics record, delivered at once
  // The invalid record was acknowledged (not replayed forever), and the valid
  // ones are acknowledged once delivered.
  EXPECT_EQ(queue_->PendingRecords(), 1);
  engine_.ReleaseAll();
  EXPECT_EQ(queue_->PendingRecords(), 0);
  EXPECT_EQ(budget_.InFlight(), 0);
}

TEST_F(GatewayPipelineTest, NotReadyWhileThePersistentQueueCannotSync) {
  PersistentQueueOptions options;
  options.io = &io_;
  auto queue = OpenPersistentQueue(dir_, 1 << 20, options);
  ASSERT_TRUE(queue.ok()) << queue.status();
  queue_ = *std::move(queue);
  Start();
  EXPECT_TRUE(pipeline_->Ready());
  io_.FailNextSyncs(1, EIO);
  IngestResult refused = pipeline_->Accept(Signal::kTraces, TraceRequest(1, 2));
  EXPECT_EQ(refused.outcome, IngestOutcome::kOverloaded);
  EXPECT_EQ(budget_.InFlight(), 0);
  EXPECT_EQ(engine_.Requests(), 0);
  EXPECT_FALSE(pipeline_->Ready());
  ASSERT_EQ(pipeline_->Accept(Signal::kTraces, TraceRequest(2, 2)).outcome, IngestOutcome::kAccepted);
  EXPECT_TRUE(pipeline_->Ready());
}

TEST_F(GatewayPipelineTest, BodiesInTransitAreHeldAgainstTheBudgetAsTheyGrow) {
  budget_.SetPressure(false);
  Start();
  std::unique_ptr<ReceiveHold> first = pipeline_->HoldForReceive(0);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(budget_.InFlight(), 0);
  EXPECT_TRUE(first->GrowTo(600 << 10));
  EXPECT_TRUE(first->GrowTo(300 << 10));  // never shrinks
  EXPECT_EQ(budget_.InFlight(), 600 << 10);
  std::unique_ptr<ReceiveHold> second = pipeline_->HoldForReceive(0);
  ASSERT_NE(second, nullptr);
  EXPECT_FALSE(second->GrowTo(600 << 10));  // past the 1 MiB budget
  // Room for that comes back as `first` is released: a reader may pause.
  EXPECT_TRUE(second->NoRoomYetToGrowTo(600 << 10));
  EXPECT_FALSE(second->NoRoomYetToGrowTo(100 << 10));
  EXPECT_TRUE(second->GrowTo(100 << 10));
  EXPECT_EQ(budget_.InFlight(), 700 << 10);
  // What the hold has already counts: 100 KiB more to reach 200 KiB.
  EXPECT_FALSE(second->NoRoomYetToGrowTo(200 << 10));
  EXPECT_TRUE(second->NoRoomYetToGrowTo(500 << 10));
  first.reset();
  second.reset();
  EXPECT_EQ(budget_.InFlight(), 0);
  std::unique_ptr<ReceiveHold> third = pipeline_->HoldForReceive(600 << 10);
  ASSERT_NE(third, nullptr);
  pipeline_->BeginShutdown();
  EXPECT_EQ(pipeline_->HoldForReceive(0), nullptr);
  // Shutting down: no room comes back, nothing to pause for.
  EXPECT_FALSE(third->NoRoomYetToGrowTo(2 << 20));
}

// Dynatrace drops spans that ended more than an hour ago; they are refused
// at ingest, one by one, as partial success.
TEST_F(GatewayPipelineTest, SpansEndedOverAnHourAgoAreRefusedOneByOne) {
  Start();
  std::vector<ProtoSpan> spans;
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  const uint64_t minute = 60'000'000'000ULL;
  for (uint64_t end : std::vector<uint64_t>{now, 1, now - 61 * minute, now - 59 * minute, 0}) {
    ProtoSpan s;
    s.set_trace_id(testing::TraceIdBytes(1));
    s.set_span_id(testing::SpanIdBytes(spans.size() + 1));
    s.set_name("op");
    s.set_end_time_unix_nano(end);
    spans.push_back(s);
  }
  IngestResult result = pipeline_->Accept(Signal::kTraces, testing::BuildRequest(spans));
  ASSERT_EQ(result.outcome, IngestOutcome::kAccepted);
  EXPECT_EQ(result.rejected_items, 2);  // the epoch span and the one from 61 minutes ago
  EXPECT_NE(result.message.find("60 minutes"), std::string::npos) << result.message;
  EXPECT_EQ(engine_.HeldSpans(), 3);
}

// Dynatrace refuses a whole batch holding one string that is not UTF-8; such
// a span is refused at ingest, alone, and counted with its reason.
TEST_F(GatewayPipelineTest, SpansWithInvalidUtf8AreRefusedOneByOneAndCountedByReason) {
  Start();
  std::vector<ProtoSpan> spans;
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  for (const char* name : {"ok", "bad\xC3", "ok", "\xED\xA0\x80", "caf\xC3\xA9"}) {
    ProtoSpan s;
    s.set_trace_id(testing::TraceIdBytes(1));
    s.set_span_id(testing::SpanIdBytes(spans.size() + 1));
    s.set_name(name);
    s.set_end_time_unix_nano(spans.size() == 2 ? 1 : now);  // the third ended at the epoch
    spans.push_back(s);
  }
  IngestResult result = pipeline_->Accept(Signal::kTraces, testing::BuildRequest(spans));
  ASSERT_EQ(result.outcome, IngestOutcome::kAccepted);
  EXPECT_EQ(result.rejected_items, 3);
  EXPECT_NE(result.message.find("2 span(s) refused: invalid UTF-8 in name"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("60 minutes"), std::string::npos) << result.message;
  EXPECT_EQ(engine_.HeldSpans(), 2);
  EXPECT_EQ(metrics_.CounterValue("gateway_spans_refused_total", {{"reason", "invalid_utf8"}}), 2);
  EXPECT_EQ(metrics_.CounterValue("gateway_spans_refused_total", {{"reason", "too_old"}}), 1);
  EXPECT_EQ(metrics_.CounterValue("gateway_spans_refused_total", {{"reason", "invalid_id"}}), 0);
  EXPECT_EQ(metrics_.CounterValue("gateway_items_refused_total", {{"signal", "traces"}}), 3);
}

TEST_F(GatewayPipelineTest, ShuttingDownRefusesEverything) {
  Start();
  pipeline_->BeginShutdown();
  EXPECT_FALSE(pipeline_->Ready());
  EXPECT_EQ(pipeline_->Accept(Signal::kTraces, TraceRequest(1, 1)).outcome, IngestOutcome::kShuttingDown);
  EXPECT_EQ(budget_.InFlight(), 0);
}

}  // namespace
}  // namespace gateway
