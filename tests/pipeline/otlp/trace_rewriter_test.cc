// Unit tests of the span writers: RewriteSpan, SpliceRewrite, PatchTraceId, EncodeLink, BuildMessageSpan.
#include "pipeline/otlp/trace_rewriter.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/protobuf/util/message_differencer.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/otlp/trace_ids.h"
#include "tests/pipeline/otlp/trace_test_requests.h"

namespace gateway {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::ResourceSpans;
using ::opentelemetry::proto::trace::v1::ScopeSpans;
using ::opentelemetry::proto::trace::v1::Span;
using testing::Id;
using testing::MakeSpan;
using testing::MakeSpanId;
using testing::MakeTraceId;
using testing::ParseSpan;
using testing::Request;
using testing::Scan;

class TraceRewriterTest : public ::testing::Test {};

TEST_F(TraceRewriterTest, PatchTraceIdReplacesOnlyTheTraceId) {
  Span s = MakeSpan(1, 2, 3);
  ScannedTraceRequest scanned = Scan(Request({s}));
  std::string patched = PatchTraceId(scanned.spans[0], MakeTraceId(0x42));
  s.set_trace_id(Id(16, 0x42));
  EXPECT_TRUE(MessageDifferencer::Equals(ParseSpan(patched), s));
}

TEST_F(TraceRewriterTest, RewriteSpanReplacesIdsStateFlagsAndLinks) {
  Span s = MakeSpan(1, 2, 0);
  s.set_trace_state("old=1");
  s.set_flags(1);
  for (int i = 0; i < 3; ++i) {
    auto* link = s.add_links();
    link->set_trace_id(Id(16, 10 + i));
    link->set_span_id(Id(8, 20 + i));
  }
  ScannedTraceRequest scanned = Scan(Request({s}));
  SpanRewrite rewrite;
  rewrite.trace_id = MakeTraceId(10);
  rewrite.parent_span_id = MakeSpanId(20);
  rewrite.trace_state = "new=2";
  rewrite.flags = 0x301;
  rewrite.remove_link = 0;
  rewrite.extra_links.push_back(EncodeLink(MakeTraceId(1), MakeSpanId(2), "", 1, {{"link.kind", std::string("orig")}}));
  rewrite.extra_attributes = {{"s", std::string("")}, {"b", false}, {"i", int64_t{-5}}};
  Span out = ParseSpan(RewriteSpan(scanned.spans[0], rewrite));

  Span expected = s;
  expected.set_trace_id(Id(16, 10));
  expected.set_parent_span_id(Id(8, 20));
  expected.set_trace_state("new=2");
  expected.set_flags(0x301);
  expected.mutable_links()->DeleteSubrange(0, 1);
  auto* added = expected.add_links();
  added->set_trace_id(Id(16, 1));
  added->set_span_id(Id(8, 2));
  added->set_flags(1);
  auto* la = added->add_attributes();
  la->set_key("link.kind");
  la->mutable_value()->set_string_value("orig");
  auto* a1 = expected.add_attributes();
  a1->set_key("s");
  a1->mutable_value()->set_string_value("");
  auto* a2 = expected.add_attributes();
  a2->set_key("b");
  a2->mutable_value()->set_bool_value(false);
  auto* a3 = expected.add_attributes();
  a3->set_key("i");
  a3->mutable_value()->set_int_value(-5);
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(out, expected)) << diff;
  // Oneof members set to their default are still set.
  EXPECT_TRUE(out.attributes(1).value().has_string_value());
}

TEST_F(TraceRewriterTest, SpliceRewriteEncodesAsRewriteSpan) {
  Span s = MakeSpan(1, 2, 3);
  s.set_trace_state("old=1");
  s.set_flags(1);
  for (int i = 0; i < 3; ++i) {
    auto* link = s.add_links();
    link->set_trace_id(Id(16, 10 + i));
    link->set_span_id(Id(8, 20 + i));
  }
  SpanRewrite rewrite;
  rewrite.trace_id = MakeTraceId(10);
  rewrite.parent_span_id = MakeSpanId(20);
  rewrite.trace_state = "new=2";
  rewrite.flags = 0x301;
  rewrite.remove_link = 1;
  rewrite.extra_links.push_back(EncodeLink(MakeTraceId(1), MakeSpanId(3), "", 1, {{"link.kind", std::string("orig")}}));
  rewrite.extra_attributes = {{"s", std::string("x")}};
  // The usual span (5 fields cut), and one whose trace_id is repeated on the
  // wire past OutputSpan::kMaxCuts (written whole instead).
  std::string repeated = s.SerializeAsString();
  for (int i = 0; i < 8; ++i) {
    Span extra;
    extra.set_trace_id(Id(16, 1));
    repeated += extra.SerializeAsString();
  }
  Span repeated_span;
  ASSERT_TRUE(repeated_span.ParseFromString(repeated));
  for (const Span& span : {s, repeated_span}) {
    ScannedTraceRequest scanned = Scan(Request({span}));
    ASSERT_EQ(scanned.spans.size(), 1u);
    OutputSpan whole = OutputSpan::Unchanged(scanned.spans[0], scanned.buffer);
    whole.rewritten = RewriteSpan(scanned.spans[0], rewrite);
    OutputSpan spliced = OutputSpan::Unchanged(scanned.spans[0], scanned.buffer);
    SpliceRewrite(scanned.spans[0], rewrite, &spliced);
    EXPECT_EQ(spliced.size(), whole.size());
    EXPECT_EQ(EncodedSpanSize(spliced), EncodedSpanSize(whole));
    EXPECT_EQ(EncodeTraceRequest({spliced}), EncodeTraceRequest({whole}));
  }
  ScannedTraceRequest scanned = Scan(Request({s}));
  OutputSpan spliced = OutputSpan::Unchanged(scanned.spans[0], scanned.buffer);
  SpliceRewrite(scanned.spans[0], rewrite, &spliced);
  EXPECT_TRUE(spliced.spliced);
  EXPECT_EQ(spliced.cut_count, 5u);
}

TEST_F(TraceRewriterTest, RewriteWithEmptyTraceStateRemovesIt) {
  Span s = MakeSpan(1, 2, 0);
  s.set_trace_state("old=1");
  ScannedTraceRequest scanned = Scan(Request({s}));
  SpanRewrite rewrite;
  rewrite.trace_state = "";
  Span out = ParseSpan(RewriteSpan(scanned.spans[0], rewrite));
  s.clear_trace_state();
  EXPECT_TRUE(MessageDifferencer::Equals(out, s));
}

TEST_F(TraceRewriterTest, MessageSpanTakesContextFromTheLinkAndOnlyMessagingAttributesFromTheBatch) {
  Span s = MakeSpan(1, 2, 0);
  s.set_kind(Span::SPAN_KIND_CONSUMER);
  s.set_dropped_attributes_count(4);
  s.mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"messaging.system", "aws_sqs"}, {"faas.trigger", "pubsub"}, {"messaging.batch.message_count", "3"},
           {"messaging.destination.name", "jobs"}}) {
    auto* kv = s.add_attributes();
    kv->set_key(key);
    kv->mutable_value()->set_string_value(value);
  }
  auto* link = s.add_links();
  link->set_trace_id(Id(16, 7));
  link->set_span_id(Id(8, 8));
  link->set_trace_state("ts=1");
  link->set_flags(0x101);
  auto* link_attr = link->add_attributes();
  link_attr->set_key("messaging.message.id");
  link_attr->mutable_value()->set_string_value("m-1");
  s.add_events()->set_name("ignored");
  ScannedTraceRequest scanned = Scan(Request({s}));
  const SpanRef& ref = scanned.spans[0];
  MessageSpanFields fields;
  fields.trace_id = MakeTraceId(0x77);
  fields.span_id = MakeSpanId(0x55);
  fields.flags = 0x301;
  fields.time_unix_nano = 123;
  fields.batch_link = EncodeLink(MakeTraceId(0x66), ref.span_id, "", 0x01, {{"batch", true}});
  fields.extra = {{"fanout", true}};
  Span out = ParseSpan(BuildMessageSpan(ref, ref.links[0], fields));

  Span expected;
  expected.set_trace_id(Id(16, 0x77));
  expected.set_span_id(Id(8, 0x55));
  expected.set_parent_span_id(Id(8, 8));
  expected.set_trace_state("ts=1");
  expected.set_flags(0x301);
  expected.set_kind(Span::SPAN_KIND_CONSUMER);
  expected.set_name(s.name());
  expected.set_start_time_unix_nano(123);
  expected.set_end_time_unix_nano(123);
  // messaging.system and messaging.destination.name, not "k", faas.trigger
  // or messaging.batch.message_count.
  *expected.add_attributes() = s.attributes(1);
  *expected.add_attributes() = s.attributes(4);
  *expected.add_attributes() = *link_attr;
  auto* extra = expected.add_attributes();
  extra->set_key("fanout");
  extra->mutable_value()->set_bool_value(true);
  auto* back = expected.add_links();
  back->set_trace_id(Id(16, 0x66));
  back->set_span_id(s.span_id());
  back->set_flags(0x01);
  auto* batch = back->add_attributes();
  batch->set_key("batch");
  batch->mutable_value()->set_bool_value(true);
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(out, expected)) << diff;
}

}  // namespace
}  // namespace gateway
