// Differential test: random span forests with random links, arriving in
// random order split into random requests, through the online TraceResolver;
// the output (everything within the hold window, then ReleaseAll) must equal
// what the offline oracle computes from all spans at once.
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using testing::ProtoSpan;

constexpr int kIterations = 300;

struct Forest {
  std::vector<ProtoSpan> spans;
  ReparentOptions options;
};

Forest RandomForest(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  Forest f;
  f.options.link_choice = coin(0.5) ? LinkChoice::kFirst : LinkChoice::kLast;
  f.options.fanout = coin(0.7);
  f.options.max_fanout_links = pick(0, 3);
  f.options.record_original = coin(0.7);
  f.options.cross_process = coin(0.5);
  if (coin(0.3)) f.options.target_kinds = {SpanKind::kConsumer, SpanKind::kServer};

  const ProtoSpan::SpanKind kinds[] = {ProtoSpan::SPAN_KIND_INTERNAL, ProtoSpan::SPAN_KIND_SERVER,
                                       ProtoSpan::SPAN_KIND_CLIENT, ProtoSpan::SPAN_KIND_PRODUCER,
                                       ProtoSpan::SPAN_KIND_CONSUMER, ProtoSpan::SPAN_KIND_CONSUMER};
  const uint32_t flag_choices[] = {0x101, 0x101, 0x301, 0x001, 0x000, 0x100};
  const int traces = pick(1, 5);
  uint64_t next_span = seed * 1000 + 1;
  std::vector<std::vector<int>> by_trace(traces);
  for (int t = 0; t < traces; ++t) {
    const std::string trace_id = testing::TraceIdBytes(seed * 16 + t + 1);
    const int n = pick(1, 12);
    for (int i = 0; i < n; ++i) {
      ProtoSpan s;
      s.set_trace_id(trace_id);
      s.set_span_id(testing::SpanIdBytes(next_span++));
      const int r = pick(0, 9);
      if (!by_trace[t].empty() && r < 7) {
        const auto& siblings = by_trace[t];
        s.set_parent_span_id(f.spans[siblings[pick(0, static_cast<int>(siblings.size()) - 1)]].span_id());
      } else if (r == 7) {
        s.set_parent_span_id(testing::SpanIdBytes(900'000'000 + next_span));  // never arrives
      }
      s.set_kind(kinds[pick(0, 5)]);
      s.set_flags(flag_choices[pick(0, 5)]);
      s.set_name("op-" + std::to_string(pick(0, 99)));
      s.set_start_time_unix_nano(1'700'000'000'000'000'000ULL + next_span);
      s.set_end_time_unix_nano(1'700'000'001'000'000'000ULL + next_span);
      auto* kv = s.add_attributes();
      kv->set_key("k");
      kv->mutable_value()->set_int_value(pick(0, 1000));
      if (coin(0.3)) s.mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
      by_trace[t].push_back(static_cast<int>(f.spans.size()));
      f.spans.push_back(std::move(s));
    }
  }
  // Links point to spans anywhere (own trace included), to unknown spans,
  // or are invalid.
  for (ProtoSpan& s : f.spans) {
    const int links = pick(0, 3);
    for (int l = 0; l < links; ++l) {
      auto* link = s.add_links();
      const int r = pick(0, 9);
      if (r == 0) {
        link->set_trace_id(std::string(16, '\0'));
        link->set_span_id(testing::SpanIdBytes(1));
      } else if (r == 1) {
        link->set_trace_id(testing::TraceIdBytes(seed * 16 + 15));
        link->set_span_id(std::string(8, '\0'));
      } else if (r == 2) {
        link->set_trace_id(testing::TraceIdBytes(777'000 + pick(0, 3)));
        link->set_span_id(testing::SpanIdBytes(pick(1, 5)));
      } else {
        const ProtoSpan& target = f.spans[pick(0, static_cast<int>(f.spans.size()) - 1)];
        link->set_trace_id(target.trace_id());
        link->set_span_id(target.span_id());
      }
      if (coin(0.3)) link->set_trace_state("vendor=" + std::to_string(pick(0, 9)));
      link->set_flags(coin(0.5) ? 0x101 : 0x1);
      if (coin(0.3)) {
        auto* kv = link->add_attributes();
        kv->set_key("messaging.batch.index");
        kv->mutable_value()->set_int_value(l);
      }
    }
  }
  return f;
}

class ReparentPropertyTest : public ::testing::TestWithParam<int> {};

TEST_P(ReparentPropertyTest, OnlineEngineMatchesOfflineOracleInAnyArrivalOrder) {
  const int block = GetParam();
  TraceResolverStats total;
  int64_t max_held = 0;
  for (int i = 0; i < kIterations / 10; ++i) {
    const uint64_t seed = static_cast<uint64_t>(block * (kIterations / 10) + i + 1);
    Forest forest = RandomForest(seed);
    const std::vector<ProtoSpan> expected = testing::ReparentOffline(forest.spans, forest.options);

    std::mt19937_64 rng(seed ^ 0x5eed);
    std::vector<ProtoSpan> arrival = forest.spans;
    std::shuffle(arrival.begin(), arrival.end(), rng);

    TraceResolver resolver(forest.options);
    const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
    std::vector<OutputSpan> out;
    size_t at = 0;
    while (at < arrival.size()) {
      const size_t n = std::uniform_int_distribution<size_t>(1, arrival.size() - at)(rng);
      std::vector<ProtoSpan> request(arrival.begin() + at, arrival.begin() + at + n);
      at += n;
      ScannedTraceRequest scanned = testing::ScanOrFail(testing::BuildRequest(request));
      ASSERT_EQ(scanned.spans.size(), n);
      // Span by span, or the whole request at once (the shard worker's
      // path, with its inline common case): the same rules either way.
      if (rng() % 2 == 0) {
        for (const SpanRef& span : scanned.spans) resolver.Process(span, scanned.buffer, now, &out);
      } else {
        resolver.ProcessRequest(scanned.buffer, scanned.spans, now, &out);
      }
      max_held = std::max(max_held, resolver.HeldSpans());
    }
    resolver.ReleaseAll(&out);
    ASSERT_EQ(resolver.HeldSpans(), 0);

    const std::vector<ProtoSpan> actual = testing::DecodeSpans(out);
    ASSERT_EQ(testing::Canonical(actual), testing::Canonical(expected)) << "seed " << seed;
    EXPECT_EQ(resolver.stats().processed, static_cast<int64_t>(forest.spans.size()));
    EXPECT_EQ(static_cast<int64_t>(actual.size()), resolver.stats().processed + resolver.stats().fanout_created);
    total.reparented += resolver.stats().reparented;
    total.descendants_moved += resolver.stats().descendants_moved;
    total.fanout_created += resolver.stats().fanout_created;
  }
  // The forests exercise every rule, not only pass-through.
  EXPECT_GT(total.reparented, 0);
  EXPECT_GT(total.descendants_moved, 0);
  EXPECT_GT(total.fanout_created, 0);
  EXPECT_GT(max_held, 0);
  std::printf("block %d: reparented %lld, moved %lld, fan-outs %lld, max held %lld\n", block,
              static_cast<long long>(total.reparented), static_cast<long long>(total.descendants_moved),
              static_cast<long long>(total.fanout_created), static_cast<long long>(max_held));
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReparentPropertyTest, ::testing::Range(0, 10));

}  // namespace
}  // namespace gateway
