// The sharded engine with a fate store (a FakeFateStore behind the real
// FateStoreClient): what each shard's FateStoreGate publishes, how consumers
// wait for lookups and what they learn, and that a store that is down, slow
// or stuck never holds a span back past max_wait nor loses one.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/reparent/fate_store_client.h"
#include "pipeline/reparent/sharded_trace_engine.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_exporter.h"
#include "tests/fakes/fake_fate_store.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using testing::FakeFateStore;
using testing::ProtoSpan;
using testing::SpanIdBytes;
using testing::TraceIdBytes;

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

StoredFateKey Query(uint64_t trace, uint64_t span) {
  StoredFateKey q;
  TraceId::FromBytes(TraceIdBytes(trace), &q.original_trace);
  SpanId::FromBytes(SpanIdBytes(span), &q.span);
  return q;
}
TraceId Trace(uint64_t trace) {
  TraceId t;
  TraceId::FromBytes(TraceIdBytes(trace), &t);
  return t;
}

class FateStoreEngineTest : public ::testing::Test {
 protected:
  void Start() {
    // The fake clock stands still unless a test moves it: no lingering.
    if (!keep_lingers_) client_options_.lookup_linger = absl::ZeroDuration();
    if (!keep_lingers_ && !keep_publish_linger_) client_options_.publish_linger = absl::ZeroDuration();
    auto store = std::make_unique<FakeFateStore>();
    store_ = store.get();
    client_ = std::make_unique<FateStoreClient>(client_options_, std::move(store), metrics_, clock_);
    batcher_options_.max_spans = 1;  // every span exported at once: the fake clock never moves by itself
    engine_ = NewShardedTraceEngine(options_, batcher_options_, exporter_, &budget_, metrics_, clock_, client_.get());
  }
  void TearDown() override {
    if (engine_) engine_->Shutdown();
    if (client_) client_->Shutdown();
  }

  void Submit(const std::vector<ProtoSpan>& spans) {
    engine_->Submit(testing::ScanOrFail(testing::BuildRequest(spans)));
  }

  // Exported spans by span id (the last byte of SpanIdBytes), with how many
  // times each came out; fan-out spans excluded.
  std::map<std::string, std::vector<ProtoSpan>> Exported() const {
    std::map<std::string, std::vector<ProtoSpan>> out;
    for (ProtoSpan& s : testing::SpansOfBodies(exporter_.Bodies())) out[s.span_id()].push_back(std::move(s));
    return out;
  }
  bool WaitExported(int64_t items) { return exporter_.WaitForItems(items, absl::Now() + absl::Seconds(20)); }
  bool WaitFor(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!done()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  int64_t Counter(const std::string& name, const MetricLabels& labels = {}) const {
    return metrics_.CounterValue(name, labels);
  }
  int64_t Degraded(const std::string& reason) const {
    return Counter("gateway_fate_store_degraded_total", {{"reason", reason}});
  }

  ReparentOptions options_;
  TraceBatcherOptions batcher_options_;
  FateStoreClientOptions client_options_;
  bool keep_publish_linger_ = false;
  bool keep_lingers_ = false;
  testing::FakeClock clock_;
  testing::FakeExporter exporter_;
  MemoryBudget budget_{1 << 30};
  MetricsRegistry metrics_;
  FakeFateStore* store_ = nullptr;
  std::unique_ptr<FateStoreClient> client_;
  std::unique_ptr<TraceEngine> engine_;
};

TEST_F(FateStoreEngineTest, PublishesWhereProducersWentMovedOrNot) {
  // One shard: the producer's publish and the consumer's lookup reach the
  // client together (the fake clock never moves, so a lookup that missed
  // would not be asked again).
  options_.shards = 1;
  Start();
  // A's producer (trace 1), B's consumer of it (trace 2) and B's producer
  // under that consumer, which moves with it into trace 1.
  Submit({MakeSpan(1, 1, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER),
          MakeSpan(2, 2, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{1, 1}}),
          MakeSpan(2, 3, 2, ProtoSpan::SPAN_KIND_PRODUCER), MakeSpan(2, 4, 2)});
  ASSERT_TRUE(WaitExported(4));
  ASSERT_TRUE(WaitFor([&] { return store_->Size() == 2; }));
  EXPECT_EQ(store_->Get(Query(1, 1)), Trace(1));  // unchanged
  EXPECT_EQ(store_->Get(Query(2, 3)), Trace(1));  // moved with its consumer
  EXPECT_FALSE(store_->Get(Query(2, 2)).has_value());  // consumers and internal spans are not link targets
  EXPECT_EQ(store_->LastTtl(), client_options_.ttl);
  const auto spans = Exported();
  EXPECT_EQ(spans.at(SpanIdBytes(2)).at(0).trace_id(), TraceIdBytes(1));
  EXPECT_EQ(spans.at(SpanIdBytes(3)).at(0).trace_id(), TraceIdBytes(1));
  // B's consumer asked for A's producer and found it without a round trip
  // (published by this gateway).
  EXPECT_EQ(Counter("gateway_fate_store_lookups_total", {{"result", "cached"}}), 1);
  EXPECT_EQ(Counter("gateway_fate_store_waits_total"), 1);
}

TEST_F(FateStoreEngineTest, ProducersArePublishedInBatchesAfterTheLinger) {
  options_.shards = 1;
  keep_publish_linger_ = true;
  client_options_.publish_linger = absl::Milliseconds(10);
  Start();
  for (uint64_t i = 1; i <= 5; ++i) Submit({MakeSpan(i, i, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER)});
  ASSERT_TRUE(WaitExported(5));
  absl::SleepFor(absl::Milliseconds(100));  // the fake clock stands still: nothing handed on yet
  EXPECT_TRUE(store_->Trips().empty());
  // Once in the gate, once more in the client.
  clock_.Advance(absl::Milliseconds(10));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(store_->Trips().empty());
  clock_.Advance(absl::Milliseconds(10));
  ASSERT_TRUE(WaitFor([&] { return store_->Size() == 5; }));
  ASSERT_EQ(store_->Trips().size(), 1u);
  EXPECT_EQ(store_->Trips()[0].published, 5u);
}

TEST_F(FateStoreEngineTest, ConsumerWaitsForTheStoreAndItsFateIsLearned) {
  // One shard: a learned fate is known to the shard whose consumer asked,
  // and the producer's late child is in another trace.
  options_.shards = 1;
  Start();
  // Another gateway moved producer (trace 2, span 3) into trace 1.
  store_->Put(Query(2, 3), Trace(1));
  // Here: C's consumer linking that producer by its original trace, and a
  // late child of the producer (it follows its parent).
  Submit({MakeSpan(4, 5, 4), MakeSpan(4, 4, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{2, 3}}),
          MakeSpan(2, 6, 3)});
  ASSERT_TRUE(WaitExported(3));
  const auto spans = Exported();
  EXPECT_EQ(spans.at(SpanIdBytes(6)).at(0).trace_id(), TraceIdBytes(1));  // learned: moved with its parent
  // The consumer goes under the producer in the producer's NEW trace, its
  // child with it.
  EXPECT_EQ(spans.at(SpanIdBytes(4)).at(0).parent_span_id(), SpanIdBytes(3));
  EXPECT_EQ(spans.at(SpanIdBytes(4)).at(0).trace_id(), TraceIdBytes(1));
  EXPECT_EQ(spans.at(SpanIdBytes(5)).at(0).trace_id(), TraceIdBytes(1));
  EXPECT_EQ(Counter("gateway_fate_store_links_followed_total"), 1);
  EXPECT_EQ(Counter("gateway_fate_store_lookups_total", {{"result", "found"}}), 1);
  EXPECT_EQ(Counter("gateway_fate_store_fates_learned_total"), 1);
  EXPECT_EQ(Degraded("unavailable") + Degraded("timeout"), 0);
  EXPECT_EQ(Counter("gateway_spans_released_unchanged_total", {{"reason", "hold_window"}}), 0);
}

TEST_F(FateStoreEngineTest, InvocationMovesWithItsConsumerAfterTheWait) {
  // The aws-lambda shape (docs/reparenting.md, "Invocations") behind a
  // store: the consumer is held back in the gate while the store is asked;
  // its invocation, later in the same request, must wait with it, or it
  // goes out unchanged before the resolver sees the consumer and the
  // Lambda's trace splits. Found by tests/e2e/python/test_chain_gateways.py.
  options_.shards = 1;
  Start();
  // Another gateway moved producer (trace 2, span 3) into trace 1.
  store_->Put(Query(2, 3), Trace(1));
  ProtoSpan consumer = MakeSpan(4, 5, 4, ProtoSpan::SPAN_KIND_CONSUMER, {{2, 3}});
  consumer.set_flags(0x100);  // HAS_IS_REMOTE, not IS_REMOTE: the parent is in this process
  ProtoSpan invocation = MakeSpan(4, 4, std::nullopt, ProtoSpan::SPAN_KIND_SERVER);
  auto* trigger = invocation.add_attributes();
  trigger->set_key("faas.trigger");
  trigger->mutable_value()->set_string_value("pubsub");
  // As the SDK exports them: in the order they ended.
  Submit({MakeSpan(4, 6, 5), consumer, invocation});
  ASSERT_TRUE(WaitExported(3));
  const auto spans = Exported();
  // The invocation takes the consumer's place under the producer, in the
  // producer's new trace; the consumer stays its child, the handler's span
  // below it.
  EXPECT_EQ(spans.at(SpanIdBytes(4)).at(0).trace_id(), TraceIdBytes(1));
  EXPECT_EQ(spans.at(SpanIdBytes(4)).at(0).parent_span_id(), SpanIdBytes(3));
  EXPECT_EQ(spans.at(SpanIdBytes(5)).at(0).trace_id(), TraceIdBytes(1));
  EXPECT_EQ(spans.at(SpanIdBytes(5)).at(0).parent_span_id(), SpanIdBytes(4));
  EXPECT_EQ(spans.at(SpanIdBytes(6)).at(0).trace_id(), TraceIdBytes(1));
  for (const auto& [id, copies] : spans) EXPECT_EQ(copies.size(), 1u);
  EXPECT_EQ(Counter("gateway_fate_store_links_followed_total"), 1);
  EXPECT_EQ(Counter("gateway_spans_released_unchanged_total", {{"reason", "hold_window"}}), 0);
}

TEST_F(FateStoreEngineTest, FanOutSpansGoToTheirProducersNewTraces) {
  options_.shards = 1;
  Start();
  // A batch consumer linking two producers that other gateways moved, and
  // a third that nobody published.
  store_->Put(Query(20, 21), Trace(2));
  store_->Put(Query(30, 31), Trace(3));
  Submit({MakeSpan(9, 9, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{20, 21}, {30, 31}, {40, 41}})});
  ASSERT_TRUE(WaitFor([&] { return store_->Trips().size() == 1; }));
  // The unknown one is asked again until max_wait (5 s): the last ask, then
  // the answer, before the gate would give up.
  clock_.Advance(absl::Milliseconds(4800));
  // The consumer and one per-message span per link (the chosen one's too).
  ASSERT_TRUE(WaitExported(4));
  EXPECT_EQ(Degraded("timeout"), 0);
  EXPECT_EQ(Counter("gateway_fate_store_lookups_total", {{"result", "absent"}}), 1);
  std::multimap<std::string, std::string> parents_by_trace;
  for (const auto& [id, spans] : Exported()) {
    for (const ProtoSpan& s : spans) parents_by_trace.emplace(s.trace_id(), s.parent_span_id());
  }
  using Parents = std::multimap<std::string, std::string>;
  EXPECT_EQ(parents_by_trace, (Parents{{TraceIdBytes(2), SpanIdBytes(21)},     // the consumer itself
                                       {TraceIdBytes(2), SpanIdBytes(21)},     // its first message
                                       {TraceIdBytes(3), SpanIdBytes(31)},     // in the producer's new trace
                                       {TraceIdBytes(40), SpanIdBytes(41)}}));  // unknown: as received
  EXPECT_EQ(Counter("gateway_fate_store_links_followed_total"), 1);
  EXPECT_EQ(Counter("gateway_fate_store_fates_learned_total"), 2);
}

TEST_F(FateStoreEngineTest, StoreDownDecidesAsWithoutAStoreAtOnce) {
  options_.shards = 2;
  Start();
  store_->SetDown(true);
  std::vector<ProtoSpan> sent;
  for (uint64_t i = 1; i <= 50; ++i) {
    const uint64_t n = 100 * i;
    sent.push_back(MakeSpan(n, n, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{n + 1, n + 1}}));
    sent.push_back(MakeSpan(n, n + 2, n));
    Submit({sent[sent.size() - 1], sent[sent.size() - 2]});
  }
  // The fake clock never moves: nothing waits for a deadline.
  ASSERT_TRUE(WaitExported(100));
  const auto spans = Exported();
  EXPECT_EQ(spans.size(), 100u);
  for (const ProtoSpan& s : sent) EXPECT_EQ(spans.at(s.span_id()).size(), 1u);
  EXPECT_EQ(Degraded("unavailable"), 50);
  EXPECT_TRUE(WaitFor([&] { return Counter("gateway_spans_reparented_total") == 50; }));
  EXPECT_FALSE(client_->Snapshot().up);
}

TEST_F(FateStoreEngineTest, SlowStoreReleasesConsumersAtMaxWaitWithoutBlockingSubmit) {
  options_.shards = 2;
  client_options_.timeout = absl::Seconds(30);
  client_options_.max_wait = absl::Seconds(2);
  Start();
  store_->BlockRoundTrips(true);
  const absl::Time start = absl::Now();
  for (uint64_t i = 1; i <= 20; ++i) {
    Submit({MakeSpan(10 * i, 10 * i, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{10 * i + 1, 1}}),
            MakeSpan(10 * i, 10 * i + 2, 10 * i)});
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  ASSERT_TRUE(store_->WaitBlocked(absl::Seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return client_->Snapshot().waiting == 20; }));
  EXPECT_EQ(exporter_.Items(), 0);
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(WaitExported(40));
  EXPECT_EQ(Degraded("timeout"), 20);
  // The engine publishes its counters after the batch is out.
  EXPECT_TRUE(WaitFor([&] { return Counter("gateway_spans_reparented_total") == 20; }));
  EXPECT_EQ(client_->Snapshot().waiting, 0);
  store_->BlockRoundTrips(false);
}

TEST_F(FateStoreEngineTest, FlushGetsTheAnswersFirstThenReleasesWhatHasNone) {
  options_.shards = 2;
  keep_lingers_ = true;
  client_options_.lookup_linger = absl::Seconds(10);  // the fake clock never gets there: only a flush sends
  client_options_.publish_linger = absl::Seconds(10);
  client_options_.timeout = absl::Seconds(30);  // a stuck store stays stuck
  Start();
  store_->Put(Query(2, 3), Trace(1));
  Submit({MakeSpan(4, 4, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{2, 3}}), MakeSpan(4, 5, 4)});
  ASSERT_TRUE(WaitFor([&] { return client_->Snapshot().waiting == 1; }));
  ASSERT_TRUE(engine_->Flush(absl::Now() + absl::Seconds(10)));
  ASSERT_TRUE(WaitExported(2));
  EXPECT_EQ(Exported().at(SpanIdBytes(4)).at(0).trace_id(), TraceIdBytes(1));
  EXPECT_EQ(Degraded("flush"), 0);
  // A store that does not answer: the flush waits briefly, then lets the
  // consumer go as without a store.
  store_->BlockRoundTrips(true);
  Submit({MakeSpan(6, 6, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{7, 7}})});
  ASSERT_TRUE(WaitFor([&] { return client_->Snapshot().waiting == 1; }));
  const absl::Time start = absl::Now();
  engine_->Flush(absl::Now() + absl::Seconds(10));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  ASSERT_TRUE(WaitExported(3));
  EXPECT_EQ(Degraded("flush"), 1);
  store_->BlockRoundTrips(false);
}

TEST_F(FateStoreEngineTest, ShutdownReleasesWaitingConsumers) {
  options_.shards = 1;
  client_options_.timeout = absl::Seconds(30);
  Start();
  store_->BlockRoundTrips(true);
  Submit({MakeSpan(1, 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{2, 2}})});
  ASSERT_TRUE(WaitFor([&] { return client_->Snapshot().waiting == 1; }));
  engine_->Shutdown();
  EXPECT_EQ(exporter_.Items(), 1);
  EXPECT_EQ(Degraded("shutdown"), 1);
  store_->BlockRoundTrips(false);
}

TEST_F(FateStoreEngineTest, LookupsFromAllShardsShareRoundTrips) {
  options_.shards = 4;
  client_options_.timeout = absl::Seconds(30);
  Start();
  store_->BlockRoundTrips(true);
  // A first publish keeps the client in a round trip while 200 consumers
  // arrive on 4 shards.
  Submit({MakeSpan(1, 1, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER)});
  ASSERT_TRUE(store_->WaitBlocked(absl::Seconds(10)));
  for (uint64_t i = 1; i <= 200; ++i) {
    store_->Put(Query(5000 + i, 7), Trace(9000 + i));
    Submit({MakeSpan(i + 10, 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {{5000 + i, 7}})});
  }
  ASSERT_TRUE(WaitFor([&] { return client_->Snapshot().waiting == 200; }));
  store_->BlockRoundTrips(false);
  ASSERT_TRUE(WaitExported(201));
  size_t trips_with_lookups = 0;
  size_t looked_up = 0;
  for (const FakeFateStore::Trip& trip : store_->Trips()) {
    trips_with_lookups += trip.looked_up > 0 ? 1 : 0;
    looked_up += trip.looked_up;
  }
  EXPECT_EQ(looked_up, 200u);
  EXPECT_LE(trips_with_lookups, 2u);
  EXPECT_EQ(Counter("gateway_fate_store_fates_learned_total"), 200);
}

}  // namespace
}  // namespace gateway
