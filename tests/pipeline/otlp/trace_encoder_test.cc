// Unit tests of the encoder: BuildMessageSpan, EncodeLink, EncodeTraceRequest and EncodedSpanSize.
#include "pipeline/otlp/trace_encoder.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/protobuf/util/message_differencer.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/otlp/trace_rewriter.h"
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

class TraceEncoderTest : public ::testing::Test {};

TEST_F(TraceEncoderTest, MessageSpanTakesContextFromTheLinkAndOnlyMessagingAttributesFromTheBatch) {
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

TEST_F(TraceEncoderTest, EncodeRegroupsByFrameContentInFirstSeenOrder) {
  ExportTraceServiceRequest a;
  for (int r = 0; r < 2; ++r) {
    ResourceSpans* rs = a.add_resource_spans();
    auto* attr = rs->mutable_resource()->add_attributes();
    attr->set_key("service.name");
    attr->mutable_value()->set_string_value(r == 0 ? "one" : "two");
    for (int sc = 0; sc < 2; ++sc) {
      ScopeSpans* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name(sc == 0 ? "x" : "y");
      *ss->add_spans() = MakeSpan(1, static_cast<uint8_t>(10 * r + sc + 1), 0);
    }
  }
  // A second request with the same frames (different buffers).
  ScannedTraceRequest first = Scan(a);
  ScannedTraceRequest second = Scan(a);
  std::vector<OutputSpan> outputs;
  // Interleave: second request's spans, then first's, in reverse.
  for (int i = 3; i >= 0; --i) outputs.push_back(OutputSpan::Unchanged(second.spans[i], second.buffer));
  for (int i = 0; i < 4; ++i) outputs.push_back(OutputSpan::Unchanged(first.spans[i], first.buffer));
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(EncodeTraceRequest(outputs)));
  ASSERT_EQ(parsed.resource_spans_size(), 2);
  // First seen: resource "two", scope "y".
  EXPECT_EQ(parsed.resource_spans(0).resource().attributes(0).value().string_value(), "two");
  ASSERT_EQ(parsed.resource_spans(0).scope_spans_size(), 2);
  EXPECT_EQ(parsed.resource_spans(0).scope_spans(0).scope().name(), "y");
  ASSERT_EQ(parsed.resource_spans(0).scope_spans(0).spans_size(), 2);
  EXPECT_EQ(parsed.resource_spans(0).scope_spans(0).spans(0).span_id(), Id(8, 12));
  EXPECT_EQ(parsed.resource_spans(1).resource().attributes(0).value().string_value(), "one");
}

TEST_F(TraceEncoderTest, EncodeOfAllUnchangedSpansParsesToTheOriginal) {
  ExportTraceServiceRequest request = Request({MakeSpan(1, 2, 0), MakeSpan(1, 3, 2), MakeSpan(4, 5, 0)});
  ScannedTraceRequest scanned = Scan(request);
  std::vector<OutputSpan> outputs;
  size_t bound = 0;
  for (const SpanRef& s : scanned.spans) {
    outputs.push_back(OutputSpan::Unchanged(s, scanned.buffer));
    bound += EncodedSpanSize(outputs.back());
  }
  std::string encoded = EncodeTraceRequest(outputs);
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(encoded));
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, request));
  // Frames keep the fields after the nested spans too; only their order moves.
  EXPECT_EQ(encoded.size(), request.ByteSizeLong());
  EXPECT_LE(bound, encoded.size());
}

TEST_F(TraceEncoderTest, EncodeAppliesTheTraceIdPatchLikePatchTraceId) {
  ScannedTraceRequest scanned = Scan(Request({MakeSpan(1, 2, 0), MakeSpan(1, 3, 2)}));
  ASSERT_EQ(scanned.spans.size(), 2u);
  const TraceId moved_to = MakeTraceId(9);
  std::vector<OutputSpan> patched;
  std::vector<OutputSpan> copied;
  for (const SpanRef& span : scanned.spans) {
    OutputSpan& p = patched.emplace_back(OutputSpan::Unchanged(span, scanned.buffer));
    p.patched_trace_id = moved_to;
    p.trace_id_offset = span.trace_id_offset;
    copied.emplace_back(OutputSpan::Unchanged(span, scanned.buffer)).rewritten = PatchTraceId(span, moved_to);
  }
  EXPECT_EQ(EncodeTraceRequest(patched), EncodeTraceRequest(copied));
  // The span's own bytes (and so the received request) are not touched.
  EXPECT_EQ(scanned.spans[0].message.substr(scanned.spans[0].trace_id_offset, 16), Id(16, 1));
}


TEST_F(TraceEncoderTest, EncodeOfNothingIsAnEmptyRequest) { EXPECT_EQ(EncodeTraceRequest({}), ""); }

}  // namespace
}  // namespace gateway
