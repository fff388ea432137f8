// TraceResolver with peers (AskPeersFirst): a link target of another
// shard's trace is decided at once when the peers say it surely did not
// move, asked of its owner when only the owner can say, and asked of the
// peers again (RecheckPeers) while they cannot tell yet.
#include <deque>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/reparent/peer_fates.h"
#include "pipeline/reparent/shard_of.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/pipeline/reparent/trace_resolver_fixture.h"

namespace gateway {
namespace {

// Answers from a script (the last one repeats); counts the questions.
class ScriptedPeers final : public PeerFates {
 public:
  PeerAnswer Ask(const TraceId& trace, const SpanId& span, uint64_t* after) const override {
    ++asked;
    *after = 7;
    return Next();
  }
  PeerAnswer AskAgain(const TraceId& trace, const SpanId& span, uint64_t after) const override {
    ++asked_again;
    last_after = after;
    return Next();
  }
  uint64_t Progress(uint32_t shard) const override { return progress; }
  mutable std::deque<PeerAnswer> script;
  uint64_t progress = 100;
  mutable int asked = 0;
  mutable int asked_again = 0;
  mutable uint64_t last_after = 0;

 private:
  PeerAnswer Next() const {
    const PeerAnswer answer = script.front();
    if (script.size() > 1) script.pop_front();
    return answer;
  }
};

class TraceResolverPeersTest : public TraceResolverTest {
 protected:
  void SetUp() override {
    // Trace 1 (the consumers') and trace `other_` (their producers') belong
    // to different shards of two.
    TraceId t1, to;
    TraceId::FromBytes(TraceIdBytes(1), &t1);
    for (other_ = uint64_t{1} << 40;; other_ += uint64_t{1} << 40) {
      TraceId::FromBytes(TraceIdBytes(other_), &to);
      if (ShardOf(to, 2) != ShardOf(t1, 2)) break;
    }
    limits_.shards = 2;
    limits_.shard = static_cast<uint32_t>(ShardOf(t1, 2));
  }
  void MakeWithPeers(std::initializer_list<PeerAnswer> script) {
    peers_.script.assign(script.begin(), script.end());
    Make();
    resolver_->AskPeersFirst(&peers_);
  }
  // A consumer in trace 1 linking to span 20 of trace other_, with a child.
  std::vector<ProtoSpan> ConsumerAndChild() {
    return {MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(other_, 20)}), MakeSpan(1, 11, 10)};
  }
  std::vector<FateQuery> Queries() {
    std::vector<FateQuery> queries;
    resolver_->TakeQueries(&queries);
    return queries;
  }
  std::vector<ProtoSpan> Recheck() {
    std::vector<OutputSpan> out;
    resolver_->RecheckPeers(clock_.Now(), &out);
    return testing::DecodeSpans(out);
  }
  void ExpectUnderItsProducer(const std::vector<ProtoSpan>& got, const std::string& trace) {
    ASSERT_EQ(got.size(), 2u);
    ASSERT_NE(Find(got, 10), nullptr);
    ASSERT_NE(Find(got, 11), nullptr);
    EXPECT_EQ(Find(got, 10)->trace_id(), trace);
    EXPECT_EQ(Find(got, 10)->parent_span_id(), SpanIdBytes(20));
    EXPECT_EQ(Find(got, 11)->trace_id(), trace);
  }

  uint64_t other_ = 0;
  ScriptedPeers peers_;
};

TEST_F(TraceResolverPeersTest, UnmovedAtOnceGoesToTheLinksTraceWithoutAQuestion) {
  MakeWithPeers({PeerAnswer::kUnmoved});
  ExpectUnderItsProducer(FeedRequest(ConsumerAndChild()), TraceIdBytes(other_));
  EXPECT_TRUE(Queries().empty());
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  EXPECT_EQ(resolver_->stats().peer_answers, 1);
  EXPECT_EQ(resolver_->stats().fate_queries, 0);
}

TEST_F(TraceResolverPeersTest, WhatOnlyTheOwnerCanSayIsAskedOfTheOwner) {
  MakeWithPeers({PeerAnswer::kAskOwner});
  EXPECT_TRUE(FeedRequest(ConsumerAndChild()).empty());
  const std::vector<FateQuery> queries = Queries();
  ASSERT_EQ(queries.size(), 1u);
  EXPECT_FALSE(queries[0].wait);
  EXPECT_EQ(resolver_->stats().fate_queries, 1);
  // The owner says it moved: the consumer follows it.
  std::vector<OutputSpan> out;
  TraceId moved_to;
  TraceId::FromBytes(TraceIdBytes(999), &moved_to);
  const Fate fate{moved_to, true};
  resolver_->LearnFate(queries[0].trace, queries[0].span, &fate, clock_.Now(), &out);
  ExpectUnderItsProducer(testing::DecodeSpans(out), TraceIdBytes(999));
}

TEST_F(TraceResolverPeersTest, NotYetWaitsWithoutAQuestionAndIsAskedAgainOnceTheOwnerGotFarEnough) {
  MakeWithPeers({PeerAnswer::kNotYet, PeerAnswer::kUnmoved});
  peers_.progress = 6;  // Ask set after = 7
  EXPECT_TRUE(FeedRequest(ConsumerAndChild()).empty());
  EXPECT_TRUE(resolver_->HasPeerWaits());
  EXPECT_EQ(resolver_->HeldSpans(), 2);
  EXPECT_TRUE(Recheck().empty());  // the owner is not there yet: not even asked
  EXPECT_EQ(peers_.asked_again, 0);
  peers_.progress = 7;
  ExpectUnderItsProducer(Recheck(), TraceIdBytes(other_));
  EXPECT_EQ(peers_.asked_again, 1);
  EXPECT_EQ(peers_.last_after, 7u);
  EXPECT_FALSE(resolver_->HasPeerWaits());
  EXPECT_TRUE(Queries().empty());
  EXPECT_EQ(resolver_->stats().peer_answers, 1);
  EXPECT_EQ(resolver_->stats().link_fate_unknown, 0);
}

TEST_F(TraceResolverPeersTest, APeerThatStillCannotTellIsAskedAgainLater) {
  MakeWithPeers({PeerAnswer::kNotYet, PeerAnswer::kNotYet, PeerAnswer::kUnmoved});
  EXPECT_TRUE(FeedRequest(ConsumerAndChild()).empty());
  EXPECT_TRUE(Recheck().empty());
  EXPECT_TRUE(resolver_->HasPeerWaits());
  ExpectUnderItsProducer(Recheck(), TraceIdBytes(other_));
  EXPECT_EQ(peers_.asked_again, 2);
  EXPECT_TRUE(Queries().empty());
}

TEST_F(TraceResolverPeersTest, NotYetThenMayHaveMovedAsksTheOwner) {
  MakeWithPeers({PeerAnswer::kNotYet, PeerAnswer::kAskOwner});
  EXPECT_TRUE(FeedRequest(ConsumerAndChild()).empty());
  EXPECT_TRUE(Recheck().empty());
  EXPECT_EQ(Queries().size(), 1u);
  EXPECT_FALSE(resolver_->HasPeerWaits());
  std::vector<OutputSpan> out;
  resolver_->LearnFate(TraceId(), SpanId(), nullptr, clock_.Now(), &out);  // unrelated: nothing
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(resolver_->HeldSpans(), 2);
}

TEST_F(TraceResolverPeersTest, SeveralConsumersOfOneTargetAskOnce) {
  MakeWithPeers({PeerAnswer::kNotYet, PeerAnswer::kNotYet, PeerAnswer::kUnmoved});
  EXPECT_TRUE(FeedRequest({MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(other_, 20)}),
                           MakeSpan(1, 12, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(other_, 20)})})
                  .empty());
  EXPECT_EQ(peers_.asked, 2);  // each asks at once; only the first waits and asks again
  const std::vector<ProtoSpan> got = Recheck();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(peers_.asked_again, 1);
  for (const ProtoSpan& s : got) EXPECT_EQ(s.trace_id(), TraceIdBytes(other_));
}

TEST_F(TraceResolverPeersTest, ATargetStillNotAnsweredGoesAtTheHoldWindowAndIsNotAskedAgain) {
  MakeWithPeers({PeerAnswer::kNotYet});
  EXPECT_TRUE(FeedRequest(ConsumerAndChild()).empty());
  ExpectUnderItsProducer(Advance(options_.hold_window), TraceIdBytes(other_));
  EXPECT_EQ(resolver_->stats().link_fate_unknown, 1);
  const int asked_again = peers_.asked_again;
  EXPECT_TRUE(Recheck().empty());
  EXPECT_EQ(peers_.asked_again, asked_again);
  EXPECT_FALSE(resolver_->HasPeerWaits());
}

TEST_F(TraceResolverPeersTest, PerMessageSpansOfABatchAskThePeersToo) {
  MakeWithPeers({PeerAnswer::kUnmoved});
  const uint64_t other2 = other_ + (uint64_t{2} << 40);
  TraceId t1, t2;
  TraceId::FromBytes(TraceIdBytes(1), &t1);
  TraceId::FromBytes(TraceIdBytes(other2), &t2);
  const std::vector<ProtoSpan> got = FeedRequest(
      {MakeSpan(1, 10, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(other_, 20), Link(other2, 30)})});
  // The batch span and one per-message span per link, all at once.
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  EXPECT_TRUE(Queries().empty());
  EXPECT_EQ(resolver_->stats().fanout_created, 2);
}

TEST_F(TraceResolverPeersTest, ACentralGatewayThatWaitsForLinkFatesNeverAsksThePeers) {
  options_.cross_process = true;
  options_.wait_for_link_fate = true;
  MakeWithPeers({PeerAnswer::kUnmoved});
  EXPECT_TRUE(FeedRequest(ConsumerAndChild()).empty());
  EXPECT_EQ(peers_.asked, 0);
  const std::vector<FateQuery> queries = Queries();
  ASSERT_EQ(queries.size(), 1u);
  EXPECT_TRUE(queries[0].wait);
}

}  // namespace
}  // namespace gateway
