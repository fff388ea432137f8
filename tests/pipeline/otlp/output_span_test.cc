// Unit tests of the runs of unchanged spans: AppendUnchanged and TakeRunPrefix,
// checked against encoding each span on its own.
#include "pipeline/otlp/output_span.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/otlp/trace_scanner.h"
#include "pipeline/otlp/wire_format.h"
#include "tests/pipeline/otlp/trace_test_requests.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::ScopeSpans;
using ::opentelemetry::proto::trace::v1::Span;
using testing::Id;
using testing::MakeSpan;
using testing::MakeTraceId;
using testing::Request;
using testing::Scan;

class OutputSpanTest : public ::testing::Test {};

std::vector<OutputSpan> Singles(const ScannedTraceRequest& scanned) {
  std::vector<OutputSpan> out;
  for (const SpanRef& span : scanned.spans) out.push_back(OutputSpan::Unchanged(span, scanned.buffer));
  return out;
}

TEST_F(OutputSpanTest, ConsecutiveUnchangedSpansBecomeOneRunWithTheSameEncoding) {
  ExportTraceServiceRequest request = Request({MakeSpan(1, 2, 0), MakeSpan(1, 3, 2), MakeSpan(4, 5, 0)});
  // A second scope: its spans cannot join the first scope's run.
  ScopeSpans* other = request.mutable_resource_spans(0)->add_scope_spans();
  other->mutable_scope()->set_name("other");
  *other->add_spans() = MakeSpan(6, 7, 0);
  *other->add_spans() = MakeSpan(6, 8, 7);
  ScannedTraceRequest scanned = Scan(request);
  ASSERT_EQ(scanned.spans.size(), 5u);
  const std::string expected = EncodeTraceRequest(Singles(scanned));

  std::vector<OutputSpan> runs;
  const ScannedTraceRequest again = Scan(request);
  for (const SpanRef& span : again.spans) AppendUnchanged(span, again.buffer, &runs);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_TRUE(runs[0].run);
  EXPECT_EQ(runs[0].span_count, 3u);
  EXPECT_EQ(runs[1].span_count, 2u);
  EXPECT_EQ(EncodeTraceRequest(runs), expected);
  size_t bound = 0;
  for (const OutputSpan& run : runs) bound += EncodedSpanSize(run);
  EXPECT_LE(bound, expected.size());
}

TEST_F(OutputSpanTest, ASkippedSpanOrAChangedOneEndsTheRun) {
  ScannedTraceRequest scanned =
      Scan(Request({MakeSpan(1, 2, 0), MakeSpan(1, 3, 2), MakeSpan(1, 4, 2), MakeSpan(1, 5, 2)}));
  std::vector<OutputSpan> out;
  AppendUnchanged(scanned.spans[0], scanned.buffer, &out);
  AppendUnchanged(scanned.spans[2], scanned.buffer, &out);  // 1 is skipped: not adjacent
  OutputSpan& moved = out.emplace_back(OutputSpan::Unchanged(scanned.spans[1], scanned.buffer));
  moved.patched_trace_id = MakeTraceId(9);
  moved.trace_id_offset = scanned.spans[1].trace_id_offset;
  AppendUnchanged(scanned.spans[3], scanned.buffer, &out);  // follows a patched span
  ASSERT_EQ(out.size(), 4u);
  for (const OutputSpan& o : out) EXPECT_EQ(o.span_count, 1u);
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(EncodeTraceRequest(out)));
  const ScopeSpans& ss = parsed.resource_spans(0).scope_spans(0);
  ASSERT_EQ(ss.spans_size(), 4);
  EXPECT_EQ(ss.spans(1).span_id(), Id(8, 4));
  EXPECT_EQ(ss.spans(2).trace_id(), Id(16, 9));
}

TEST_F(OutputSpanTest, SpansWithAnOverlongLengthAreNotJoinedIntoARun) {
  // resource_spans { scope_spans { spans, spans (length as a 2-byte varint), spans } }
  std::string spans_fields;
  for (int i = 0; i < 3; ++i) {
    const std::string span = MakeSpan(1, static_cast<uint8_t>(2 + i), 0).SerializeAsString();
    ASSERT_LT(span.size(), 0x80u);
    spans_fields.push_back(0x12);
    if (i == 1) {
      spans_fields.push_back(static_cast<char>(span.size() | 0x80));
      spans_fields.push_back(0);
    } else {
      spans_fields.push_back(static_cast<char>(span.size()));
    }
    spans_fields += span;
  }
  std::string resource_spans;
  AppendLengthDelimited(&resource_spans, 2, spans_fields);
  std::string request;
  AppendLengthDelimited(&request, 1, resource_spans);
  auto scanned = ScanTraceRequest(request);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  ASSERT_EQ(scanned->spans.size(), 3u);
  const std::string expected = EncodeTraceRequest(Singles(*scanned));
  std::vector<OutputSpan> out;
  for (const SpanRef& span : scanned->spans) AppendUnchanged(span, scanned->buffer, &out);
  ASSERT_EQ(out.size(), 3u);
  // Written with canonical lengths, as one by one.
  EXPECT_EQ(EncodeTraceRequest(out), expected);
  EXPECT_EQ(expected.size() + 1, request.size());
}

TEST_F(OutputSpanTest, TakeRunPrefixSplitsAtSpanBoundaries) {
  std::vector<Span> spans;
  for (int i = 0; i < 5; ++i) spans.push_back(MakeSpan(1, static_cast<uint8_t>(2 + i), 0));
  ScannedTraceRequest scanned = Scan(Request(spans));
  const std::string expected = EncodeTraceRequest(Singles(scanned));
  const size_t field = LengthDelimitedSize(2, scanned.spans[0].message.size());
  std::vector<OutputSpan> out;
  for (const SpanRef& span : scanned.spans) AppendUnchanged(span, scanned.buffer, &out);
  ASSERT_EQ(out.size(), 1u);
  OutputSpan rest = out[0];
  // Two spans by count; then what fits in 2.5 fields (two); then at least one.
  std::vector<OutputSpan> parts;
  parts.push_back(TakeRunPrefix(&rest, 2, 1 << 20));
  parts.push_back(TakeRunPrefix(&rest, 5, field * 5 / 2));
  parts.push_back(TakeRunPrefix(&rest, 5, 0));
  EXPECT_EQ(parts[0].span_count, 2u);
  EXPECT_EQ(parts[1].span_count, 2u);
  EXPECT_EQ(parts[1].original.size(), 2 * field);
  EXPECT_EQ(parts[2].span_count, 1u);
  EXPECT_EQ(rest.span_count, 0u);
  EXPECT_TRUE(rest.original.empty());
  EXPECT_EQ(EncodeTraceRequest(parts), expected);
}

}  // namespace
}  // namespace gateway
