// Unit tests of ScanTraceRequest: what it reads, rejects and keeps.
#include "pipeline/otlp/trace_scanner.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/protobuf/util/message_differencer.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/otlp/wire_format.h"
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

class TraceScannerTest : public ::testing::Test {
 protected:
  static void ExpectInvalid(const std::string& bytes) {
    auto scanned = ScanTraceRequest(bytes);
    ASSERT_FALSE(scanned.ok());
    EXPECT_EQ(scanned.status().code(), absl::StatusCode::kInvalidArgument) << scanned.status();
  }
};

TEST_F(TraceScannerTest, ScanReadsIdsKindFlagsAndEndTime) {
  Span s = MakeSpan(1, 2, 3);
  s.set_kind(Span::SPAN_KIND_CONSUMER);
  s.set_flags(0x301);
  ScannedTraceRequest scanned = Scan(Request({s}));
  ASSERT_EQ(scanned.spans.size(), 1u);
  const SpanRef& ref = scanned.spans[0];
  EXPECT_EQ(ref.trace_id, MakeTraceId(1));
  EXPECT_EQ(ref.span_id, MakeSpanId(2));
  EXPECT_TRUE(ref.has_parent);
  EXPECT_EQ(ref.parent_span_id, MakeSpanId(3));
  EXPECT_EQ(ref.kind, SpanKind::kConsumer);
  EXPECT_EQ(ref.flags, 0x301u);
  EXPECT_TRUE(ref.parent_is_remote());
  EXPECT_EQ(ref.end_time_unix_nano, 200u);
  EXPECT_EQ(ref.buffer, scanned.buffer.get());
  EXPECT_TRUE(MessageDifferencer::Equals(ParseSpan(std::string(ref.message)), s));
}

TEST_F(TraceScannerTest, ScanExposesTheSpanNameAsAViewIntoTheMessage) {
  Span named = MakeSpan(1, 2, 0);
  named.set_name("process orders");
  Span unnamed = MakeSpan(1, 3, 0);
  unnamed.clear_name();
  ScannedTraceRequest scanned = Scan(Request({named, unnamed}));
  ASSERT_EQ(scanned.spans.size(), 2u);
  const SpanRef& ref = scanned.spans[0];
  EXPECT_EQ(ref.name, "process orders");
  EXPECT_GE(ref.name.data(), ref.message.data());
  EXPECT_LE(ref.name.data() + ref.name.size(), ref.message.data() + ref.message.size());
  EXPECT_TRUE(scanned.spans[1].name.empty());
}

// The scanner has a fast path for the usual encoding and a general one for
// everything else; both must read the same span.
TEST_F(TraceScannerTest, OverlongAndUnusualEncodingsScanLikeTheCanonicalOne) {
  auto span_bytes = [](bool unusual) {
    std::string out;
    auto length = [&](size_t n) {
      if (unusual) {
        // Overlong: a continuation byte, then the rest (here zero).
        out.push_back(static_cast<char>((n & 0x7f) | 0x80));
        out.push_back(static_cast<char>(n >> 7));
      } else {
        AppendVarint(&out, n);
      }
    };
    auto field = [&](uint32_t number, const std::string& bytes) {
      AppendTag(&out, number, WireType::kLengthDelimited);
      length(bytes.size());
      out.append(bytes);
    };
    field(1, Id(16, 1));
    field(2, Id(8, 2));
    field(4, Id(8, 3));
    field(5, "op");
    if (unusual) {
      out.append("\x30\x85\x00", 3);  // kind 5 as a two-byte varint
    } else {
      AppendTag(&out, 6, WireType::kVarint);
      AppendVarint(&out, 5);
    }
    AppendTag(&out, 8, WireType::kFixed64);
    AppendFixed64(&out, 200);
    std::string link;
    AppendLengthDelimited(&link, 1, Id(16, 7));
    AppendLengthDelimited(&link, 2, Id(8, 8));
    field(13, link);
    if (unusual) {
      out.append("\x85\x81\x00", 3);  // tag of field 16 in three bytes
    } else {
      AppendTag(&out, 16, WireType::kFixed32);
    }
    AppendFixed32(&out, 0x301);
    return out;
  };
  auto scan = [](const std::string& span) {
    std::string scope;
    AppendLengthDelimited(&scope, 2, span);
    std::string resource;
    AppendLengthDelimited(&resource, 2, scope);
    std::string request;
    AppendLengthDelimited(&request, 1, resource);
    auto scanned = ScanTraceRequest(request);
    EXPECT_TRUE(scanned.ok()) << scanned.status();
    return scanned.ok() ? *std::move(scanned) : ScannedTraceRequest();
  };
  const ScannedTraceRequest canonical = scan(span_bytes(false));
  const ScannedTraceRequest unusual = scan(span_bytes(true));
  ASSERT_EQ(canonical.spans.size(), 1u);
  ASSERT_EQ(unusual.spans.size(), 1u);
  for (const ScannedTraceRequest* scanned : {&canonical, &unusual}) {
    const SpanRef& ref = scanned->spans[0];
    EXPECT_EQ(ref.trace_id, MakeTraceId(1));
    EXPECT_EQ(ref.span_id, MakeSpanId(2));
    EXPECT_TRUE(ref.has_parent);
    EXPECT_EQ(ref.parent_span_id, MakeSpanId(3));
    EXPECT_EQ(ref.name, "op");
    EXPECT_EQ(ref.kind, SpanKind::kConsumer);
    EXPECT_EQ(ref.end_time_unix_nano, 200u);
    EXPECT_EQ(ref.flags, 0x301u);
    ASSERT_EQ(ref.links.size(), 1u);
    EXPECT_TRUE(ref.links[0].valid);
    EXPECT_EQ(ref.links[0].trace_id, MakeTraceId(7));
    EXPECT_EQ(ref.message.substr(ref.trace_id_offset, 16), Id(16, 1));
  }
}

TEST_F(TraceScannerTest, SpanWithoutParentIsRoot) {
  ScannedTraceRequest scanned = Scan(Request({MakeSpan(1, 2, 0)}));
  ASSERT_EQ(scanned.spans.size(), 1u);
  EXPECT_FALSE(scanned.spans[0].has_parent);
}

TEST_F(TraceScannerTest, LastOccurrenceOfAFieldWins) {
  Span s = MakeSpan(1, 2, 0);
  std::string bytes = s.SerializeAsString();
  AppendLengthDelimited(&bytes, 1, Id(16, 9));
  ExportTraceServiceRequest request = Request({});
  std::string body = request.SerializeAsString();
  // Append the span by hand to the (only) scope: rebuild the nesting.
  ScopeSpans scope;
  scope.mutable_scope()->set_name("lib");
  std::string scope_bytes = scope.SerializeAsString();
  AppendLengthDelimited(&scope_bytes, 2, bytes);
  std::string resource_bytes;
  AppendLengthDelimited(&resource_bytes, 2, scope_bytes);
  std::string request_bytes;
  AppendLengthDelimited(&request_bytes, 1, resource_bytes);
  auto scanned = ScanTraceRequest(request_bytes);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  ASSERT_EQ(scanned->spans.size(), 1u);
  EXPECT_EQ(scanned->spans[0].trace_id, MakeTraceId(9));
  EXPECT_EQ(scanned->spans[0].trace_id_offset, bytes.size() - 16);
}

TEST_F(TraceScannerTest, InvalidIdsRejectTheSpanNotTheRequest) {
  Span short_trace = MakeSpan(1, 2, 0);
  short_trace.set_trace_id(Id(15, 1));
  Span zero_trace = MakeSpan(0, 2, 0);
  Span zero_span = MakeSpan(1, 0, 0);
  Span bad_parent = MakeSpan(1, 2, 0);
  bad_parent.set_parent_span_id(Id(4, 1));
  Span missing_span_id = MakeSpan(1, 2, 0);
  missing_span_id.clear_span_id();
  Span good = MakeSpan(1, 3, 2);
  ScannedTraceRequest scanned =
      Scan(Request({short_trace, zero_trace, zero_span, bad_parent, missing_span_id, good}));
  ASSERT_EQ(scanned.spans.size(), 1u);
  EXPECT_EQ(scanned.spans[0].span_id, MakeSpanId(3));
  EXPECT_EQ(scanned.rejected_spans, 5);
  EXPECT_NE(scanned.rejection_message.find("trace_id"), std::string::npos) << scanned.rejection_message;
  EXPECT_NE(scanned.rejection_message.find("spans[0]"), std::string::npos) << scanned.rejection_message;
}

TEST_F(TraceScannerTest, LinksAreReadAndBadLinksKeptAsInvalid) {
  Span s = MakeSpan(1, 2, 0);
  auto* good = s.add_links();
  good->set_trace_id(Id(16, 7));
  good->set_span_id(Id(8, 8));
  good->set_trace_state("a=b");
  good->set_flags(0x101);
  auto* bad = s.add_links();
  bad->set_trace_id(Id(16, 7));
  bad->set_span_id(Id(3, 8));
  ScannedTraceRequest scanned = Scan(Request({s}));
  ASSERT_EQ(scanned.spans.size(), 1u);
  const SpanRef& ref = scanned.spans[0];
  ASSERT_EQ(ref.links.size(), 2u);
  EXPECT_TRUE(ref.links[0].valid);
  EXPECT_EQ(ref.links[0].trace_id, MakeTraceId(7));
  EXPECT_EQ(ref.links[0].span_id, MakeSpanId(8));
  EXPECT_EQ(ref.links[0].trace_state, "a=b");
  EXPECT_EQ(ref.links[0].flags, 0x101u);
  EXPECT_EQ(ref.links[0].message, good->SerializeAsString());
  EXPECT_FALSE(ref.links[1].valid);
}

// A batch receive over many messages: more links than the scanner's common
// path takes (16); all are read, in order, and the next span is unaffected.
TEST_F(TraceScannerTest, ASpanWithManyLinksKeepsEveryLinkInOrder) {
  for (int links : {15, 16, 17, 40}) {
    Span batch = MakeSpan(1, 2, 0);
    for (int i = 0; i < links; ++i) {
      auto* link = batch.add_links();
      link->set_trace_id(Id(16, static_cast<uint8_t>(10 + i)));
      link->set_span_id(Id(8, static_cast<uint8_t>(100 + i)));
    }
    Span next = MakeSpan(3, 4, 0);
    next.add_links()->set_trace_id(Id(16, 9));
    next.mutable_links(0)->set_span_id(Id(8, 9));
    ScannedTraceRequest scanned = Scan(Request({batch, next}));
    ASSERT_EQ(scanned.spans.size(), 2u) << links;
    ASSERT_EQ(scanned.spans[0].links.size(), static_cast<size_t>(links));
    for (int i = 0; i < links; ++i) {
      EXPECT_TRUE(scanned.spans[0].links[i].valid) << links << " " << i;
      EXPECT_EQ(scanned.spans[0].links[i].trace_id, MakeTraceId(static_cast<uint8_t>(10 + i))) << links << " " << i;
      EXPECT_EQ(scanned.spans[0].links[i].span_id, MakeSpanId(static_cast<uint8_t>(100 + i))) << links << " " << i;
    }
    ASSERT_EQ(scanned.spans[1].links.size(), 1u);
    EXPECT_EQ(scanned.spans[1].links[0].trace_id, MakeTraceId(9));
  }
}

TEST_F(TraceScannerTest, FramesHoldEverythingButTheNestedSpans) {
  ExportTraceServiceRequest request = Request({MakeSpan(1, 2, 0)});
  ScannedTraceRequest scanned = Scan(request);
  ResourceSpans rs = request.resource_spans(0);
  rs.clear_scope_spans();
  ScopeSpans ss = request.resource_spans(0).scope_spans(0);
  ss.clear_spans();
  ASSERT_EQ(scanned.buffer->resource_frames.size(), 1u);
  ASSERT_EQ(scanned.buffer->scope_frames.size(), 1u);
  EXPECT_EQ(scanned.buffer->resource_frames[0], rs.SerializeAsString());
  EXPECT_EQ(scanned.buffer->scope_frames[0], ss.SerializeAsString());
  EXPECT_EQ(scanned.buffer->scope_resource[0], 0u);
}

TEST_F(TraceScannerTest, UnknownFieldsAreSkippedAndSurviveEncoding) {
  Span s = MakeSpan(1, 2, 0);
  s.GetReflection()->MutableUnknownFields(&s)->AddVarint(99, 5);
  s.GetReflection()->MutableUnknownFields(&s)->AddLengthDelimited(100, "x");
  ExportTraceServiceRequest request = Request({s});
  request.GetReflection()->MutableUnknownFields(&request)->AddFixed32(50, 1);
  ScannedTraceRequest scanned = Scan(request);
  ASSERT_EQ(scanned.spans.size(), 1u);
  std::string encoded = EncodeTraceRequest({OutputSpan::Unchanged(scanned.spans[0], scanned.buffer)});
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(encoded));
  const Span& out = parsed.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(out.GetReflection()->GetUnknownFields(out).field_count(), 2);
}

TEST_F(TraceScannerTest, WrongWireTypeOnKnownFieldIsInvalidArgument) {
  std::string span;
  AppendTag(&span, 1, WireType::kVarint);  // trace_id as varint
  AppendVarint(&span, 5);
  std::string scope;
  AppendLengthDelimited(&scope, 2, span);
  std::string resource;
  AppendLengthDelimited(&resource, 2, scope);
  std::string request;
  AppendLengthDelimited(&request, 1, resource);
  ExpectInvalid(request);

  std::string kind_as_bytes;
  AppendLengthDelimited(&kind_as_bytes, 6, "x");
  scope.clear();
  AppendLengthDelimited(&scope, 2, kind_as_bytes);
  resource.clear();
  AppendLengthDelimited(&resource, 2, scope);
  request.clear();
  AppendLengthDelimited(&request, 1, resource);
  ExpectInvalid(request);

  std::string top;
  AppendTag(&top, 1, WireType::kFixed64);
  AppendFixed64(&top, 0);
  ExpectInvalid(top);
}

// Dynatrace refuses a whole batch for one string that is not UTF-8: such a
// span is refused alone, with its links, and the others keep theirs.
TEST_F(TraceScannerTest, InvalidUtf8RefusesTheSpanNotTheRequest) {
  Span linked_before = MakeSpan(1, 2, 0);
  auto* link = linked_before.add_links();
  link->set_trace_id(Id(16, 7));
  link->set_span_id(Id(8, 8));
  Span bad = MakeSpan(1, 3, 0);
  bad.add_links()->set_trace_state("\xED\xA0\x80");  // a surrogate
  Span bad_event = MakeSpan(1, 4, 0);
  bad_event.add_events()->add_attributes()->mutable_value()->set_string_value("x\xE2\x82");
  Span linked_after = MakeSpan(1, 5, 0);
  auto* link2 = linked_after.add_links();
  link2->set_trace_id(Id(16, 9));
  link2->set_span_id(Id(8, 9));
  Span zero_span = MakeSpan(1, 0, 0);
  ScannedTraceRequest scanned = Scan(Request({linked_before, bad, bad_event, linked_after, zero_span}));
  ASSERT_EQ(scanned.spans.size(), 2u);
  EXPECT_EQ(scanned.spans[0].span_id, MakeSpanId(2));
  EXPECT_EQ(scanned.spans[1].span_id, MakeSpanId(5));
  ASSERT_EQ(scanned.spans[0].links.size(), 1u);
  EXPECT_EQ(scanned.spans[0].links[0].span_id, MakeSpanId(8));
  ASSERT_EQ(scanned.spans[1].links.size(), 1u);
  EXPECT_EQ(scanned.spans[1].links[0].span_id, MakeSpanId(9));
  EXPECT_EQ(scanned.rejected_spans, 3);
  EXPECT_EQ(scanned.invalid_utf8_spans, 2);
  EXPECT_NE(scanned.rejection_message.find("1 span(s) rejected"), std::string::npos) << scanned.rejection_message;
  EXPECT_NE(scanned.rejection_message.find("2 span(s) refused: invalid UTF-8 in links.trace_state of "
                                           "ExportTraceServiceRequest.resource_spans[0].scope_spans[0].spans[1]"),
            std::string::npos)
      << scanned.rejection_message;

  // The caller that knows every string is valid may skip the search.
  auto skipped = ScanTraceRequest(Request({linked_before, bad}).SerializeAsString(), Utf8Check::kSkip);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->spans.size(), 2u);
  EXPECT_EQ(skipped->rejected_spans, 0);
}

// A resource's or scope's own strings go with every span under it: those
// spans are refused, the other resources' and scopes' are kept.
TEST_F(TraceScannerTest, InvalidUtf8InAResourceOrScopeRefusesItsSpans) {
  ExportTraceServiceRequest request;
  ResourceSpans* bad_resource = request.add_resource_spans();
  bad_resource->mutable_resource()->add_attributes()->set_key("host.\xC0\xAF");  // overlong
  *bad_resource->add_scope_spans()->add_spans() = MakeSpan(1, 1, 0);
  *bad_resource->add_scope_spans()->add_spans() = MakeSpan(1, 2, 0);
  ResourceSpans* good_resource = request.add_resource_spans();
  ScopeSpans* bad_scope = good_resource->add_scope_spans();
  bad_scope->mutable_scope()->set_name("lib\xF0\x9F\x98");  // truncated at the end
  Span linked = MakeSpan(1, 3, 0);
  linked.add_links()->set_trace_id(Id(16, 7));
  *bad_scope->add_spans() = linked;
  ScopeSpans* good_scope = good_resource->add_scope_spans();
  good_scope->mutable_scope()->set_name("lib\xF0\x9F\x98\x80");  // a valid 4-byte sequence
  Span kept = MakeSpan(1, 4, 0);
  kept.add_links()->set_span_id(Id(8, 4));
  *good_scope->add_spans() = kept;
  // A resource field after its scopes still counts for them.
  ResourceSpans* late = request.add_resource_spans();
  *late->add_scope_spans()->add_spans() = MakeSpan(1, 5, 0);
  late->set_schema_url("\xFF");

  ScannedTraceRequest scanned = Scan(request);
  ASSERT_EQ(scanned.spans.size(), 1u);
  EXPECT_EQ(scanned.spans[0].span_id, MakeSpanId(4));
  EXPECT_NE(scanned.buffer->scope_frames.at(scanned.spans[0].scope_index).find("lib\xF0\x9F\x98\x80"),
            std::string::npos);
  ASSERT_EQ(scanned.spans[0].links.size(), 1u);
  EXPECT_FALSE(scanned.spans[0].links[0].valid);
  EXPECT_EQ(scanned.rejected_spans, 4);
  EXPECT_EQ(scanned.invalid_utf8_spans, 4);
  EXPECT_NE(scanned.rejection_message.find("resource.attributes"), std::string::npos) << scanned.rejection_message;
}

TEST_F(TraceScannerTest, MalformedInputsAreInvalidArgument) {
  const std::string valid = Request({MakeSpan(1, 2, 0)}).SerializeAsString();
  // Every strict prefix of a valid request ends inside some field.
  for (size_t cut = 1; cut < valid.size(); ++cut) {
    auto scanned = ScanTraceRequest(valid.substr(0, cut));
    if (scanned.ok()) continue;  // Cuts at a top-level field boundary are fine.
    EXPECT_EQ(scanned.status().code(), absl::StatusCode::kInvalidArgument);
  }
  ExpectInvalid(valid.substr(0, valid.size() - 1));
  ExpectInvalid(std::string("\x0a\xff\xff\xff\xff\x0f", 6));                 // length past the end
  ExpectInvalid(std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12));  // 11-byte varint
  ExpectInvalid(std::string("\x0b\x0c", 2));                                 // group
  ExpectInvalid(std::string("\x00\x00", 2));                                 // field 0
  ExpectInvalid(valid + std::string("\x13\x14", 2));                         // unknown group
}

}  // namespace
}  // namespace gateway
