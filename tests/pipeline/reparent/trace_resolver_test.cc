#include "pipeline/reparent/trace_resolver.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/otlp/trace_ids.h"
#include "tests/fakes/fake_clock.h"
#include "tests/pipeline/reparent/reparent_oracle.h"
#include "tests/pipeline/reparent/trace_resolver_fixture.h"

namespace gateway {
namespace {

TEST_F(TraceResolverTest, ReparentsConsumerToItsLinkedProducer) {
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20, "k=v")})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(2));
  EXPECT_EQ(out[0].parent_span_id(), SpanIdBytes(20));
  EXPECT_EQ(out[0].span_id(), SpanIdBytes(10));
  EXPECT_EQ(out[0].trace_state(), "k=v");
  EXPECT_EQ(out[0].flags(), 0x01u | kRemoteBits);
  EXPECT_EQ(out[0].links_size(), 0);  // the chosen link is gone, no old parent
  EXPECT_EQ(AttrString(out[0], kAttrOriginalTraceId), Hex(TraceIdBytes(1)));
  EXPECT_FALSE(HasAttr(out[0], kAttrOriginalParentSpanId));
  EXPECT_EQ(AttrString(out[0], "messaging.system"), "sqs");
  EXPECT_EQ(resolver_->stats().reparented, 1);
}

TEST_F(TraceResolverTest, KeepsTheOldParentAsAMarkedLink) {
  auto out = Feed({MakeSpan(1, 11, 10, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].links_size(), 1);
  const auto& old = out[0].links(0);
  EXPECT_EQ(old.trace_id(), TraceIdBytes(1));
  EXPECT_EQ(old.span_id(), SpanIdBytes(10));
  ASSERT_EQ(old.attributes_size(), 1);
  EXPECT_EQ(old.attributes(0).key(), kAttrOriginalParent);
  EXPECT_TRUE(old.attributes(0).value().bool_value());
  EXPECT_EQ(AttrString(out[0], kAttrOriginalParentSpanId), Hex(SpanIdBytes(10)));
  EXPECT_EQ(AttrString(out[0], kAttrOriginalTraceId), Hex(TraceIdBytes(1)));
}

TEST_F(TraceResolverTest, RecordOriginalOffAddsNoAttributesButKeepsTheOldParentLink) {
  options_.record_original = false;
  auto out = Feed({MakeSpan(1, 11, 10, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(HasAttr(out[0], kAttrOriginalTraceId));
  EXPECT_FALSE(HasAttr(out[0], kAttrOriginalParentSpanId));
  EXPECT_EQ(out[0].attributes_size(), 1);
  EXPECT_EQ(out[0].links_size(), 1);
}

TEST_F(TraceResolverTest, IgnoresLinksToItsOwnTrace) {
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(1, 5), Link(3, 30)})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(3));
  EXPECT_EQ(out[0].parent_span_id(), SpanIdBytes(30));
  ASSERT_EQ(out[0].links_size(), 1);
  EXPECT_EQ(out[0].links(0).trace_id(), TraceIdBytes(1));  // own-trace link stays
}

TEST_F(TraceResolverTest, OnlyOwnTraceLinksLeaveTheSpanUnchanged) {
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(1, 5)})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(last_raw_[0].rewritten.empty());
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(1));
  EXPECT_EQ(resolver_->stats().reparented, 0);
}

TEST_F(TraceResolverTest, IgnoresInvalidLinks) {
  LinkSpec zero_trace{std::string(16, '\0'), SpanIdBytes(7), ""};
  LinkSpec zero_span{TraceIdBytes(4), std::string(8, '\0'), ""};
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {zero_trace, zero_span}),
                   MakeSpan(1, 11, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {zero_trace, Link(5, 50)})});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Find(out, 10)->trace_id(), TraceIdBytes(1));
  EXPECT_TRUE(last_raw_[0].rewritten.empty());
  EXPECT_EQ(Find(out, 11)->trace_id(), TraceIdBytes(5));
  EXPECT_EQ(Find(out, 11)->links_size(), 1);  // the invalid link stays
}

TEST_F(TraceResolverTest, ChoosesTheFirstValidCrossTraceLinkByDefault) {
  options_.fanout = false;
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30)})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(2));
  ASSERT_EQ(out[0].links_size(), 1);
  EXPECT_EQ(out[0].links(0).trace_id(), TraceIdBytes(3));
}

TEST_F(TraceResolverTest, ChoosesTheLastLinkWhenAsked) {
  options_.fanout = false;
  options_.link_choice = LinkChoice::kLast;
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30)})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(3));
  EXPECT_EQ(out[0].parent_span_id(), SpanIdBytes(30));
}

TEST_F(TraceResolverTest, OtherKindsPassWithTheirBytesUntouched) {
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_SERVER, {Link(2, 20)}),
                   MakeSpan(1, 11, 10, ProtoSpan::SPAN_KIND_PRODUCER, {Link(2, 20)})});
  // Consecutive unchanged spans may go out as one run of their received bytes.
  uint32_t spans = 0;
  for (const OutputSpan& o : last_raw_) {
    EXPECT_TRUE(o.rewritten.empty());
    EXPECT_FALSE(o.patched_trace_id.has_value());
    spans += o.span_count;
  }
  EXPECT_EQ(spans, 2u);
}

TEST_F(TraceResolverTest, ConfiguredTargetKindsAreReparented) {
  options_.target_kinds = {SpanKind::kServer};
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_SERVER, {Link(2, 20)}),
                   MakeSpan(1, 11, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  EXPECT_EQ(Find(out, 10)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 11)->trace_id(), TraceIdBytes(1));
}

TEST_F(TraceResolverTest, MovesDescendantsWithTheConsumer) {
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)}),
                   MakeSpan(1, 11, 10), MakeSpan(1, 12, 11), MakeSpan(1, 13, std::nullopt)});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(Find(out, 11)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 11)->parent_span_id(), SpanIdBytes(10));
  EXPECT_EQ(Find(out, 12)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 12)->parent_span_id(), SpanIdBytes(11));
  EXPECT_EQ(Find(out, 13)->trace_id(), TraceIdBytes(1));
  EXPECT_EQ(resolver_->stats().descendants_moved, 2);
}

TEST_F(TraceResolverTest, HoldsAChildUntilItsParentArrivesInALaterRequest) {
  auto first = Feed({MakeSpan(1, 12, 11), MakeSpan(1, 11, 10)});
  EXPECT_TRUE(first.empty());
  EXPECT_EQ(resolver_->HeldSpans(), 2);
  auto second = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  ASSERT_EQ(second.size(), 3u);
  for (const ProtoSpan& s : second) EXPECT_EQ(s.trace_id(), TraceIdBytes(2));
  EXPECT_EQ(resolver_->HeldSpans(), 0);
}

TEST_F(TraceResolverTest, ChildOfAnUnchangedParentIsReleasedWhenTheParentArrives) {
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10)}).empty());
  auto out = Feed({MakeSpan(1, 10, std::nullopt)});
  ASSERT_EQ(out.size(), 2u);
  for (const OutputSpan& o : last_raw_) EXPECT_TRUE(o.rewritten.empty());
}

TEST_F(TraceResolverTest, LateChildFollowsItsParentAlreadyForwarded) {
  Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  clock_.Advance(absl::Seconds(30));  // well past the hold window, within resolved_ttl
  auto out = Feed({MakeSpan(1, 11, 10)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(2));
  EXPECT_EQ(resolver_->HeldSpans(), 0);
}

TEST_F(TraceResolverTest, ProcessRequestFollowsFatesOfBothGenerationsAndWakesHeldChildren) {
  options_.resolved_ttl = absl::Minutes(2);
  // 10 moves; 20 stays; after a rotation both are in the older generation.
  FeedRequest({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)}),
               MakeSpan(1, 20, std::nullopt)});
  Advance(absl::Minutes(1) + absl::Seconds(1));
  // 31 waits for 30, which arrives later in the same request.
  auto out = FeedRequest({MakeSpan(1, 11, 10), MakeSpan(1, 21, 20), MakeSpan(1, 31, 30), MakeSpan(1, 30, 20)});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(Find(out, 11)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 21)->trace_id(), TraceIdBytes(1));
  EXPECT_EQ(Find(out, 30)->trace_id(), TraceIdBytes(1));
  EXPECT_EQ(Find(out, 31)->trace_id(), TraceIdBytes(1));
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  EXPECT_EQ(resolver_->stats().processed, 6);
  EXPECT_EQ(resolver_->stats().descendants_moved, 1);
}

TEST_F(TraceResolverTest, ForgetsFatesAfterResolvedTtl) {
  options_.resolved_ttl = absl::Minutes(1);
  Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  EXPECT_EQ(resolver_->ResolvedSpans(), 1);
  Advance(absl::Minutes(2));
  EXPECT_EQ(resolver_->ResolvedSpans(), 0);
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10)}).empty());  // held again: fate unknown
}

TEST_F(TraceResolverTest, BoundsRememberedFatesOldestFirst) {
  limits_.max_resolved_spans = 2;
  Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)}), MakeSpan(1, 30, std::nullopt),
        MakeSpan(1, 31, std::nullopt)});
  EXPECT_LE(resolver_->ResolvedSpans(), 2);
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10)}).empty());  // 10's fate was forgotten
  EXPECT_EQ(Feed({MakeSpan(1, 32, 31)}).size(), 1u);
}

TEST_F(TraceResolverTest, TheCountBoundStillAppliesUnderALooseByteBound) {
  limits_.max_resolved_spans = 2;
  limits_.max_table_bytes = 1 << 20;
  Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)}), MakeSpan(1, 30, std::nullopt),
        MakeSpan(1, 31, std::nullopt)});
  EXPECT_LE(resolver_->ResolvedSpans(), 2);
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10)}).empty());  // 10's fate was forgotten
  EXPECT_EQ(Feed({MakeSpan(1, 32, 31)}).size(), 1u);
  EXPECT_LE(resolver_->PeakTableBytes(), 1 << 20);
}

// Consumer i (trace 1000 + i) moves to trace 5000 + i; its child arrives one
// request later and must follow it. Both are moved spans: the 40-byte table.
TEST_F(TraceResolverTest, TablesOfMovedSpansStayWithinTheByteBound) {
  constexpr int64_t kBound = 16 * 1024;
  limits_.max_table_bytes = kBound;
  limits_.max_resolved_spans = 1'000'000'000;  // only bytes bound here
  constexpr uint64_t kConsumers = 2000;
  for (uint64_t i = 0; i < kConsumers; ++i) {
    std::vector<ProtoSpan> request = {
        MakeSpan(1000 + i, 1, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(5000 + i, 7)})};
    if (i > 0) request.push_back(MakeSpan(1000 + i - 1, 2, 1));  // the previous consumer's child
    const auto out = (i % 2 == 0) ? Feed(request) : FeedRequest(request);
    ASSERT_EQ(out.size(), request.size()) << i;
    if (i > 0) {
      // The fate is still found within the bound.
      EXPECT_EQ(Find(out, 2)->trace_id(), TraceIdBytes(5000 + i - 1)) << i;
    }
    ASSERT_LE(resolver_->TableBytes(), kBound) << i;
    ASSERT_LE(resolver_->PeakTableBytes(), kBound) << i;
  }
  EXPECT_EQ(resolver_->stats().descendants_moved, static_cast<int64_t>(kConsumers - 1));
  EXPECT_GT(resolver_->TableBytes(), kBound / 4);  // the bound is used, not avoided
  // The oldest generation is what was forgotten: a late grandchild of the
  // first consumer waits, the last consumer's child goes with it.
  EXPECT_TRUE(Feed({MakeSpan(1000, 3, 2)}).empty());
  const auto newest = Feed({MakeSpan(1000 + kConsumers - 1, 2, 1)});
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].trace_id(), TraceIdBytes(5000 + kConsumers - 1));
  EXPECT_LE(resolver_->PeakTableBytes(), kBound);
}

TEST_F(TraceResolverTest, TablesOfUnchangedSpansStayWithinTheByteBound) {
  constexpr int64_t kBound = 8 * 1024;
  limits_.max_table_bytes = kBound;
  limits_.max_resolved_spans = 1'000'000'000;
  for (uint64_t i = 0; i < 3000; ++i) {
    // A root and its child one request later (the fast path of ProcessRequest).
    std::vector<ProtoSpan> request = {MakeSpan(i + 1, 1, std::nullopt)};
    if (i > 0) request.push_back(MakeSpan(i, 2, 1));
    ASSERT_EQ(FeedRequest(request).size(), request.size()) << i;
    ASSERT_LE(resolver_->PeakTableBytes(), kBound) << i;
  }
  // 8 KiB is 1024 fingerprints over two generations: the first root is gone.
  EXPECT_TRUE(Feed({MakeSpan(1, 3, 1)}).empty());
  EXPECT_GT(resolver_->TableBytes(), kBound / 4);
}

// A generation forgotten for being full leaves its tables to the next one:
// from the third generation on, the tables neither shrink nor grow again.
// One forgotten after traffic fell gives its memory back.
TEST_F(TraceResolverTest, ABusyGenerationsTablesAreReusedAQuietOnesFreed) {
  constexpr int kGeneration = 8192;
  limits_.max_resolved_spans = 2 * kGeneration;
  options_.resolved_ttl = absl::Minutes(2);
  uint64_t trace = 1;
  auto feed_generation = [&] {
    for (int r = 0; r < kGeneration / 128; ++r) {
      std::vector<ProtoSpan> request;
      for (int i = 0; i < 128; ++i, ++trace) request.push_back(MakeSpan(trace, 1, std::nullopt));
      FeedRequest(request);
    }
  };
  for (int g = 0; g < 3; ++g) feed_generation();
  const int64_t steady = resolver_->TableBytes();
  ASSERT_GT(steady, 0);
  for (int g = 0; g < 2; ++g) {
    for (int r = 0; r < kGeneration / 128; ++r) {
      std::vector<ProtoSpan> request;
      for (int i = 0; i < 128; ++i, ++trace) request.push_back(MakeSpan(trace, 1, std::nullopt));
      FeedRequest(request);
      ASSERT_EQ(resolver_->TableBytes(), steady) << g << " " << r;
    }
  }
  // Traffic falls to a span a minute: each generation is forgotten by time.
  // The busy one is still reused; the next, with one fate, is freed.
  for (int i = 0; i < 3; ++i) {
    Advance(absl::Minutes(1));
    FeedRequest({MakeSpan(trace++, 1, std::nullopt)});
  }
  EXPECT_LT(resolver_->TableBytes(), steady / 4);
}

TEST_F(TraceResolverTest, ABoundTooSmallForOneFateRemembersNone) {
  limits_.max_table_bytes = 100;  // 50 per generation: a fingerprint fits, a moved entry does not
  Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)}), MakeSpan(3, 30, std::nullopt)});
  EXPECT_LE(resolver_->PeakTableBytes(), 100);
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10)}).empty());  // 10 moved, but could not be remembered: held
  EXPECT_EQ(Feed({MakeSpan(3, 31, 30)}).size(), 1u);  // 30's fingerprint fit
  EXPECT_LE(resolver_->PeakTableBytes(), 100);
}

TEST_F(TraceResolverTest, ReportsHeldBookkeepingBytes) {
  Make();
  EXPECT_EQ(resolver_->HeldBytes(), 0);
  std::vector<ProtoSpan> spans;
  constexpr uint64_t kHeld = 20'000;
  for (uint64_t i = 0; i < kHeld; ++i) spans.push_back(MakeSpan(i + 1, 2, 1));
  FeedRequest(spans);
  ASSERT_EQ(resolver_->HeldSpans(), static_cast<int64_t>(kHeld));
  const double per_span = static_cast<double>(resolver_->HeldBytes()) / kHeld;
  // docs/reparenting.md quotes this range; the gateway sizes max_held_spans
  // with its upper end.
  EXPECT_GT(per_span, 150);
  EXPECT_LT(per_span, 600);
  std::printf("held bookkeeping: %.0f bytes per held span\n", per_span);
}

TEST_F(TraceResolverTest, NestedConsumerWinsForItsDescendants) {
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)}),
                   MakeSpan(1, 11, 10), MakeSpan(1, 12, 11, ProtoSpan::SPAN_KIND_CONSUMER, {Link(3, 30)}),
                   MakeSpan(1, 13, 12), MakeSpan(1, 14, 11)});
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(Find(out, 11)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 12)->trace_id(), TraceIdBytes(3));
  EXPECT_EQ(Find(out, 12)->parent_span_id(), SpanIdBytes(30));
  // The nested consumer's old parent link names its original trace.
  EXPECT_EQ(Find(out, 12)->links(0).trace_id(), TraceIdBytes(1));
  EXPECT_EQ(Find(out, 13)->trace_id(), TraceIdBytes(3));
  EXPECT_EQ(Find(out, 14)->trace_id(), TraceIdBytes(2));
}

TEST_F(TraceResolverTest, ReleasesUnchangedWhenTheHoldWindowPasses) {
  options_.hold_window = absl::Seconds(10);
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10)}).empty());
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(Feed({MakeSpan(1, 12, 11)}).empty());
  EXPECT_EQ(resolver_->NextExpiry(), clock_.Now() + absl::Seconds(5));
  EXPECT_TRUE(Advance(absl::Seconds(4)).empty());
  // 11 expires; 12 follows it unchanged at once.
  auto out = Advance(absl::Seconds(1));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(1));
  EXPECT_EQ(out[1].trace_id(), TraceIdBytes(1));
  EXPECT_EQ(resolver_->stats().released_hold_window, 1);
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  EXPECT_EQ(resolver_->NextExpiry(), absl::InfiniteFuture());
  // The parent, arriving late as a consumer, moves alone.
  auto late = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].trace_id(), TraceIdBytes(2));
}

TEST_F(TraceResolverTest, ReleasesTheOldestWhenTheHeldBoundIsReached) {
  limits_.max_held_spans = 2;
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10), MakeSpan(1, 21, 20)}).empty());
  auto out = Feed({MakeSpan(1, 31, 30)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_id(), SpanIdBytes(11));
  EXPECT_EQ(resolver_->stats().released_memory_bound, 1);
  EXPECT_EQ(resolver_->HeldSpans(), 2);
}

TEST_F(TraceResolverTest, ReleaseAllLetsEverythingHeldGoUnchanged) {
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10), MakeSpan(1, 12, 11), MakeSpan(2, 21, 20)}).empty());
  auto out = ReleaseAll();
  EXPECT_EQ(out.size(), 3u);
  for (const ProtoSpan& s : out) EXPECT_EQ(s.trace_id(), s.span_id() == SpanIdBytes(21) ? TraceIdBytes(2) : TraceIdBytes(1));
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  EXPECT_EQ(resolver_->stats().released_shutdown, 2);  // 12 followed 11
}

TEST_F(TraceResolverTest, RemoteParentIsNotWaitedForWithoutCrossProcess) {
  ProtoSpan s = MakeSpan(1, 11, 10);
  s.set_flags(0x01 | kRemoteBits);
  auto out = Feed({s});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(last_raw_[0].rewritten.empty());
}

TEST_F(TraceResolverTest, RemoteParentIsWaitedForWithCrossProcess) {
  options_.cross_process = true;
  ProtoSpan s = MakeSpan(1, 11, 10);
  s.set_flags(0x01 | kRemoteBits);
  EXPECT_TRUE(Feed({s}).empty());
  // The consumer waits for its link target too (a central gateway).
  EXPECT_TRUE(Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})}).empty());
  auto out = Feed({MakeSpan(2, 20, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER)});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(Find(out, 10)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 11)->trace_id(), TraceIdBytes(2));
}

TEST_F(TraceResolverTest, BatchGetsOnePerMessageSpanPerLinkUnderItsProducer) {
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER,
                            {Link(2, 20), Link(3, 30, "a=b"), Link(1, 9), Link(4, 40)})});
  // The batch span, and one per-message span for each of its three
  // cross-trace links, the chosen one's included.
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(resolver_->stats().fanout_created, 3);
  std::set<std::string> traces;
  for (const ProtoSpan& s : out) {
    if (s.span_id() == SpanIdBytes(10)) continue;
    traces.insert(s.trace_id());
    EXPECT_EQ(s.kind(), ProtoSpan::SPAN_KIND_CONSUMER);
    EXPECT_EQ(s.name(), "span-10");
    // Starts and ends when the batch span starts; no status.
    EXPECT_EQ(s.start_time_unix_nano(), 1'700'000'000'000'000'000ULL + 10);
    EXPECT_EQ(s.end_time_unix_nano(), s.start_time_unix_nano());
    EXPECT_FALSE(s.has_status());
    EXPECT_EQ(AttrString(s, "messaging.system"), "sqs");
    EXPECT_EQ(AttrString(s, kAttrFanoutOfTraceId), Hex(TraceIdBytes(2)));
    EXPECT_EQ(AttrString(s, kAttrFanoutOfSpanId), Hex(SpanIdBytes(10)));
    EXPECT_EQ(s.flags(), 0x01u | kRemoteBits);
    // A link back to the batch span (in its new trace), marked.
    ASSERT_EQ(s.links_size(), 1);
    EXPECT_EQ(s.links(0).trace_id(), TraceIdBytes(2));
    EXPECT_EQ(s.links(0).span_id(), SpanIdBytes(10));
    EXPECT_EQ(s.links(0).attributes(0).key(), kAttrBatchSpan);
    if (s.trace_id() == TraceIdBytes(3)) {
      EXPECT_EQ(s.parent_span_id(), SpanIdBytes(30));
      EXPECT_EQ(s.trace_state(), "a=b");
    } else if (s.trace_id() == TraceIdBytes(2)) {
      EXPECT_EQ(s.parent_span_id(), SpanIdBytes(20));
    } else {
      EXPECT_EQ(s.trace_id(), TraceIdBytes(4));
      EXPECT_EQ(s.parent_span_id(), SpanIdBytes(40));
    }
  }
  EXPECT_EQ(traces, (std::set<std::string>{TraceIdBytes(2), TraceIdBytes(3), TraceIdBytes(4)}));
  // The real span keeps its other links.
  EXPECT_EQ(Find(out, 10)->links_size(), 3);
}

TEST_F(TraceResolverTest, PerMessageSpansTakeMessagingAttributesButNotTheBatchCount) {
  ProtoSpan batch = MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30)});
  auto* count = batch.add_attributes();
  count->set_key("messaging.batch.message_count");
  count->mutable_value()->set_int_value(2);
  auto* region = batch.add_attributes();
  region->set_key("cloud.region");
  region->mutable_value()->set_string_value("eu-west-1");
  auto* id = batch.mutable_links(1)->add_attributes();
  id->set_key("messaging.message.id");
  id->mutable_value()->set_string_value("m-2");
  auto out = Feed({batch});
  ASSERT_EQ(out.size(), 3u);
  for (const ProtoSpan& s : out) {
    if (s.span_id() == SpanIdBytes(10)) continue;
    EXPECT_FALSE(HasAttr(s, "messaging.batch.message_count"));
    EXPECT_FALSE(HasAttr(s, "cloud.region"));
    EXPECT_EQ(AttrString(s, "messaging.system"), "sqs");
    EXPECT_EQ(AttrString(s, "messaging.message.id"), s.trace_id() == TraceIdBytes(3) ? "m-2" : "<absent>");
  }
}

TEST_F(TraceResolverTest, LinksIntoOneTraceGetOneSpanPerMessageAndNoCopyOfTheBatch) {
  // Two messages from one sender trace, the chosen one among them, and a
  // second link to the same span (one span for it).
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER,
                            {Link(2, 20), Link(2, 21), Link(2, 21), Link(3, 30)})});
  ASSERT_EQ(out.size(), 4u);
  int in_trace_2 = 0;
  for (const ProtoSpan& s : out) in_trace_2 += s.trace_id() == TraceIdBytes(2) ? 1 : 0;
  // The batch span and the per-message spans under 20 and 21.
  EXPECT_EQ(in_trace_2, 3);
}

TEST_F(TraceResolverTest, FanoutSpanIdsAreDeterministicAcrossRetries) {
  ProtoSpan s = MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30)});
  auto first = Feed({s});
  Make();  // another process
  auto second = Feed({s});
  EXPECT_EQ(testing::Canonical(first), testing::Canonical(second));
  SpanId id = FanoutSpanId(TraceId{}, SpanId{}, TraceId{}, SpanId{});
  EXPECT_TRUE(id.IsValid());
  TraceId t1, t3;
  SpanId s10, s30;
  TraceId::FromBytes(TraceIdBytes(1), &t1);
  TraceId::FromBytes(TraceIdBytes(3), &t3);
  SpanId::FromBytes(SpanIdBytes(10), &s10);
  SpanId::FromBytes(SpanIdBytes(30), &s30);
  const ProtoSpan* fanout = nullptr;
  for (const ProtoSpan& o : first) {
    if (o.trace_id() == TraceIdBytes(3)) fanout = &o;
  }
  ASSERT_NE(fanout, nullptr);
  EXPECT_EQ(fanout->span_id(), std::string(FanoutSpanId(t1, s10, t3, s30).View()));
}

TEST_F(TraceResolverTest, FanoutIsBoundedAndCanBeTurnedOff) {
  options_.max_fanout_links = 1;
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30), Link(4, 40)})});
  EXPECT_EQ(out.size(), 2u);
  options_.fanout = false;
  Make();
  out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30)})});
  EXPECT_EQ(out.size(), 1u);
}

TEST_F(TraceResolverTest, ResolvesALongChainArrivingChildFirstWithoutRecursion) {
  constexpr int kDepth = 20000;
  std::vector<ProtoSpan> chain;
  for (int i = kDepth; i >= 1; --i) chain.push_back(MakeSpan(1, 100 + i, 100 + i - 1));
  EXPECT_TRUE(Feed(chain).empty());
  auto out = Feed({MakeSpan(1, 100, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  ASSERT_EQ(out.size(), static_cast<size_t>(kDepth + 1));
  for (const ProtoSpan& s : out) EXPECT_EQ(s.trace_id(), TraceIdBytes(2));
  EXPECT_EQ(resolver_->stats().descendants_moved, kDepth);
}

TEST_F(TraceResolverTest, RemembersRecentDecisions) {
  limits_.recent_decisions = 2;
  Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)}),
        MakeSpan(3, 30, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(4, 40)}),
        MakeSpan(5, 50, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(6, 60)})});
  const auto& recent = resolver_->RecentDecisions();
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].original_trace.View(), TraceIdBytes(3));
  EXPECT_EQ(recent[1].new_trace.View(), TraceIdBytes(6));
  EXPECT_EQ(recent[1].span.View(), SpanIdBytes(50));
  EXPECT_EQ(resolver_->stats().decisions, 3);
}

TEST_F(TraceResolverTest, DecisionsCarryTheSpanName) {
  Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  const auto& recent = resolver_->RecentDecisions();
  ASSERT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent[0].name, "span-10");
}

TEST_F(TraceResolverTest, MatchesTheOfflineOracleOnAMixedRequest) {
  std::vector<ProtoSpan> spans = {
      MakeSpan(1, 10, 9, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30)}),
      MakeSpan(1, 11, 10), MakeSpan(1, 9, std::nullopt), MakeSpan(2, 20, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER)};
  auto out = Feed(spans);
  auto expected = testing::ReparentOffline(spans, options_);
  EXPECT_EQ(testing::Canonical(out), testing::Canonical(expected));
}

}  // namespace
}  // namespace gateway
