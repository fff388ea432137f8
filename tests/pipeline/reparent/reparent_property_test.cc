// Differential test: random span forests with random links (chains of
// consumers and producers across traces, batches with message ids,
// invocations, links that cannot be parents), arriving in random order split
// into random requests, through the online TraceResolver; the output
// (everything within the hold window, then ReleaseAll) must equal what the
// offline oracle computes from all spans at once. Without cross_process (or
// with it, without wait_for_link_fate) a target uses what is known when it
// is decided, which depends on arrival:
// the oracle is then told, per target and per-message span, whether it used
// its link target's fate (read from the output: whether it went to its
// link's own trace), and checks everything else against that.
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/pipeline/reparent/random_forest.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using testing::Forest;
using testing::ProtoSpan;
using testing::RandomForest;

constexpr int kIterations = 300;

class ReparentPropertyTest : public ::testing::TestWithParam<int> {
 protected:
  int anchored_ = 0;
};

TEST_P(ReparentPropertyTest, OnlineEngineMatchesOfflineOracleInAnyArrivalOrder) {
  const int block = GetParam();
  TraceResolverStats total;
  int64_t max_held = 0;
  for (int i = 0; i < kIterations / 10; ++i) {
    const uint64_t seed = static_cast<uint64_t>(block * (kIterations / 10) + i + 1);
    Forest forest = RandomForest(seed);

    std::mt19937_64 rng(seed ^ 0x5eed);
    std::vector<ProtoSpan> arrival = forest.spans;
    std::shuffle(arrival.begin(), arrival.end(), rng);

    TraceResolver resolver(forest.options);
    const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
    std::vector<OutputSpan> out;
    testing::OracleArrival when;
    int requests = 0;
    size_t at = 0;
    while (at < arrival.size()) {
      const size_t n = std::uniform_int_distribution<size_t>(1, arrival.size() - at)(rng);
      std::vector<ProtoSpan> request(arrival.begin() + at, arrival.begin() + at + n);
      ScannedTraceRequest scanned = testing::ScanOrFail(testing::BuildRequest(request));
      ASSERT_EQ(scanned.spans.size(), n);
      // Span by span (each a request of its own), or the whole request at
      // once (the shard worker's path, with its inline common case): the
      // same rules either way.
      const bool whole = rng() % 2 == 0;
      for (size_t k = 0; k < n; ++k) {
        when.when[request[k].span_id()] = {whole ? requests : requests + static_cast<int>(k) + 1,
                                           static_cast<int>(at + k)};
      }
      requests += static_cast<int>(n) + 1;
      if (!whole) {
        for (const SpanRef& span : scanned.spans) resolver.Process(span, scanned.buffer, now, &out);
      } else {
        resolver.ProcessRequest(scanned.buffer, scanned.spans, now, &out);
      }
      at += n;
      max_held = std::max(max_held, resolver.HeldSpans());
    }
    resolver.ReleaseAll(&out);
    ASSERT_EQ(resolver.HeldSpans(), 0);

    const std::vector<ProtoSpan> actual = testing::DecodeSpans(out);
    std::map<std::string, std::string> trace_of;
    for (const ProtoSpan& s : actual) trace_of[s.span_id()] = s.trace_id();
    if (!forest.options.WaitsForLinkFate()) {
      when.link_known = [&trace_of](const std::string& span_id, const std::string& link_trace) {
        auto it = trace_of.find(span_id);
        return it == trace_of.end() || it->second != link_trace;
      };
    }
    const std::vector<ProtoSpan> expected = testing::ReparentOffline(forest.spans, forest.options, when);
    ASSERT_EQ(testing::Canonical(actual), testing::Canonical(expected)) << "seed " << seed;
    EXPECT_EQ(resolver.stats().processed, static_cast<int64_t>(forest.spans.size()));
    EXPECT_EQ(static_cast<int64_t>(actual.size()), resolver.stats().processed + resolver.stats().fanout_created);
    total.reparented += resolver.stats().reparented;
    total.descendants_moved += resolver.stats().descendants_moved;
    total.fanout_created += resolver.stats().fanout_created;
    total.routed += resolver.stats().routed;
    total.link_fate_unknown += resolver.stats().link_fate_unknown;
    for (const ProtoSpan& s : actual) {
      for (const auto& kv : s.attributes()) {
        // An invocation moved under its consumer child's producer.
        if (kv.key() == "faas.trigger" && s.parent_span_id().size() == 8 && s.links_size() == 0) ++anchored_;
      }
    }
  }
  // The forests exercise every rule, not only pass-through.
  EXPECT_GT(total.reparented, 0);
  EXPECT_GT(total.descendants_moved, 0);
  EXPECT_GT(total.fanout_created, 0);
  EXPECT_GT(total.routed, 0);
  EXPECT_GT(max_held, 0);
  std::printf("block %d: reparented %lld, moved %lld, per-message %lld, routed %lld, link fate unknown %lld, "
              "invocations moved %d, max held %lld\n",
              block, static_cast<long long>(total.reparented), static_cast<long long>(total.descendants_moved),
              static_cast<long long>(total.fanout_created), static_cast<long long>(total.routed),
              static_cast<long long>(total.link_fate_unknown), anchored_, static_cast<long long>(max_held));
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReparentPropertyTest, ::testing::Range(0, 10));

}  // namespace
}  // namespace gateway
