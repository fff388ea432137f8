// TraceEngine::Flush on the sharded engine: everything submitted before the
// call reaches the exporter before Flush returns, held spans go out
// unchanged counted as "flush", and fates stay remembered for late children.
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/reparent/sharded_trace_engine.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_exporter.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using testing::ProtoSpan;
using testing::SpanIdBytes;
using testing::TraceIdBytes;

constexpr absl::Duration kWait = absl::Seconds(20);

ProtoSpan MakeSpan(uint64_t trace, uint64_t span, std::optional<uint64_t> parent,
                   ProtoSpan::SpanKind kind = ProtoSpan::SPAN_KIND_INTERNAL,
                   std::vector<std::pair<uint64_t, uint64_t>> links = {}) {
  ProtoSpan s;
  s.set_trace_id(TraceIdBytes(trace));
  s.set_span_id(SpanIdBytes(span));
  if (parent.has_value()) s.set_parent_span_id(SpanIdBytes(*parent));
  s.set_kind(kind);
  s.set_name("op");
  s.set_end_time_unix_nano(1'700'000'000'000'000'000ULL + span);
  for (auto [t, sp] : links) {
    auto* l = s.add_links();
    l->set_trace_id(TraceIdBytes(t));
    l->set_span_id(SpanIdBytes(sp));
  }
  return s;
}

const ProtoSpan* FindSpan(const std::vector<ProtoSpan>& spans, uint64_t span_id) {
  for (const ProtoSpan& s : spans) {
    if (s.span_id() == SpanIdBytes(span_id)) return &s;
  }
  return nullptr;
}

class EngineFlushTest : public ::testing::Test {
 protected:
  void Start() { engine_ = NewShardedTraceEngine(options_, batcher_options_, exporter_, &budget_, metrics_, clock_); }

  void Submit(const std::vector<ProtoSpan>& spans) {
    std::string body = testing::BuildRequest(spans);
    const int64_t bytes = static_cast<int64_t>(body.size());
    ScannedTraceRequest scanned = testing::ScanOrFail(std::move(body));
    budget_.ForceAdmit(bytes);
    scanned.buffer->admission = std::shared_ptr<void>(nullptr, [this, bytes](void*) { budget_.Release(bytes); });
    engine_->Submit(std::move(scanned));
  }

  int64_t Released(const std::string& reason) const {
    return metrics_.CounterValue("gateway_spans_released_unchanged_total", {{"reason", reason}});
  }

  ReparentOptions options_;
  TraceBatcherOptions batcher_options_;
  // Never advanced: neither the hold window nor the batch delay expires, so
  // only Flush can send what these tests submit.
  testing::FakeClock clock_;
  testing::FakeExporter exporter_;
  MemoryBudget budget_{1 << 30};
  MetricsRegistry metrics_;
  std::unique_ptr<TraceEngine> engine_;
};

TEST_F(EngineFlushTest, EverythingSubmittedBeforeTheFlushIsExportedWhenItReturns) {
  options_.shards = 3;
  Start();
  // A producer, its consumer (a target) with a child, and an orphan whose
  // parent never comes: the orphan is held until the flush.
  constexpr int kMessages = 50;
  absl::flat_hash_set<std::string> submitted;
  for (int i = 0; i < kMessages; ++i) {
    const uint64_t n = static_cast<uint64_t>(i) * 10 + 1;
    std::vector<ProtoSpan> spans = {
        MakeSpan(n, n, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER),
        MakeSpan(n + 1, n + 2, n + 1),
        MakeSpan(n + 1, n + 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{n, n}}),
        MakeSpan(n + 3, n + 3, n + 9),
    };
    for (const ProtoSpan& s : spans) submitted.insert(s.span_id());
    Submit(spans);
  }
  ASSERT_TRUE(engine_->Flush(absl::Now() + kWait));

  const std::vector<ProtoSpan> exported = testing::SpansOfBodies(exporter_.Bodies());
  absl::flat_hash_set<std::string> seen;
  for (const ProtoSpan& s : exported) EXPECT_TRUE(seen.insert(s.span_id()).second) << "exported twice";
  EXPECT_EQ(seen, submitted);
  for (int i = 0; i < kMessages; ++i) {
    const uint64_t n = static_cast<uint64_t>(i) * 10 + 1;
    const ProtoSpan* consumer = FindSpan(exported, n + 1);
    const ProtoSpan* child = FindSpan(exported, n + 2);
    const ProtoSpan* orphan = FindSpan(exported, n + 3);
    ASSERT_NE(consumer, nullptr);
    ASSERT_NE(child, nullptr);
    ASSERT_NE(orphan, nullptr);
    EXPECT_EQ(consumer->trace_id(), TraceIdBytes(n));
    EXPECT_EQ(consumer->parent_span_id(), SpanIdBytes(n));
    EXPECT_EQ(child->trace_id(), TraceIdBytes(n)) << "the child follows its reparented parent";
    EXPECT_EQ(orphan->trace_id(), TraceIdBytes(n + 3)) << "released unchanged";
  }
  EXPECT_EQ(engine_->HeldSpans(), 0);
  EXPECT_EQ(Released("flush"), kMessages);
  EXPECT_EQ(Released("hold_window"), 0);
  EXPECT_EQ(Released("shutdown"), 0);
}

TEST_F(EngineFlushTest, FatesOutliveTheFlushSoALateChildStillFollows) {
  options_.shards = 2;
  Start();
  Submit({MakeSpan(1, 1, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER),
          MakeSpan(2, 2, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{1, 1}})});
  ASSERT_TRUE(engine_->Flush(absl::Now() + kWait));
  Submit({MakeSpan(2, 3, 2)});
  ASSERT_TRUE(engine_->Flush(absl::Now() + kWait));
  const std::vector<ProtoSpan> exported = testing::SpansOfBodies(exporter_.Bodies());
  const ProtoSpan* late = FindSpan(exported, 3);
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(late->trace_id(), TraceIdBytes(1));
}

TEST_F(EngineFlushTest, FlushWithNothingSubmittedReturnsAtOnceAndExportsNothing) {
  options_.shards = 2;
  Start();
  EXPECT_TRUE(engine_->Flush(absl::Now() + kWait));
  EXPECT_EQ(exporter_.Requests(), 0);
}

TEST_F(EngineFlushTest, SubmitsDuringFlushesFromOtherThreadsAreNeitherLostNorDuplicated) {
  options_.shards = 3;
  Start();
  constexpr int kThreads = 3;
  constexpr int kRequests = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int r = 0; r < kRequests; ++r) {
        const uint64_t n = static_cast<uint64_t>(t * 100'000 + r) * 10 + 1;
        Submit({MakeSpan(n, n, std::nullopt), MakeSpan(n, n + 1, n)});
      }
    });
  }
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(engine_->Flush(absl::Now() + kWait));
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(engine_->Flush(absl::Now() + kWait));
  absl::flat_hash_set<std::string> seen;
  for (const ProtoSpan& s : testing::SpansOfBodies(exporter_.Bodies())) EXPECT_TRUE(seen.insert(s.span_id()).second);
  EXPECT_EQ(seen.size(), size_t{kThreads * kRequests * 2});
}

TEST_F(EngineFlushTest, FlushAfterShutdownReturnsTrue) {
  options_.shards = 1;
  Start();
  Submit({MakeSpan(5, 5, 4)});
  engine_->Shutdown();
  EXPECT_TRUE(engine_->Flush(absl::Now() + kWait));
  EXPECT_EQ(Released("shutdown"), 1);
}

}  // namespace
}  // namespace gateway
