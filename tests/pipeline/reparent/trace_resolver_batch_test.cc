// TraceResolver: batches (per-message spans, children routed to their
// message) and invocations that move with their consumer span, in the shape
// the aws-lambda instrumentations emit.
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/pipeline/reparent/trace_resolver_fixture.h"

namespace gateway {
namespace {

void SetString(ProtoSpan* s, const std::string& key, const std::string& value) {
  auto* kv = s->add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

void SetLinkMessageId(ProtoSpan* s, int link, const std::string& id) {
  auto* kv = s->mutable_links(link)->add_attributes();
  kv->set_key("messaging.message.id");
  kv->mutable_value()->set_string_value(id);
}

// An SQS-triggered Lambda invocation as Python's aws-lambda instrumentation
// exports it, in end order: per record a "handle record" span (message id)
// with a "db write" child, a "summarize batch" span, the "process <queue>"
// CONSUMER span with a link per record, the invocation SERVER span
// (faas.trigger = pubsub). Trace 1; record i was sent by span 100 + i of
// trace 10 + i.
std::vector<ProtoSpan> Invocation(int records, const std::string& trigger = "pubsub") {
  std::vector<ProtoSpan> spans;
  std::vector<LinkSpec> links;
  for (int i = 0; i < records; ++i) links.push_back(Link(10 + i, 100 + i));
  for (int i = 0; i < records; ++i) {
    ProtoSpan handle = MakeSpan(1, 20 + 2 * i, 3);
    SetString(&handle, "messaging.message.id", "m-" + std::to_string(i));
    spans.push_back(MakeSpan(1, 21 + 2 * i, 20 + 2 * i, ProtoSpan::SPAN_KIND_CLIENT));
    spans.push_back(handle);
  }
  spans.push_back(MakeSpan(1, 4, 3));  // summarize batch
  ProtoSpan consumer = MakeSpan(1, 3, 2, ProtoSpan::SPAN_KIND_CONSUMER, links);
  for (int i = 0; i < records; ++i) SetLinkMessageId(&consumer, i, "m-" + std::to_string(i));
  consumer.set_flags(0x100);  // Python: parent local, no trace flags
  spans.push_back(consumer);
  ProtoSpan invocation = MakeSpan(1, 2, std::nullopt, ProtoSpan::SPAN_KIND_SERVER);
  SetString(&invocation, "faas.trigger", trigger);
  spans.push_back(invocation);
  return spans;
}

const ProtoSpan* MessageSpanIn(const std::vector<ProtoSpan>& out, uint64_t trace) {
  for (const ProtoSpan& s : out) {
    if (s.trace_id() == TraceIdBytes(trace) && s.links_size() == 1 && s.links(0).span_id() == SpanIdBytes(3)) {
      return &s;
    }
  }
  return nullptr;
}

TEST_F(TraceResolverTest, AnInvocationMovesUnderTheChosenProducerWithItsConsumerSpan) {
  auto out = FeedRequest(Invocation(3));
  ASSERT_EQ(out.size(), 9u + 3u);
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  // The invocation under the first record's sender, the consumer span
  // still below it.
  EXPECT_EQ(Find(out, 2)->trace_id(), TraceIdBytes(10));
  EXPECT_EQ(Find(out, 2)->parent_span_id(), SpanIdBytes(100));
  EXPECT_EQ(AttrString(*Find(out, 2), kAttrOriginalTraceId), Hex(TraceIdBytes(1)));
  EXPECT_EQ(Find(out, 3)->trace_id(), TraceIdBytes(10));
  EXPECT_EQ(Find(out, 3)->parent_span_id(), SpanIdBytes(2));
  EXPECT_EQ(Find(out, 4)->trace_id(), TraceIdBytes(10));  // belongs to no single message
  EXPECT_EQ(Find(out, 4)->parent_span_id(), SpanIdBytes(3));
  // Each record's handler under its message's per-message span, in its
  // sender's trace.
  for (int i = 0; i < 3; ++i) {
    const ProtoSpan* message = MessageSpanIn(out, 10 + i);
    ASSERT_NE(message, nullptr) << i;
    EXPECT_EQ(message->parent_span_id(), SpanIdBytes(100 + i));
    EXPECT_EQ(AttrString(*message, "messaging.message.id"), "m-" + std::to_string(i));
    const ProtoSpan* handle = Find(out, 20 + 2 * i);
    EXPECT_EQ(handle->trace_id(), TraceIdBytes(10 + i));
    EXPECT_EQ(handle->parent_span_id(), message->span_id());
    EXPECT_EQ(AttrString(*handle, kAttrOriginalParentSpanId), Hex(SpanIdBytes(3)));
    EXPECT_EQ(Find(out, 21 + 2 * i)->trace_id(), TraceIdBytes(10 + i));
    EXPECT_EQ(Find(out, 21 + 2 * i)->parent_span_id(), SpanIdBytes(20 + 2 * i));
  }
  EXPECT_EQ(resolver_->stats().routed, 3);
  EXPECT_EQ(resolver_->stats().reparented, 1);  // the invocation
}

TEST_F(TraceResolverTest, LinkChoiceLastPutsTheInvocationUnderTheLastRecordsProducer) {
  options_.link_choice = LinkChoice::kLast;
  auto out = FeedRequest(Invocation(3));
  EXPECT_EQ(Find(out, 2)->trace_id(), TraceIdBytes(12));
  EXPECT_EQ(Find(out, 2)->parent_span_id(), SpanIdBytes(102));
}

TEST_F(TraceResolverTest, ABatchOfOneMovesTheInvocationAndMakesNoPerMessageSpan) {
  auto out = FeedRequest(Invocation(1));
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(Find(out, 2)->parent_span_id(), SpanIdBytes(100));
  EXPECT_EQ(Find(out, 20)->parent_span_id(), SpanIdBytes(3));
  for (const ProtoSpan& s : out) EXPECT_EQ(s.trace_id(), TraceIdBytes(10));
}

TEST_F(TraceResolverTest, OnlyAnInvocationRunByMessagesMoves) {
  auto out = FeedRequest(Invocation(2, "http"));
  EXPECT_EQ(Find(out, 2)->trace_id(), TraceIdBytes(1));
  EXPECT_TRUE(Find(out, 2)->parent_span_id().empty());
  EXPECT_EQ(Find(out, 3)->parent_span_id(), SpanIdBytes(100));
}

TEST_F(TraceResolverTest, AnInvocationInALaterRequestDoesNotMove) {
  // The consumer span decided on its own request cannot wait for one to
  // come: it goes under its producer, the invocation stays.
  std::vector<ProtoSpan> spans = Invocation(2);
  const ProtoSpan invocation = spans.back();
  spans.pop_back();
  auto first = FeedRequest(spans);
  EXPECT_EQ(Find(first, 3)->parent_span_id(), SpanIdBytes(100));
  auto second = FeedRequest({invocation});
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].trace_id(), TraceIdBytes(1));
}

TEST_F(TraceResolverTest, AChildWithoutAMessageOfTheBatchFollowsTheBatchSpan) {
  ProtoSpan batch = MakeSpan(1, 3, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(10, 100), Link(11, 101)});
  SetLinkMessageId(&batch, 0, "m-0");
  ProtoSpan other = MakeSpan(1, 5, 3);
  SetString(&other, "messaging.message.id", "m-9");
  ProtoSpan routed = MakeSpan(1, 6, 3);
  SetString(&routed, "messaging.message.id", "m-0");
  // Children arriving after the batch span: routed from remembered routes.
  Feed({batch});
  auto out = Feed({other, routed});
  EXPECT_EQ(Find(out, 5)->trace_id(), TraceIdBytes(10));
  EXPECT_EQ(Find(out, 5)->parent_span_id(), SpanIdBytes(3));
  EXPECT_EQ(Find(out, 6)->trace_id(), TraceIdBytes(10));
  EXPECT_NE(Find(out, 6)->parent_span_id(), SpanIdBytes(3));
}

TEST_F(TraceResolverTest, PerMessageSpansOfAChainFollowWhereEachProducerMoved) {
  options_.cross_process = true;
  // Producer 100 of trace 10 moved into trace 50 (its consumer 90 linked to
  // 500 there) after the batch arrived.
  ProtoSpan batch = MakeSpan(1, 3, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(10, 100), Link(11, 101)});
  SetLinkMessageId(&batch, 0, "m-0");
  ProtoSpan handle = MakeSpan(1, 6, 3);
  SetString(&handle, "messaging.message.id", "m-0");
  EXPECT_TRUE(Feed({handle, batch}).empty());
  Feed({MakeSpan(50, 500, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER), MakeSpan(11, 101, std::nullopt)});
  auto out = Feed({MakeSpan(10, 90, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, {Link(50, 500)}),
                   MakeSpan(10, 100, 90, ProtoSpan::SPAN_KIND_PRODUCER)});
  EXPECT_EQ(resolver_->HeldSpans(), 0);
  const ProtoSpan* message = nullptr;
  for (const ProtoSpan& s : out) {
    if (s.links_size() == 1 && s.links(0).span_id() == SpanIdBytes(3) && s.parent_span_id() == SpanIdBytes(100)) {
      message = &s;
    }
  }
  ASSERT_NE(message, nullptr);
  EXPECT_EQ(message->trace_id(), TraceIdBytes(50));
  EXPECT_EQ(Find(out, 3)->trace_id(), TraceIdBytes(50));
  EXPECT_EQ(Find(out, 6)->trace_id(), TraceIdBytes(50));
  EXPECT_EQ(Find(out, 6)->parent_span_id(), message->span_id());
}

TEST_F(TraceResolverTest, InvocationsMatchTheOfflineOracle) {
  for (const bool cross_process : {false, true}) {
    options_.cross_process = cross_process;
    Make();
    std::vector<ProtoSpan> spans = Invocation(4);
    std::vector<ProtoSpan> producers;
    for (int i = 0; i < 4; ++i) producers.push_back(MakeSpan(10 + i, 100 + i, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER));
    auto out = FeedRequest(producers);
    auto rest = FeedRequest(spans);
    out.insert(out.end(), rest.begin(), rest.end());
    spans.insert(spans.begin(), producers.begin(), producers.end());
    testing::OracleArrival arrival;
    for (size_t i = 0; i < spans.size(); ++i) {
      arrival.when[spans[i].span_id()] = {i < producers.size() ? 0 : 1, static_cast<int>(i)};
    }
    EXPECT_EQ(testing::Canonical(out), testing::Canonical(testing::ReparentOffline(spans, options_, arrival)));
  }
}

}  // namespace
}  // namespace gateway
