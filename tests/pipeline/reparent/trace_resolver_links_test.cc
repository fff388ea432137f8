// TraceResolver: which links can become a parent, chains of consumers and
// producers (a link target's fate), waiting for link targets (cross_process),
// cycles, questions between shards, and the parent of a span whose SDK does
// not say whether it is remote.
#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/reparent/shard_of.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/pipeline/reparent/trace_resolver_fixture.h"

namespace gateway {
namespace {

// A chain of `hops` hops: trace 100 (root 1000 -> producer 1001), then per
// hop h a consumer in trace 100 + h linking to the previous hop's producer
// by its original trace id, with a child and a producer below it.
std::vector<ProtoSpan> Chain(int hops, uint64_t base = 0) {
  std::vector<ProtoSpan> spans;
  const uint64_t t0 = 100 + base;
  spans.push_back(MakeSpan(t0, 1000 + base * 100, std::nullopt, ProtoSpan::SPAN_KIND_SERVER));
  spans.push_back(MakeSpan(t0, 1001 + base * 100, 1000 + base * 100, ProtoSpan::SPAN_KIND_PRODUCER));
  for (int h = 1; h <= hops; ++h) {
    const uint64_t trace = t0 + 1000 * h;
    const uint64_t consumer = 1000 + base * 100 + 10 * h;
    const uint64_t previous_producer = h == 1 ? 1001 + base * 100 : consumer - 10 + 2;
    const uint64_t previous_trace = h == 1 ? t0 : trace - 1000;
    spans.push_back(MakeSpan(trace, consumer, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER,
                             {Link(previous_trace, previous_producer)}));
    spans.push_back(MakeSpan(trace, consumer + 1, consumer));
    spans.push_back(MakeSpan(trace, consumer + 2, consumer + 1, ProtoSpan::SPAN_KIND_PRODUCER));
  }
  return spans;
}

// Every span of the chain in the first trace, each consumer under the
// producer it links to, each span once.
void ExpectWholeChain(const std::vector<ProtoSpan>& out, const std::vector<ProtoSpan>& chain) {
  std::map<std::string, int> count;
  for (const ProtoSpan& s : out) ++count[s.span_id()];
  for (const ProtoSpan& s : chain) {
    EXPECT_EQ(count[s.span_id()], 1) << Hex(s.span_id());
    const ProtoSpan* got = nullptr;
    for (const ProtoSpan& o : out) {
      if (o.span_id() == s.span_id()) got = &o;
    }
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->trace_id(), chain[0].trace_id()) << Hex(s.span_id());
    if (s.links_size() > 0) {
      EXPECT_EQ(got->parent_span_id(), s.links(0).span_id());
    }
  }
}

TEST_F(TraceResolverTest, AConsumerGoesWhereTheProducerItLinksToHasMoved) {
  // In order, one hop after the other, as the services export them: even a
  // gateway in front of one service knows each producer's fate by then.
  const std::vector<ProtoSpan> chain = Chain(4);
  std::vector<ProtoSpan> out;
  for (const ProtoSpan& s : chain) {
    auto got = Feed({s});
    out.insert(out.end(), got.begin(), got.end());
  }
  ExpectWholeChain(out, chain);
  EXPECT_EQ(resolver_->stats().reparented, 4);
}

TEST_F(TraceResolverTest, ChainsOfTwoToSixHopsShuffledAcrossRequestsEndInTheFirstTrace) {
  options_.cross_process = true;
  for (int hops = 2; hops <= 6; ++hops) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      SCOPED_TRACE(::testing::Message() << hops << " hops, seed " << seed);
      Make();
      std::vector<ProtoSpan> chain = Chain(hops, seed);
      std::mt19937_64 rng(seed * 31 + hops);
      std::shuffle(chain.begin(), chain.end(), rng);
      std::vector<ProtoSpan> out;
      for (size_t at = 0; at < chain.size();) {
        const size_t n = std::min<size_t>(1 + rng() % 4, chain.size() - at);
        std::vector<ProtoSpan> request(chain.begin() + at, chain.begin() + at + n);
        auto got = rng() % 2 == 0 ? Feed(request) : FeedRequest(request);
        out.insert(out.end(), got.begin(), got.end());
        at += n;
      }
      EXPECT_EQ(resolver_->HeldSpans(), 0);
      ExpectWholeChain(out, Chain(hops, seed));
    }
  }
}

TEST_F(TraceResolverTest, ALateConsumerFollowsTheRememberedFateOfItsProducer) {
  const std::vector<ProtoSpan> chain = Chain(2);
  Feed({chain[0], chain[1], chain[2], chain[3], chain[4]});
  clock_.Advance(absl::Minutes(2));
  Advance(absl::Seconds(1));
  auto out = Feed({chain[5]});  // the second hop's consumer, two minutes later
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(100));
  EXPECT_EQ(out[0].parent_span_id(), chain[4].span_id());
}

TEST_F(TraceResolverTest, WithCrossProcessAConsumerWaitsForItsLinkTargetWithinTheHoldWindow) {
  options_.cross_process = true;
  options_.hold_window = absl::Seconds(10);
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10)}).empty());
  EXPECT_TRUE(Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})}).empty());
  // Its link target never comes: after the hold window the consumer goes to
  // the link's trace, and its child with it (not left behind).
  auto out = Advance(absl::Seconds(11));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Find(out, 10)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 11)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(resolver_->stats().link_fate_unknown, 1);
  EXPECT_EQ(resolver_->stats().released_hold_window, 0);
}

TEST_F(TraceResolverTest, WithCrossProcessButNoLinkWaitAConsumerGoesToItsLinksTraceAtOnce) {
  options_.cross_process = true;
  options_.wait_for_link_fate = false;  // a tier replica without a fate store
  options_.hold_window = absl::Seconds(10);
  // Its child still waits for it (cross_process: a parent may be anywhere).
  EXPECT_TRUE(Feed({MakeSpan(1, 11, 10)}).empty());
  // The producer was never seen here: no wait, under it in its trace now,
  // the child with it.
  auto out = Feed({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Find(out, 10)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 10)->parent_span_id(), SpanIdBytes(20));
  EXPECT_EQ(Find(out, 11)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  EXPECT_EQ(resolver_->stats().link_fate_unknown, 0);
  // A remote parent is still waited for: only link targets are not.
  ProtoSpan remote_child = MakeSpan(3, 31, 30);
  remote_child.set_flags(0x01 | kSpanFlagsHasIsRemote | kSpanFlagsIsRemote);
  EXPECT_TRUE(Feed({remote_child}).empty());
}

TEST_F(TraceResolverTest, ACycleOfLinksIsBrokenAtItsLeastConsumer) {
  options_.cross_process = true;
  // 10 (trace 1) links to 21 (trace 2), whose parent 20 links to 11 below 10.
  auto out = FeedRequest({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 21)}),
                          MakeSpan(1, 11, 10),
                          MakeSpan(2, 20, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(1, 11)}),
                          MakeSpan(2, 21, 20)});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  // Broken at 10 (trace 1 < trace 2): it goes to trace 2 as linked; 20
  // then follows 11, which moved with 10, into trace 2.
  EXPECT_EQ(Find(out, 10)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(Find(out, 20)->trace_id(), TraceIdBytes(2));
  EXPECT_EQ(resolver_->stats().link_fate_unknown, 1);
}

TEST_F(TraceResolverTest, ShardsAskEachOtherAboutLinkTargets) {
  // Two resolvers as two shards of one engine; trace 1 and trace 2 belong
  // to different ones.
  uint64_t a = 1;
  uint64_t b = 2;
  TraceId ta, tb;
  for (b = uint64_t{1} << 40; b < (uint64_t{100} << 40); b += uint64_t{1} << 40) {
    TraceId::FromBytes(TraceIdBytes(a), &ta);
    TraceId::FromBytes(TraceIdBytes(b), &tb);
    if (ShardOf(ta, 2) != ShardOf(tb, 2)) break;
  }
  for (const bool cross_process : {false, true}) {
    SCOPED_TRACE(cross_process ? "cross_process" : "sidecar");
    options_.cross_process = cross_process;
    TraceResolverLimits la = limits_;
    la.shards = 2;
    la.shard = static_cast<uint32_t>(ShardOf(ta, 2));
    TraceResolverLimits lb = la;
    lb.shard = 1 - la.shard;
    TraceResolver shard_a(options_, la);
    TraceResolver shard_b(options_, lb);
    std::vector<OutputSpan> out_a, out_b;
    const absl::Time now = clock_.Now();
    // Trace b's consumer (moved to trace a) has a producer child 22; a
    // consumer of trace a links to 22: its shard asks shard b.
    ScannedTraceRequest rb = testing::ScanOrFail(testing::BuildRequest(
        {MakeSpan(b, 20, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(a, 9)}),
         MakeSpan(b, 22, 20, ProtoSpan::SPAN_KIND_PRODUCER)}));
    ScannedTraceRequest ra = testing::ScanOrFail(
        testing::BuildRequest({MakeSpan(a, 9, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER),
                               MakeSpan(a, 30, 9, ProtoSpan::SPAN_KIND_CONSUMER, {Link(b, 22)})}));
    // Delivers the shards' questions and answers to each other until none
    // is left, as the sharded engine's workers do through their queues.
    TraceResolver* shards[2];
    shards[la.shard] = &shard_a;
    shards[lb.shard] = &shard_b;
    std::vector<OutputSpan>* outs[2];
    outs[la.shard] = &out_a;
    outs[lb.shard] = &out_b;
    int messages = 0;
    auto pump = [&] {
      for (bool busy = true; busy;) {
        busy = false;
        for (uint32_t from = 0; from < 2; ++from) {
          std::vector<FateQuery> queries;
          shards[from]->TakeQueries(&queries);
          for (const FateQuery& q : queries) {
            shards[1 - from]->AnswerQuery(q, from, now);
            ++messages;
            busy = true;
          }
          std::vector<FateAnswer> answers;
          shards[from]->TakeAnswers(&answers);
          for (const FateAnswer& a : answers) {
            shards[a.asker]->LearnFate(a.trace, a.span, a.known ? &a.fate : nullptr, now, outs[a.asker]);
            ++messages;
            busy = true;
          }
        }
      }
    };
    if (cross_process) {
      // The question comes first and waits for its answer.
      shard_a.ProcessRequest(ra.buffer, ra.spans, now, &out_a);
      pump();
      EXPECT_EQ(shard_a.HeldSpans(), 1);
      shard_b.ProcessRequest(rb.buffer, rb.spans, now, &out_b);
    } else {
      // One hop after the other, as the services export them.
      shard_b.ProcessRequest(rb.buffer, rb.spans, now, &out_b);
      pump();
      shard_a.ProcessRequest(ra.buffer, ra.spans, now, &out_a);
    }
    pump();
    EXPECT_EQ(messages, 4);  // one question each way, and its answer
    EXPECT_EQ(shard_a.HeldSpans(), 0);
    EXPECT_EQ(shard_b.HeldSpans(), 0);
    auto got = testing::DecodeSpans(out_a);
    ASSERT_EQ(got.size(), 2u);
    // 30 goes under 22 in 22's new trace (a: where 20 moved).
    EXPECT_EQ(Find(got, 30)->trace_id(), TraceIdBytes(a));
    EXPECT_EQ(Find(got, 30)->parent_span_id(), SpanIdBytes(22));
  }
}

TEST_F(TraceResolverTest, WithoutCrossProcessAnUnknownAnswerLetsTheConsumerGoAsLinked) {
  TraceResolverLimits limits = limits_;
  limits.shards = 64;
  uint64_t other = uint64_t{1} << 40;
  TraceId t1, to;
  TraceId::FromBytes(TraceIdBytes(1), &t1);
  for (;; other += uint64_t{1} << 40) {
    TraceId::FromBytes(TraceIdBytes(other), &to);
    if (ShardOf(to, 64) != ShardOf(t1, 64)) break;
  }
  limits.shard = static_cast<uint32_t>(ShardOf(t1, 64));
  TraceResolver resolver(options_, limits);
  std::vector<OutputSpan> out;
  ScannedTraceRequest r = testing::ScanOrFail(
      testing::BuildRequest({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(other, 20)})}));
  resolver.ProcessRequest(r.buffer, r.spans, clock_.Now(), &out);
  EXPECT_TRUE(out.empty());
  std::vector<FateQuery> queries;
  resolver.TakeQueries(&queries);
  ASSERT_EQ(queries.size(), 1u);
  resolver.LearnFate(queries[0].trace, queries[0].span, nullptr, clock_.Now(), &out);
  auto got = testing::DecodeSpans(out);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].trace_id(), TraceIdBytes(other));
}

TEST_F(TraceResolverTest, SkipsLinksTheFlagsSayAreUnsampled) {
  // An SDK that writes trace flags (the span's own sampled bit is set):
  // a link without the sampled bit is not a parent.
  ProtoSpan js = MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30)});
  js.mutable_links(0)->set_flags(0x300);
  js.mutable_links(1)->set_flags(0x301);
  js.set_flags(0x301);
  // Python writes no trace flags: 0x300 on a sampled link says nothing.
  ProtoSpan py = MakeSpan(4, 40, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(5, 50), Link(6, 60)});
  py.mutable_links(0)->set_flags(0x300);
  py.mutable_links(1)->set_flags(0x300);
  py.set_flags(0x300);
  auto out = Feed({js, py});
  EXPECT_EQ(Find(out, 10)->trace_id(), TraceIdBytes(3));
  EXPECT_EQ(Find(out, 40)->trace_id(), TraceIdBytes(5));
  // Only one eligible link on the first: no per-message spans for it.
  EXPECT_EQ(resolver_->stats().fanout_created, 2);
}

TEST_F(TraceResolverTest, SkipsLinksMarkedAsNotAProducer) {
  ProtoSpan s = MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20), Link(3, 30), Link(4, 40)});
  auto* xray = s.mutable_links(0)->add_attributes();
  xray->set_key("source");
  xray->mutable_value()->set_string_value("x-ray-env");
  auto* original = s.mutable_links(1)->add_attributes();
  original->set_key(kAttrOriginalParent);
  original->mutable_value()->set_bool_value(true);
  auto out = Feed({s});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].trace_id(), TraceIdBytes(4));
}

TEST_F(TraceResolverTest, ASpanThisGatewayReparentedIsNotMovedBackByTheNextOne) {
  // A consumer rewritten by a sidecar gateway reaches a central one: its
  // only cross-trace link is the marked link to its old parent.
  auto first = Feed({MakeSpan(1, 10, 9, ProtoSpan::SPAN_KIND_CONSUMER, {Link(2, 20)})});
  ASSERT_EQ(first.size(), 1u);
  Make();
  auto second = Feed(first);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].trace_id(), TraceIdBytes(2));
  EXPECT_EQ(second[0].parent_span_id(), SpanIdBytes(20));
}

TEST_F(TraceResolverTest, AnEntrySpanOfAnSdkThatSetsNoFlagsIsNotHeldForItsRemoteParent) {
  // Python before 1.25 and JS before 0.206 send flags = 0: a SERVER or
  // CONSUMER span with a parent is taken as having a remote one.
  ProtoSpan consumer = MakeSpan(1, 11, 10, ProtoSpan::SPAN_KIND_CONSUMER);
  consumer.set_flags(0);
  ProtoSpan server = MakeSpan(2, 21, 20, ProtoSpan::SPAN_KIND_SERVER);
  server.set_flags(0);
  ProtoSpan internal = MakeSpan(3, 31, 30);
  internal.set_flags(0);
  auto out = Feed({consumer, server, internal});
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(resolver_->HeldSpans(), 1);  // the INTERNAL span waits for its parent
  // Their children in the same process wait for them as before.
  ProtoSpan child = MakeSpan(1, 12, 11);
  child.set_flags(0);
  EXPECT_EQ(Feed({child}).size(), 1u);
}

}  // namespace
}  // namespace gateway
