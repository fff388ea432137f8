#include "pipeline/otlp/trace_wire.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/protobuf/util/message_differencer.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::ResourceSpans;
using ::opentelemetry::proto::trace::v1::ScopeSpans;
using ::opentelemetry::proto::trace::v1::Span;

std::string Id(size_t size, uint8_t fill) { return std::string(size, static_cast<char>(fill)); }

TraceId MakeTraceId(uint8_t fill) {
  TraceId id;
  id.bytes.fill(fill);
  return id;
}

SpanId MakeSpanId(uint8_t fill) {
  SpanId id;
  id.bytes.fill(fill);
  return id;
}

Span MakeSpan(uint8_t trace, uint8_t span, uint8_t parent) {
  Span s;
  s.set_trace_id(Id(16, trace));
  s.set_span_id(Id(8, span));
  if (parent != 0) s.set_parent_span_id(Id(8, parent));
  s.set_name("op");
  s.set_kind(Span::SPAN_KIND_SERVER);
  s.set_start_time_unix_nano(100);
  s.set_end_time_unix_nano(200);
  auto* attr = s.add_attributes();
  attr->set_key("k");
  attr->mutable_value()->set_string_value("v");
  s.mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  return s;
}

class TraceWireTest : public ::testing::Test {
 protected:
  // One resource, one scope, the given spans.
  static ExportTraceServiceRequest Request(const std::vector<Span>& spans) {
    ExportTraceServiceRequest request;
    ResourceSpans* rs = request.add_resource_spans();
    auto* attr = rs->mutable_resource()->add_attributes();
    attr->set_key("service.name");
    attr->mutable_value()->set_string_value("checkout");
    rs->set_schema_url("https://schema/1");
    ScopeSpans* ss = rs->add_scope_spans();
    ss->mutable_scope()->set_name("lib");
    for (const Span& s : spans) *ss->add_spans() = s;
    return request;
  }

  static ScannedTraceRequest Scan(const ExportTraceServiceRequest& request) {
    auto scanned = ScanTraceRequest(request.SerializeAsString());
    EXPECT_TRUE(scanned.ok()) << scanned.status();
    return scanned.ok() ? *std::move(scanned) : ScannedTraceRequest();
  }

  static Span ParseSpan(const std::string& bytes) {
    Span s;
    EXPECT_TRUE(s.ParseFromString(bytes));
    return s;
  }

  static void ExpectInvalid(const std::string& bytes) {
    auto scanned = ScanTraceRequest(bytes);
    ASSERT_FALSE(scanned.ok());
    EXPECT_EQ(scanned.status().code(), absl::StatusCode::kInvalidArgument) << scanned.status();
  }
};

TEST_F(TraceWireTest, ScanReadsIdsKindFlagsAndEndTime) {
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

TEST_F(TraceWireTest, ScanExposesTheSpanNameAsAViewIntoTheMessage) {
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
TEST_F(TraceWireTest, OverlongAndUnusualEncodingsScanLikeTheCanonicalOne) {
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

TEST_F(TraceWireTest, SpanWithoutParentIsRoot) {
  ScannedTraceRequest scanned = Scan(Request({MakeSpan(1, 2, 0)}));
  ASSERT_EQ(scanned.spans.size(), 1u);
  EXPECT_FALSE(scanned.spans[0].has_parent);
}

TEST_F(TraceWireTest, LastOccurrenceOfAFieldWins) {
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

TEST_F(TraceWireTest, InvalidIdsRejectTheSpanNotTheRequest) {
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

TEST_F(TraceWireTest, LinksAreReadAndBadLinksKeptAsInvalid) {
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
TEST_F(TraceWireTest, ASpanWithManyLinksKeepsEveryLinkInOrder) {
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

TEST_F(TraceWireTest, FramesHoldEverythingButTheNestedSpans) {
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

TEST_F(TraceWireTest, UnknownFieldsAreSkippedAndSurviveEncoding) {
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

TEST_F(TraceWireTest, WrongWireTypeOnKnownFieldIsInvalidArgument) {
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

TEST_F(TraceWireTest, MalformedInputsAreInvalidArgument) {
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

TEST_F(TraceWireTest, PatchTraceIdReplacesOnlyTheTraceId) {
  Span s = MakeSpan(1, 2, 3);
  ScannedTraceRequest scanned = Scan(Request({s}));
  std::string patched = PatchTraceId(scanned.spans[0], MakeTraceId(0x42));
  s.set_trace_id(Id(16, 0x42));
  EXPECT_TRUE(MessageDifferencer::Equals(ParseSpan(patched), s));
}

TEST_F(TraceWireTest, RewriteSpanReplacesIdsStateFlagsAndLinks) {
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

TEST_F(TraceWireTest, SpliceRewriteEncodesAsRewriteSpan) {
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

TEST_F(TraceWireTest, RewriteWithEmptyTraceStateRemovesIt) {
  Span s = MakeSpan(1, 2, 0);
  s.set_trace_state("old=1");
  ScannedTraceRequest scanned = Scan(Request({s}));
  SpanRewrite rewrite;
  rewrite.trace_state = "";
  Span out = ParseSpan(RewriteSpan(scanned.spans[0], rewrite));
  s.clear_trace_state();
  EXPECT_TRUE(MessageDifferencer::Equals(out, s));
}

TEST_F(TraceWireTest, FanoutSpanTakesContextFromTheLink) {
  Span s = MakeSpan(1, 2, 0);
  s.set_kind(Span::SPAN_KIND_CONSUMER);
  s.set_dropped_attributes_count(4);
  auto* link = s.add_links();
  link->set_trace_id(Id(16, 7));
  link->set_span_id(Id(8, 8));
  link->set_trace_state("ts=1");
  link->set_flags(0x101);
  auto* link_attr = link->add_attributes();
  link_attr->set_key("msg.id");
  link_attr->mutable_value()->set_int_value(12);
  s.add_events()->set_name("ignored");
  ScannedTraceRequest scanned = Scan(Request({s}));
  const SpanRef& ref = scanned.spans[0];
  Span out = ParseSpan(BuildFanoutSpan(ref, ref.links[0], MakeSpanId(0x55), {{"fanout", true}}));

  Span expected;
  expected.set_trace_id(Id(16, 7));
  expected.set_span_id(Id(8, 0x55));
  expected.set_parent_span_id(Id(8, 8));
  expected.set_trace_state("ts=1");
  expected.set_flags(0x01 | kSpanFlagsHasIsRemote | kSpanFlagsIsRemote);
  expected.set_kind(Span::SPAN_KIND_CONSUMER);
  expected.set_name(s.name());
  expected.set_start_time_unix_nano(s.start_time_unix_nano());
  expected.set_end_time_unix_nano(s.end_time_unix_nano());
  *expected.mutable_status() = s.status();
  *expected.mutable_attributes() = s.attributes();
  *expected.add_attributes() = *link_attr;
  auto* extra = expected.add_attributes();
  extra->set_key("fanout");
  extra->mutable_value()->set_bool_value(true);
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(out, expected)) << diff;
}

TEST_F(TraceWireTest, EncodeRegroupsByFrameContentInFirstSeenOrder) {
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

TEST_F(TraceWireTest, EncodeOfAllUnchangedSpansParsesToTheOriginal) {
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

TEST_F(TraceWireTest, EncodeAppliesTheTraceIdPatchLikePatchTraceId) {
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

// Each span as its own OutputSpan: the reference the runs are checked against.
std::vector<OutputSpan> Singles(const ScannedTraceRequest& scanned) {
  std::vector<OutputSpan> out;
  for (const SpanRef& span : scanned.spans) out.push_back(OutputSpan::Unchanged(span, scanned.buffer));
  return out;
}

TEST_F(TraceWireTest, ConsecutiveUnchangedSpansBecomeOneRunWithTheSameEncoding) {
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

TEST_F(TraceWireTest, ASkippedSpanOrAChangedOneEndsTheRun) {
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

TEST_F(TraceWireTest, SpansWithAnOverlongLengthAreNotJoinedIntoARun) {
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

TEST_F(TraceWireTest, TakeRunPrefixSplitsAtSpanBoundaries) {
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

TEST_F(TraceWireTest, EncodeOfNothingIsAnEmptyRequest) { EXPECT_EQ(EncodeTraceRequest({}), ""); }

}  // namespace
}  // namespace gateway
