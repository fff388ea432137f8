// Differential test of the sharded engine: random span forests
// (random_forest.h) with their traces spread over 2-3 shards, arriving in
// random order split into random requests, submitted back to back through
// NewShardedTraceEngine without a link-fate wait (a sidecar, or a tier
// replica); after Shutdown the exported spans must equal what the offline
// oracle computes from all spans at once, told per target and per-message
// span whether it used its link target's fate (read from the output, as in
// reparent_property_test). So however the shards interleave, and whether a
// link target's fate came from a shared filter or a question to its owner,
// every span comes out once, descendants follow their parents, and
// per-message spans and routing are as the rules say.
#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/reparent/sharded_trace_engine.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_exporter.h"
#include "tests/pipeline/reparent/random_forest.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using testing::Forest;
using testing::ProtoSpan;

constexpr int kForests = 400;

// The forest's trace ids differ in their last bytes only (one shard):
// their first eight bytes become a hash of the id, everywhere it appears.
void SpreadTraces(std::vector<ProtoSpan>* spans) {
  auto spread = [](std::string* id) {
    if (id->size() != 16 || *id == std::string(16, '\0')) return;
    uint64_t h = std::hash<std::string>{}(*id) | 1;
    for (int i = 0; i < 8; ++i) (*id)[i] = static_cast<char>(h >> (8 * i));
  };
  for (ProtoSpan& s : *spans) {
    spread(s.mutable_trace_id());
    for (auto& link : *s.mutable_links()) spread(link.mutable_trace_id());
  }
}

TEST(ShardedEnginePropertyTest, MatchesTheOfflineOracleHoweverTheShardsInterleave) {
  int64_t from_filter = 0;
  int64_t from_owner = 0;
  int64_t reparented = 0;
  for (int i = 0; i < kForests; ++i) {
    const uint64_t seed = 50'000 + static_cast<uint64_t>(i);
    Forest forest = testing::RandomForest(seed);
    // Without a link-fate wait (a waiting gateway's cross-shard cycles are
    // broken by the hold window, which this test does not run).
    if (forest.options.cross_process) forest.options.wait_for_link_fate = false;
    forest.options.shards = 2 + static_cast<int>(seed % 2);
    SpreadTraces(&forest.spans);

    testing::FakeClock clock;
    testing::FakeExporter exporter;
    MemoryBudget budget(1 << 30);
    MetricsRegistry metrics;
    std::unique_ptr<TraceEngine> engine =
        NewShardedTraceEngine(forest.options, TraceBatcherOptions{}, exporter, &budget, metrics, clock);

    std::mt19937_64 rng(seed ^ 0x5eed);
    std::vector<ProtoSpan> arrival = forest.spans;
    std::shuffle(arrival.begin(), arrival.end(), rng);
    testing::OracleArrival when;
    int requests = 0;
    for (size_t at = 0; at < arrival.size();) {
      const size_t n = std::uniform_int_distribution<size_t>(1, arrival.size() - at)(rng);
      std::vector<ProtoSpan> request(arrival.begin() + at, arrival.begin() + at + n);
      for (size_t k = 0; k < n; ++k) when.when[request[k].span_id()] = {requests, static_cast<int>(at + k)};
      ++requests;
      ScannedTraceRequest scanned = testing::ScanOrFail(testing::BuildRequest(request));
      ASSERT_EQ(scanned.spans.size(), n);
      engine->Submit(std::move(scanned));
      at += n;
    }
    // Everything taken in (what waits for a parent that never comes is
    // held), then released at shutdown.
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (metrics.CounterValue("gateway_spans_processed_total") < static_cast<int64_t>(forest.spans.size()) &&
           absl::Now() < deadline) {
      std::this_thread::yield();
    }
    engine->Shutdown();
    ASSERT_EQ(metrics.CounterValue("gateway_spans_processed_total"), static_cast<int64_t>(forest.spans.size()));

    const std::vector<ProtoSpan> actual = testing::SpansOfBodies(exporter.Bodies());
    std::map<std::string, std::string> trace_of;
    for (const ProtoSpan& s : actual) trace_of[s.span_id()] = s.trace_id();
    when.link_known = [&trace_of](const std::string& span_id, const std::string& link_trace) {
      auto it = trace_of.find(span_id);
      return it == trace_of.end() || it->second != link_trace;
    };
    const std::vector<ProtoSpan> expected = testing::ReparentOffline(forest.spans, forest.options, when);
    ASSERT_EQ(testing::Canonical(actual), testing::Canonical(expected)) << "seed " << seed;
    from_filter += metrics.CounterValue("gateway_link_fate_lookups_total", {{"answered_by", "shared_filter"}});
    from_owner += metrics.CounterValue("gateway_link_fate_lookups_total", {{"answered_by", "owner_shard"}});
    reparented += metrics.CounterValue("gateway_spans_reparented_total");
  }
  // Both ways of learning another shard's fates were exercised.
  EXPECT_GT(from_filter, 0);
  EXPECT_GT(from_owner, 0);
  EXPECT_GT(reparented, 0);
  std::printf("lookups: shared filter %lld, owner shard %lld; reparented %lld\n", static_cast<long long>(from_filter),
              static_cast<long long>(from_owner), static_cast<long long>(reparented));
}

}  // namespace
}  // namespace gateway
