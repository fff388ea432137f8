#include "bench/loadgen_requests.h"

#include <map>
#include <set>
#include <string>

#include "bench/loadgen_wire.h"
#include "pipeline/otlp/otlp_json.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace loadgen {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using opentelemetry::proto::trace::v1::Span;

std::vector<Span> Spans(const std::string& body) {
  ExportTraceServiceRequest request;
  EXPECT_TRUE(request.ParseFromString(body));
  std::vector<Span> spans;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) spans.push_back(span);
    }
  }
  return spans;
}

LoadShape Shape(int spans, double share, bool out_of_order) {
  LoadShape shape;
  shape.spans_per_request = spans;
  shape.consumer_share = share;
  shape.out_of_order = out_of_order;
  return shape;
}

TEST(LoadgenRequestsTest, BuildsTheRequestedSpansAndConsumerShare) {
  const RequestPool pool = BuildRequestPool(Shape(50, 0.2, false), 8, 7);
  ASSERT_EQ(pool.size(), 8u);
  EXPECT_EQ(pool.TotalSpans(), 8 * 50);
  for (size_t i = 0; i < pool.size(); ++i) {
    const std::vector<Span> spans = Spans(pool.bodies[i]);
    EXPECT_EQ(static_cast<int>(spans.size()), pool.span_counts[i]);
    EXPECT_EQ(CountTraceSpans(pool.bodies[i]), pool.span_counts[i]);
    int consumers = 0;
    for (const Span& span : spans) {
      EXPECT_EQ(span.trace_id().size(), 16u);
      EXPECT_EQ(span.span_id().size(), 8u);
      if (span.kind() != Span::SPAN_KIND_CONSUMER) continue;
      ++consumers;
      ASSERT_EQ(span.links_size(), 1);
      EXPECT_NE(span.links(0).trace_id(), span.trace_id());
      EXPECT_TRUE(span.parent_span_id().empty());
    }
    EXPECT_EQ(consumers, 10);
  }
}

TEST(LoadgenRequestsTest, ConsumersLinkToThePreviousEntrysProducers) {
  const RequestPool pool = BuildRequestPool(Shape(40, 0.25, false), 4, 3);
  std::set<std::string> producers_of_entry0;
  for (const Span& span : Spans(pool.bodies[0])) {
    if (span.kind() == Span::SPAN_KIND_PRODUCER) producers_of_entry0.insert(span.span_id());
  }
  for (const Span& span : Spans(pool.bodies[1])) {
    if (span.kind() != Span::SPAN_KIND_CONSUMER) continue;
    EXPECT_TRUE(producers_of_entry0.count(span.links(0).span_id()));
  }
}

TEST(LoadgenRequestsTest, OutOfOrderSendsChildrenOneRequestBeforeTheirConsumer) {
  const RequestPool pool = BuildRequestPool(Shape(30, 0.1, true), 4, 5);
  EXPECT_EQ(pool.TotalSpans(), 4 * 30);
  for (size_t r = 1; r < pool.size(); ++r) {
    std::set<std::string> earlier_parents;
    for (const Span& span : Spans(pool.bodies[r - 1])) earlier_parents.insert(span.parent_span_id());
    int consumers = 0;
    for (const Span& span : Spans(pool.bodies[r])) {
      if (span.kind() != Span::SPAN_KIND_CONSUMER) continue;
      ++consumers;
      EXPECT_TRUE(earlier_parents.count(span.span_id())) << "entry " << r;
    }
    EXPECT_EQ(consumers, 3);
  }
}

TEST(LoadgenRequestsTest, RenderSaltsIdsPerRoundAndKeepsParentsConsistent) {
  const RequestPool pool = BuildRequestPool(Shape(25, 0.2, false), 3, 11);
  std::string round0;
  std::string round1;
  pool.Render(1, &round0);
  pool.Render(1 + pool.size(), &round1);
  EXPECT_EQ(round0, pool.bodies[1]);
  ASSERT_EQ(round1.size(), round0.size());
  EXPECT_NE(round1, round0);
  const std::vector<Span> before = Spans(round0);
  const std::vector<Span> after = Spans(round1);
  ASSERT_EQ(before.size(), after.size());
  std::map<std::string, std::string> span_trace;
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_NE(after[i].span_id(), before[i].span_id());
    EXPECT_NE(after[i].trace_id(), before[i].trace_id());
    EXPECT_EQ(after[i].name(), before[i].name());
    span_trace[after[i].span_id()] = after[i].trace_id();
  }
  for (const Span& span : after) {
    if (span.parent_span_id().empty()) continue;
    ASSERT_TRUE(span_trace.count(span.parent_span_id()));
    EXPECT_EQ(span_trace[span.parent_span_id()], span.trace_id());
  }
  // Links of entry 1 point at entry 0's producers salted the same way.
  std::string producers_round1;
  pool.Render(pool.size(), &producers_round1);
  std::set<std::string> producer_ids;
  for (const Span& span : Spans(producers_round1)) {
    if (span.kind() == Span::SPAN_KIND_PRODUCER) producer_ids.insert(span.span_id());
  }
  for (const Span& span : after) {
    if (span.kind() == Span::SPAN_KIND_CONSUMER) {
      EXPECT_TRUE(producer_ids.count(span.links(0).span_id()));
    }
  }
}

TEST(LoadgenRequestsTest, SpansComeCloseToTheRequestedSize) {
  LoadShape shape = Shape(100, 0.1, false);
  shape.span_bytes = 400;
  const RequestPool pool = BuildRequestPool(shape, 2, 1);
  const double per_span = static_cast<double>(pool.TotalBytes()) / static_cast<double>(pool.TotalSpans());
  EXPECT_GT(per_span, 400 * 0.9);
  EXPECT_LT(per_span, 400 * 1.1);
}

// SDK-like spans: the same size made of many short attributes.
TEST(LoadgenRequestsTest, AttributeBytesPadsWithManyShortAttributes) {
  LoadShape shape = Shape(100, 0.1, false);
  shape.span_bytes = 400;
  shape.attribute_bytes = 24;
  const RequestPool pool = BuildRequestPool(shape, 2, 1);
  const double per_span = static_cast<double>(pool.TotalBytes()) / static_cast<double>(pool.TotalSpans());
  EXPECT_GT(per_span, 400 * 0.85);
  EXPECT_LT(per_span, 400 * 1.1);
  for (const Span& span : Spans(pool.bodies[0])) {
    EXPECT_GE(span.attributes_size(), 6) << span.ShortDebugString();
    for (const auto& attribute : span.attributes()) {
      EXPECT_LE(attribute.value().string_value().size(), 24u);
    }
  }
}

// An OTLP/JSON send carries the very request the protobuf send of the same
// index does (ids salted alike): the gateway's converter turns one into the
// other.
TEST(LoadgenRequestsTest, JsonSendsAreTheProtobufSendsInOtlpJson) {
  const RequestPool pool = BuildRequestPool(Shape(20, 0.2, false), 3, 7);
  const RequestPool json = ToOtlpJsonPool(pool);
  ASSERT_TRUE(json.json);
  ASSERT_EQ(json.size(), pool.size());
  EXPECT_EQ(json.span_counts, pool.span_counts);
  for (uint64_t send = 0; send < 9; ++send) {
    std::string proto_body;
    std::string json_body;
    pool.Render(send, &proto_body);
    json.Render(send, &json_body);
    EXPECT_EQ(json_body.find("\"traceId\":\"") != std::string::npos, true);
    absl::StatusOr<std::string> converted = gateway::OtlpJsonToProto(gateway::Signal::kTraces, json_body);
    ASSERT_TRUE(converted.ok()) << send << ": " << converted.status();
    ExportTraceServiceRequest expected;
    ExportTraceServiceRequest actual;
    ASSERT_TRUE(expected.ParseFromString(proto_body));
    ASSERT_TRUE(actual.ParseFromString(*converted));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(expected, actual)) << send;
  }
}

TEST(LoadgenRequestsTest, WireCountRejectsTruncatedBodies) {
  const RequestPool pool = BuildRequestPool(Shape(10, 0, false), 1, 1);
  const std::string& body = pool.bodies[0];
  EXPECT_EQ(CountTraceSpans(body), 10);
  EXPECT_EQ(CountTraceSpans(std::string_view(body).substr(0, body.size() - 3)), -1);
  EXPECT_EQ(CountTraceSpans(""), 0);
}

}  // namespace
}  // namespace loadgen
