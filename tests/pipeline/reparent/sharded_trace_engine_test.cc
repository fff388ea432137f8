#include "pipeline/reparent/sharded_trace_engine.h"

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/reparent/shard_of.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_exporter.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
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

// Polls `done` until it holds or the deadline passes; bounded in time.
bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class ShardedTraceEngineTest : public ::testing::Test {
 protected:
  void Start() {
    engine_ = NewShardedTraceEngine(options_, batcher_options_, exporter_, &budget_, metrics_, clock_);
  }

  void Submit(const std::vector<ProtoSpan>& spans) {
    std::string body = testing::BuildRequest(spans);
    const int64_t bytes = static_cast<int64_t>(body.size());
    ScannedTraceRequest scanned = testing::ScanOrFail(std::move(body));
    // As GatewayPipeline does: the request is admitted until its buffer dies.
    budget_.ForceAdmit(bytes);
    scanned.buffer->admission = std::shared_ptr<void>(nullptr, [this, bytes](void*) { budget_.Release(bytes); });
    engine_->Submit(std::move(scanned));
  }

  int64_t Released(const std::string& reason) const {
    return metrics_.CounterValue("gateway_spans_released_unchanged_total", {{"reason", reason}});
  }
  int64_t Lookups(const std::string& answered_by) const {
    return metrics_.CounterValue("gateway_link_fate_lookups_total", {{"answered_by", answered_by}});
  }

  ReparentOptions options_;
  TraceBatcherOptions batcher_options_;
  testing::FakeClock clock_;
  testing::FakeExporter exporter_;
  MemoryBudget budget_{1 << 30};
  MetricsRegistry metrics_;
  std::unique_ptr<TraceEngine> engine_;
};

TEST_F(ShardedTraceEngineTest, EverySpanComesOutExactlyOnceFromManyProducers) {
  options_.shards = 3;
  Start();
  constexpr int kThreads = 4;
  constexpr int kRequestsPerThread = 40;
  std::vector<std::vector<ProtoSpan>> per_thread(kThreads);
  std::vector<ProtoSpan> all;
  // Each "message" i: producer trace P with span, consumer trace C with a
  // consumer linked to the producer and to a second producer (fan-out), and
  // a child of the consumer that arrives in an earlier request.
  for (int t = 0; t < kThreads; ++t) {
    for (int r = 0; r < kRequestsPerThread; ++r) {
      const uint64_t n = static_cast<uint64_t>(t * 1000 + r) * 10 + 1;
      ProtoSpan producer = MakeSpan(n, n, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER);
      ProtoSpan consumer = MakeSpan(n + 1, n + 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER,
                                    {{n, n}, {n + 5, n + 5}});
      ProtoSpan child = MakeSpan(n + 1, n + 2, n + 1);
      ProtoSpan grandchild = MakeSpan(n + 1, n + 3, n + 2);
      per_thread[t].push_back(grandchild);
      per_thread[t].push_back(child);
      per_thread[t].push_back(producer);
      per_thread[t].push_back(consumer);
      for (const ProtoSpan& s : {producer, consumer, child, grandchild}) all.push_back(s);
    }
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &per_thread] {
      // Requests of 1 to 3 spans, children first.
      const auto& spans = per_thread[t];
      for (size_t i = 0; i < spans.size();) {
        const size_t n = std::min<size_t>(1 + (i % 3), spans.size() - i);
        Submit(std::vector<ProtoSpan>(spans.begin() + i, spans.begin() + i + n));
        i += n;
      }
    });
  }
  for (auto& th : threads) th.join();

  const std::vector<ProtoSpan> expected = testing::ReparentOffline(all, options_);
  // All parents arrive; the fake clock never moves, so only a full batch or
  // Shutdown flushes.
  engine_->Shutdown();
  ASSERT_TRUE(exporter_.WaitForItems(static_cast<int64_t>(expected.size()), absl::Now() + kWait));
  EXPECT_EQ(exporter_.Items(), static_cast<int64_t>(expected.size()));
  EXPECT_EQ(testing::Canonical(testing::SpansOfBodies(exporter_.Bodies())), testing::Canonical(expected));

  const int64_t messages = kThreads * kRequestsPerThread;
  EXPECT_EQ(metrics_.CounterValue("gateway_spans_processed_total"), 4 * messages);
  EXPECT_EQ(metrics_.CounterValue("gateway_spans_reparented_total"), messages);
  EXPECT_EQ(metrics_.CounterValue("gateway_descendants_moved_total"), 2 * messages);
  // Both links of each consumer get a per-message span.
  EXPECT_EQ(metrics_.CounterValue("gateway_fanout_spans_created_total"), 2 * messages);
  EXPECT_EQ(Released("shutdown"), 0);
  EXPECT_EQ(engine_->HeldSpans(), 0);
  EXPECT_EQ(budget_.InFlight(), 0);
  EXPECT_EQ(engine_->RecentDecisions().size(), 50u);
}

// Chains of 2 to 6 hops (issue #19): A's producer, then per hop a consumer
// linking to the previous hop's producer by its original trace id, with a
// child and a producer of its own. Every span must end in the first
// producer's trace, each consumer under the producer it links to, each span
// delivered once.
// A trace number whose id varies in the bytes ShardOf reads, so that the
// hops of a chain spread over the shards.
uint64_t Spread(uint64_t n) { return n << 40 | n; }

std::vector<ProtoSpan> ChainSpans(uint64_t chain, int hops) {
  std::vector<ProtoSpan> spans;
  const uint64_t base = chain * 1000;
  spans.push_back(MakeSpan(Spread(base), base + 1, std::nullopt, ProtoSpan::SPAN_KIND_SERVER));
  spans.push_back(MakeSpan(Spread(base), base + 2, base + 1, ProtoSpan::SPAN_KIND_PRODUCER));
  for (int h = 1; h <= hops; ++h) {
    const uint64_t trace = base + static_cast<uint64_t>(h);
    const uint64_t consumer = base + 10 * static_cast<uint64_t>(h);
    const uint64_t previous_trace = h == 1 ? base : trace - 1;
    const uint64_t previous_producer = h == 1 ? base + 2 : consumer - 10 + 2;
    spans.push_back(MakeSpan(Spread(trace), consumer, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER,
                             {{Spread(previous_trace), previous_producer}}));
    spans.push_back(MakeSpan(Spread(trace), consumer + 1, consumer));
    spans.push_back(MakeSpan(Spread(trace), consumer + 2, consumer + 1, ProtoSpan::SPAN_KIND_PRODUCER));
  }
  return spans;
}

class ShardedChainTest : public ShardedTraceEngineTest {
 protected:
  void RunChains(bool cross_process) {
    options_.shards = 4;
    options_.cross_process = cross_process;
    Start();
    std::vector<ProtoSpan> all;
    std::vector<std::vector<ProtoSpan>> chains;
    for (uint64_t c = 1; c <= 25; ++c) {
      chains.push_back(ChainSpans(c, 2 + static_cast<int>(c % 5)));
      all.insert(all.end(), chains.back().begin(), chains.back().end());
    }
    // The hops do cross shards.
    std::set<size_t> shards_used;
    for (const ProtoSpan& s : all) {
      TraceId t;
      TraceId::FromBytes(s.trace_id(), &t);
      shards_used.insert(ShardOf(t, 4));
    }
    ASSERT_EQ(shards_used.size(), 4u);
    std::mt19937_64 rng(19);
    if (cross_process) {
      std::vector<ProtoSpan> arrival = all;
      std::shuffle(arrival.begin(), arrival.end(), rng);
      for (size_t at = 0; at < arrival.size();) {
        const size_t n = std::min<size_t>(1 + rng() % 7, arrival.size() - at);
        Submit(std::vector<ProtoSpan>(arrival.begin() + at, arrival.begin() + at + n));
        at += n;
      }
    } else {
      // Hop after hop, each hop's spans (of every chain) in one request
      // decided before the next hop's arrive, as a service exports its
      // spans after the hop before it: a gateway in front of one service
      // knows what it has seen.
      int64_t submitted = 0;
      for (int hop = 0; hop <= 6; ++hop) {
        std::vector<ProtoSpan> request;
        for (const auto& chain : chains) {
          const size_t first = hop == 0 ? 0 : 3 * static_cast<size_t>(hop) - 1;
          const size_t count = hop == 0 ? 2 : 3;
          if (first >= chain.size()) continue;
          request.insert(request.end(), chain.begin() + first, chain.begin() + first + count);
        }
        if (request.empty()) continue;
        Submit(request);
        submitted += static_cast<int64_t>(request.size());
        ASSERT_TRUE(WaitUntil([&] {
          return metrics_.CounterValue("gateway_spans_processed_total") == submitted && engine_->HeldSpans() == 0;
        }));
      }
    }
    // Everything decided (not released by Shutdown): every span processed
    // and nothing held, answers between shards included.
    ASSERT_TRUE(WaitUntil([&] {
      return metrics_.CounterValue("gateway_spans_processed_total") == static_cast<int64_t>(all.size()) &&
             engine_->HeldSpans() == 0;
    }));
    engine_->Shutdown();
    const std::vector<ProtoSpan> got = testing::SpansOfBodies(exporter_.Bodies());
    std::map<std::string, int> count;
    std::map<std::string, const ProtoSpan*> by_id;
    for (const ProtoSpan& s : got) {
      ++count[s.span_id()];
      by_id[s.span_id()] = &s;
    }
    EXPECT_EQ(got.size(), all.size());
    for (const auto& chain : chains) {
      for (const ProtoSpan& s : chain) {
        ASSERT_EQ(count[s.span_id()], 1);
        const ProtoSpan& out = *by_id[s.span_id()];
        EXPECT_EQ(out.trace_id(), chain[0].trace_id());
        if (s.links_size() > 0) {
          EXPECT_EQ(out.parent_span_id(), s.links(0).span_id());
        }
      }
    }
    EXPECT_EQ(Released("hold_window"), 0);
    EXPECT_EQ(Released("shutdown"), 0);
    EXPECT_EQ(metrics_.CounterValue("gateway_link_fate_unknown_total"), 0);
    // A sidecar's shards read each other's filters of moved fates: a
    // producer that did not move is answered there, one that moved (every
    // hop after the first) is asked of its owner. A central gateway waits
    // for link fates, which only the owner can do.
    const int64_t from_filter = Lookups("shared_filter");
    const int64_t from_owner = Lookups("owner_shard");
    if (cross_process) {
      EXPECT_EQ(from_filter, 0);
      EXPECT_GT(from_owner, 0);
    } else {
      EXPECT_GT(from_filter, 0);
      EXPECT_GT(from_owner, 0);
    }
  }
};

TEST_F(ShardedChainTest, CentralGatewayChainsShuffledAcrossRequestsAndShardsEndWholeInTheFirstTrace) {
  RunChains(/*cross_process=*/true);
}

TEST_F(ShardedChainTest, SidecarChainsArrivingHopAfterHopEndWholeInTheFirstTrace) {
  RunChains(/*cross_process=*/false);
}

TEST_F(ShardedTraceEngineTest, SidecarShardsDecideConsumersOfEachOthersTracesWithoutAsking) {
  options_.shards = 2;
  Start();
  // Consumers whose producers (not seen, so not moved) are in traces of
  // either shard, each with a child that waits for it.
  constexpr uint64_t kConsumers = 200;
  int64_t cross = 0;
  std::vector<ProtoSpan> spans;
  for (uint64_t n = 1; n <= kConsumers; ++n) {
    const uint64_t own_trace = Spread(n);
    const uint64_t producer_trace = Spread(100'000 + n);
    spans.push_back(
        MakeSpan(own_trace, 10 * n + 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{producer_trace, 7}}));
    spans.push_back(MakeSpan(own_trace, 10 * n + 2, 10 * n + 1));
    TraceId own, producer;
    TraceId::FromBytes(TraceIdBytes(own_trace), &own);
    TraceId::FromBytes(TraceIdBytes(producer_trace), &producer);
    if (ShardOf(own, 2) != ShardOf(producer, 2)) ++cross;
    if (spans.size() == 20) {
      Submit(spans);
      spans.clear();
    }
  }
  ASSERT_GT(cross, 0);
  ASSERT_TRUE(WaitUntil([&] {
    return metrics_.CounterValue("gateway_spans_processed_total") == static_cast<int64_t>(2 * kConsumers) &&
           engine_->HeldSpans() == 0;
  }));
  EXPECT_EQ(Lookups("shared_filter"), cross);
  EXPECT_EQ(Lookups("owner_shard"), 0);  // 200 moved fates in 1 MiB: no false positive
  EXPECT_EQ(metrics_.CounterValue("gateway_spans_reparented_total"), static_cast<int64_t>(kConsumers));
  engine_->Shutdown();
  // Each consumer and its child under the consumer's producer.
  std::map<std::string, ProtoSpan> by_id;
  for (const ProtoSpan& s : testing::SpansOfBodies(exporter_.Bodies())) by_id[s.span_id()] = s;
  for (uint64_t n = 1; n <= kConsumers; ++n) {
    const ProtoSpan& consumer = by_id[SpanIdBytes(10 * n + 1)];
    EXPECT_EQ(consumer.trace_id(), TraceIdBytes(Spread(100'000 + n)));
    EXPECT_EQ(consumer.parent_span_id(), SpanIdBytes(7));
    EXPECT_EQ(by_id[SpanIdBytes(10 * n + 2)].trace_id(), TraceIdBytes(Spread(100'000 + n)));
  }
  EXPECT_EQ(testing::SpansOfBodies(exporter_.Bodies()).size(), 2 * kConsumers);
}

// Hops of chains in one request, their traces on different shards: a
// consumer's shard learns the fate of a producer in the same request only
// after the producer's shard has processed its part of it (the old way, a
// question behind that part in its queue, and the shared filter alike).
TEST_F(ShardedTraceEngineTest, ASidecarConsumerFollowsAProducerThatMovedInTheSameRequest) {
  options_.shards = 2;
  Start();
  std::vector<ProtoSpan> request;
  std::vector<uint64_t> chains;
  TraceId ta, b, c;
  for (uint64_t n = 1; chains.size() < 100; ++n) {
    // Trace a (never sent) <- b's consumer, b's producer below it <- c's
    // consumer: b and c on different shards, a on b's (so that b's hop is
    // decided as its shard processes it: a sidecar does not wait for a hop
    // that is itself waiting, docs/reparenting.md §3).
    const uint64_t a = Spread(10'000 + n), tb = Spread(20'000 + n), tc = Spread(30'000 + n);
    TraceId::FromBytes(TraceIdBytes(a), &ta);
    TraceId::FromBytes(TraceIdBytes(tb), &b);
    TraceId::FromBytes(TraceIdBytes(tc), &c);
    if (ShardOf(b, 2) == ShardOf(c, 2) || ShardOf(ta, 2) != ShardOf(b, 2)) continue;
    chains.push_back(n);
    request.push_back(MakeSpan(tb, 10 * n + 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{a, 7}}));
    request.push_back(MakeSpan(tb, 10 * n + 2, 10 * n + 1, ProtoSpan::SPAN_KIND_PRODUCER));
    request.push_back(MakeSpan(tc, 10 * n + 3, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{tb, 10 * n + 2}}));
  }
  Submit(request);
  ASSERT_TRUE(WaitUntil([&] {
    return metrics_.CounterValue("gateway_spans_processed_total") == static_cast<int64_t>(request.size()) &&
           engine_->HeldSpans() == 0;
  }));
  engine_->Shutdown();
  std::map<std::string, ProtoSpan> by_id;
  for (const ProtoSpan& s : testing::SpansOfBodies(exporter_.Bodies())) by_id[s.span_id()] = s;
  ASSERT_EQ(by_id.size(), request.size());
  for (uint64_t n : chains) {
    const std::string a = TraceIdBytes(Spread(10'000 + n));
    for (uint64_t k = 1; k <= 3; ++k) EXPECT_EQ(by_id[SpanIdBytes(10 * n + k)].trace_id(), a) << n << "/" << k;
    EXPECT_EQ(by_id[SpanIdBytes(10 * n + 3)].parent_span_id(), SpanIdBytes(10 * n + 2));
  }
  EXPECT_EQ(Released("shutdown"), 0);
}

TEST_F(ShardedTraceEngineTest, ShutdownReleasesHeldSpansUnchanged) {
  options_.shards = 2;
  Start();
  Submit({MakeSpan(1, 11, 10), MakeSpan(2, 21, 20), MakeSpan(3, 31, 30)});
  ASSERT_TRUE(WaitUntil([&] { return engine_->HeldSpans() == 3; }));
  EXPECT_EQ(exporter_.Items(), 0);
  engine_->Shutdown();
  EXPECT_EQ(exporter_.Items(), 3);
  EXPECT_EQ(Released("shutdown"), 3);
  EXPECT_EQ(engine_->HeldSpans(), 0);
  EXPECT_EQ(budget_.InFlight(), 0);
  engine_->Shutdown();  // idempotent
}

// The value of an unlabeled gauge in the Prometheus text; -1 when absent.
double GaugeValue(const MetricsRegistry& metrics, const std::string& name) {
  const std::string text = metrics.RenderPrometheus();
  const std::string prefix = "\n" + name + " ";
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + prefix.size()));
}

TEST_F(ShardedTraceEngineTest, ExportsTableBytesWithinTheBoundSplitOverShards) {
  options_.shards = 2;
  options_.max_table_bytes = 2 * 64 * 1024;
  Start();
  constexpr int kConsumers = 3000;
  for (int r = 0; r < kConsumers / 100; ++r) {
    std::vector<ProtoSpan> spans;
    for (int i = 0; i < 100; ++i) {
      const uint64_t n = static_cast<uint64_t>(r * 100 + i) + 1;
      spans.push_back(MakeSpan(n, 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{100'000 + n, 7}}));
    }
    Submit(spans);
  }
  ASSERT_TRUE(WaitUntil([&] {
    return metrics_.CounterValue("gateway_spans_processed_total") == kConsumers &&
           GaugeValue(metrics_, "gateway_reparent_table_bytes") > 0;
  }));
  const double bytes = GaugeValue(metrics_, "gateway_reparent_table_bytes");
  EXPECT_GT(bytes, 0);
  EXPECT_LE(bytes, static_cast<double>(options_.max_table_bytes));
  engine_->Shutdown();
}

TEST_F(ShardedTraceEngineTest, AHeldSpanKeepsItsWholeRequestAdmittedUntilExported) {
  options_.shards = 1;
  options_.hold_window = absl::Seconds(10);
  Start();
  Submit({MakeSpan(1, 11, 10), MakeSpan(1, 12, std::nullopt)});
  ASSERT_TRUE(WaitUntil([&] { return engine_->HeldSpans() == 1; }));
  clock_.Advance(TraceBatcherOptions{}.max_delay);
  ASSERT_TRUE(exporter_.WaitForItems(1, absl::Now() + kWait));
  // The root went out (its export body is released when the exporter is
  // done), but the held child still pins the whole request's bytes.
  const int64_t request_bytes =
      static_cast<int64_t>(testing::BuildRequest({MakeSpan(1, 11, 10), MakeSpan(1, 12, std::nullopt)}).size());
  EXPECT_TRUE(WaitUntil([&] { return budget_.InFlight() == request_bytes; })) << budget_.InFlight();
  clock_.Advance(absl::Seconds(11));
  ASSERT_TRUE(WaitUntil([&] { return Released("hold_window") == 1; }));
  clock_.Advance(TraceBatcherOptions{}.max_delay);
  ASSERT_TRUE(exporter_.WaitForItems(2, absl::Now() + kWait));
  EXPECT_TRUE(WaitUntil([&] { return budget_.InFlight() == 0; }));
}

TEST_F(ShardedTraceEngineTest, HoldWindowExpiresOnTheInjectedClock) {
  options_.shards = 1;
  options_.hold_window = absl::Seconds(10);
  Start();
  Submit({MakeSpan(1, 11, 10)});
  ASSERT_TRUE(WaitUntil([&] { return engine_->HeldSpans() == 1; }));
  clock_.Advance(absl::Seconds(11));
  ASSERT_TRUE(WaitUntil([&] { return Released("hold_window") == 1; }));
  EXPECT_TRUE(WaitUntil([&] { return engine_->HeldSpans() == 0; }));
  // Released into the batch; the batch goes when its delay passes.
  clock_.Advance(TraceBatcherOptions{}.max_delay);
  ASSERT_TRUE(exporter_.WaitForItems(1, absl::Now() + kWait));
}

TEST_F(ShardedTraceEngineTest, BatchesByCountAndFlushesTheRestAfterMaxDelay) {
  options_.shards = 1;
  batcher_options_.max_spans = 10;
  Start();
  std::vector<ProtoSpan> spans;
  for (int i = 0; i < 35; ++i) spans.push_back(MakeSpan(1, 100 + i, std::nullopt));
  Submit(spans);
  ASSERT_TRUE(exporter_.WaitForItems(30, absl::Now() + kWait));
  EXPECT_EQ(exporter_.Requests(), 3);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(exporter_.WaitForItems(35, absl::Now() + kWait));
  EXPECT_EQ(exporter_.Requests(), 4);
  EXPECT_TRUE(WaitUntil([&] { return budget_.InFlight() == 0; }));
}

TEST_F(ShardedTraceEngineTest, SpansSubmittedAfterShutdownGoOutUnchanged) {
  options_.shards = 1;
  Start();
  engine_->Shutdown();
  Submit({MakeSpan(1, 11, 10), MakeSpan(1, 12, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{2, 20}})});
  EXPECT_EQ(exporter_.Items(), 2);
  EXPECT_EQ(Released("shutdown"), 2);
  EXPECT_EQ(budget_.InFlight(), 0);
}

TEST_F(ShardedTraceEngineTest, ExportRequestCarriesTheOldestEndTime) {
  options_.shards = 1;
  clock_.Set(absl::FromUnixSeconds(1'700'000'001));  // the spans ended a moment before they arrive
  Start();
  Submit({MakeSpan(1, 12, std::nullopt), MakeSpan(1, 11, std::nullopt)});
  engine_->Shutdown();
  ASSERT_EQ(exporter_.Requests(), 1);
  EXPECT_EQ(exporter_.OldestItemTimes()[0], absl::FromUnixNanos(1'700'000'000'000'000'000LL + 11));
}

TEST_F(ShardedTraceEngineTest, BatcherDeadlineFollowsItsFirstSpan) {
  testing::FakeExporter direct;
  TraceBatcher batcher(TraceBatcherOptions{}, direct, nullptr);
  ScannedTraceRequest scanned =
      testing::ScanOrFail(testing::BuildRequest({MakeSpan(1, 12, std::nullopt), MakeSpan(1, 11, std::nullopt)}));
  for (const SpanRef& s : scanned.spans) batcher.Add(OutputSpan::Unchanged(s, scanned.buffer), clock_.Now());
  EXPECT_EQ(batcher.Deadline(), clock_.Now() + TraceBatcherOptions{}.max_delay);
  batcher.Flush();
  EXPECT_EQ(direct.Items(), 2);
  EXPECT_EQ(batcher.Deadline(), absl::InfiniteFuture());
}

TEST_F(ShardedTraceEngineTest, BatcherSplitsARunAtMaxSpansAndMaxBytes) {
  std::vector<ProtoSpan> spans;
  for (int i = 0; i < 7; ++i) spans.push_back(MakeSpan(1, static_cast<uint8_t>(10 + i), std::nullopt));
  ScannedTraceRequest scanned = testing::ScanOrFail(testing::BuildRequest(spans));
  const size_t field = EncodedSpanSize(OutputSpan::Unchanged(scanned.spans[0], scanned.buffer));
  std::vector<OutputSpan> one_by_one;
  for (const SpanRef& s : scanned.spans) one_by_one.push_back(OutputSpan::Unchanged(s, scanned.buffer));
  const std::vector<ProtoSpan> expected = testing::DecodeSpans(one_by_one);
  std::vector<OutputSpan> runs;
  for (const SpanRef& s : scanned.spans) AppendUnchanged(s, scanned.buffer, &runs);
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_EQ(runs[0].span_count, 7u);

  for (const bool by_bytes : {false, true}) {
    SCOPED_TRACE(by_bytes ? "max_bytes" : "max_spans");
    testing::FakeExporter direct;
    TraceBatcherOptions batcher_options;
    if (by_bytes) {
      // Frames (as the batcher counts them: tags and lengths of up to 6
      // bytes each) plus two and a half fields: two spans per request.
      const size_t frames = 12 + scanned.buffer->scope_frames[0].size() + scanned.buffer->resource_frames[0].size();
      batcher_options.max_bytes = frames + 2 * field + field / 2;
    } else {
      batcher_options.max_spans = 3;
    }
    TraceBatcher batcher(batcher_options, direct, nullptr);
    batcher.Add(runs[0], clock_.Now());
    batcher.Flush();
    EXPECT_EQ(direct.Items(), 7);
    std::vector<ProtoSpan> got;
    for (const std::string& body : direct.Bodies()) {
      ExportTraceServiceRequest request;
      ASSERT_TRUE(request.ParseFromString(body));
      int in_request = 0;
      for (const auto& rs : request.resource_spans()) {
        for (const auto& ss : rs.scope_spans()) {
          for (const ProtoSpan& s : ss.spans()) {
            got.push_back(s);
            ++in_request;
          }
        }
      }
      EXPECT_LE(in_request, by_bytes ? 2 : 3);
      if (by_bytes) {
        EXPECT_LE(body.size(), batcher_options.max_bytes);
      }
    }
    EXPECT_EQ(direct.Requests(), by_bytes ? 4 : 3);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].SerializeAsString(), expected[i].SerializeAsString());
  }
}

}  // namespace
}  // namespace gateway
