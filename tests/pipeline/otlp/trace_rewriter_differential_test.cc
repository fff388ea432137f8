// Differential test of the trace rewriter and encoder against libprotobuf.
//
// Oracle: the generated OTLP classes. Whatever RewriteSpan, SpliceRewrite,
// PatchTraceId, BuildMessageSpan and EncodeTraceRequest write must parse and
// equal the message built with the generated API.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/protobuf/util/message_differencer.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/otlp/trace_rewriter.h"
#include "pipeline/otlp/trace_scanner.h"
#include "tests/pipeline/otlp/random_trace_request.h"

namespace gateway {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::ScopeSpans;
using ::opentelemetry::proto::trace::v1::Span;

constexpr int kCases = 2000;

class TraceRewriterDifferentialTest : public testing::RandomTraceRequestTest {
 protected:
  // Applies a random change to `span`; returns the bytes and the expected
  // message built with the generated API.
  std::string RandomOutput(const SpanRef& span, Span* expected) {
    last_rewrite_.reset();
    Span original;
    EXPECT_TRUE(original.ParseFromString(std::string(span.message)));
    *expected = original;
    switch (rng_() % 4) {
      case 0:
        return std::string(span.message);
      case 1: {
        TraceId id;
        TraceId::FromBytes(RandomId(16), &id);
        expected->set_trace_id(std::string(id.View()));
        return PatchTraceId(span, id);
      }
      case 2: {
        for (size_t l = 0; l < span.links.size(); ++l) {
          if (!span.links[l].valid) continue;
          MessageSpanFields fields;
          SpanId::FromBytes(RandomId(8), &fields.span_id);
          TraceId::FromBytes(RandomId(16), &fields.trace_id);
          fields.flags = static_cast<uint32_t>(rng_() % 0x400);
          fields.time_unix_nano = rng_();
          TraceId batch_trace;
          TraceId::FromBytes(RandomId(16), &batch_trace);
          fields.batch_link = EncodeLink(batch_trace, span.span_id, "", 0x01, {{"gateway.reparent.batch_span", true}});
          fields.extra = {{"x", int64_t{-1}}};
          const auto& link = original.links(static_cast<int>(l));
          expected->Clear();
          expected->set_trace_id(std::string(fields.trace_id.View()));
          expected->set_span_id(std::string(fields.span_id.View()));
          expected->set_trace_state(link.trace_state());
          expected->set_parent_span_id(link.span_id());
          expected->set_kind(Span::SPAN_KIND_CONSUMER);
          expected->set_flags(fields.flags);
          expected->set_name(original.name());
          expected->set_start_time_unix_nano(fields.time_unix_nano);
          expected->set_end_time_unix_nano(fields.time_unix_nano);
          for (const auto& kv : original.attributes()) {
            if (kv.key().rfind("messaging.", 0) == 0 && kv.key().rfind("messaging.batch.", 0) != 0) {
              *expected->add_attributes() = kv;
            }
          }
          for (const auto& kv : link.attributes()) *expected->add_attributes() = kv;
          auto* x = expected->add_attributes();
          x->set_key("x");
          x->mutable_value()->set_int_value(-1);
          EXPECT_TRUE(expected->add_links()->ParseFromString(fields.batch_link));
          return BuildMessageSpan(span, span.links[l], fields);
        }
        return std::string(span.message);
      }
      default: {
        SpanRewrite rewrite;
        if (OneIn(2)) {
          rewrite.trace_id.emplace();
          TraceId::FromBytes(RandomId(16), &*rewrite.trace_id);
          expected->set_trace_id(std::string(rewrite.trace_id->View()));
        }
        if (OneIn(2)) {
          rewrite.parent_span_id.emplace();
          SpanId::FromBytes(RandomId(8), &*rewrite.parent_span_id);
          expected->set_parent_span_id(std::string(rewrite.parent_span_id->View()));
        }
        if (OneIn(2)) {
          rewrite.trace_state = OneIn(2) ? std::string() : "t=" + RandomText();
          expected->set_trace_state(*rewrite.trace_state);
        }
        if (OneIn(2)) {
          rewrite.flags = static_cast<uint32_t>(rng_() % 0x400);
          expected->set_flags(*rewrite.flags);
        }
        if (!span.links.empty() && OneIn(2)) {
          rewrite.remove_link = static_cast<int>(rng_() % span.links.size());
          expected->mutable_links()->DeleteSubrange(rewrite.remove_link, 1);
        }
        if (OneIn(2)) {
          TraceId t;
          SpanId s;
          TraceId::FromBytes(RandomId(16), &t);
          SpanId::FromBytes(RandomId(8), &s);
          std::vector<ExtraAttribute> attrs = {{"k", std::string("v")}, {"b", true}};
          rewrite.extra_links.push_back(EncodeLink(t, s, OneIn(2) ? "" : "z=1", 0x301, attrs));
          EXPECT_TRUE(expected->add_links()->ParseFromString(rewrite.extra_links.back()));
          const auto& added = expected->links(expected->links_size() - 1);
          EXPECT_EQ(added.attributes_size(), 2);
          EXPECT_EQ(added.flags(), 0x301u);
        }
        if (OneIn(2)) {
          rewrite.extra_attributes = {{"a", std::string("")}, {"n", int64_t{7}}, {"f", false}};
          auto* a = expected->add_attributes();
          a->set_key("a");
          a->mutable_value()->set_string_value("");
          auto* n = expected->add_attributes();
          n->set_key("n");
          n->mutable_value()->set_int_value(7);
          auto* f = expected->add_attributes();
          f->set_key("f");
          f->mutable_value()->set_bool_value(false);
        }
        last_rewrite_ = rewrite;
        return RewriteSpan(span, rewrite);
      }
    }
  }

  // Encodes the spans of two scans (so frames are joined across requests)
  // and compares with a reference grouping built with libprotobuf.
  void CheckEncoding(const std::vector<const ScannedTraceRequest*>& scans) {
    struct Group {
      std::string resource;
      std::string scope;
      std::vector<Span> spans;
    };
    std::vector<Group> groups;
    std::vector<OutputSpan> outputs;
    for (const ScannedTraceRequest* scan : scans) {
      for (const SpanRef& span : scan->spans) {
        Span expected;
        OutputSpan out = OutputSpan::Unchanged(span, scan->buffer);
        std::string bytes = RandomOutput(span, &expected);
        if (bytes != span.message) out.rewritten = std::move(bytes);
        Span actual;
        ASSERT_TRUE(actual.ParseFromString(std::string(out.bytes())));
        std::string diff;
        MessageDifferencer differencer;
        differencer.ReportDifferencesToString(&diff);
        EXPECT_TRUE(differencer.Compare(actual, expected)) << diff;
        if (last_rewrite_.has_value() && OneIn(2)) {
          // The same rewrite spliced by the encoder from the received bytes.
          OutputSpan spliced = OutputSpan::Unchanged(span, scan->buffer);
          SpliceRewrite(span, *last_rewrite_, &spliced);
          EXPECT_EQ(spliced.size(), out.bytes().size());
          EXPECT_EQ(EncodeTraceRequest({spliced}), EncodeTraceRequest({out}));
          out = std::move(spliced);
        }
        const std::string& resource = span.buffer->resource_frames[span.buffer->scope_resource[span.scope_index]];
        const std::string& scope = span.buffer->scope_frames[span.scope_index];
        Group* group = nullptr;
        for (Group& g : groups) {
          if (g.resource == resource && g.scope == scope) group = &g;
        }
        if (group == nullptr) group = &groups.emplace_back(Group{resource, scope, {}});
        group->spans.push_back(expected);
        outputs.push_back(std::move(out));
      }
    }
    ExportTraceServiceRequest expected;
    std::vector<std::string> resource_order;
    for (const Group& g : groups) {
      int r = -1;
      for (size_t i = 0; i < resource_order.size(); ++i) {
        if (resource_order[i] == g.resource) r = static_cast<int>(i);
      }
      if (r < 0) {
        r = static_cast<int>(resource_order.size());
        resource_order.push_back(g.resource);
        ASSERT_TRUE(expected.add_resource_spans()->ParseFromString(g.resource));
      }
      ScopeSpans* ss = expected.mutable_resource_spans(r)->add_scope_spans();
      ASSERT_TRUE(ss->ParseFromString(g.scope));
      for (const Span& s : g.spans) *ss->add_spans() = s;
    }
    const std::string encoded = EncodeTraceRequest(outputs);
    size_t bound = 0;
    for (const OutputSpan& out : outputs) bound += EncodedSpanSize(out);
    EXPECT_LE(bound, encoded.size());
    ExportTraceServiceRequest actual;
    ASSERT_TRUE(actual.ParseFromString(encoded));
    std::string diff;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differencer.Compare(actual, expected)) << diff;
  }

  // The rewrite behind RandomOutput's last answer, if it was one.
  std::optional<SpanRewrite> last_rewrite_;
};

TEST_F(TraceRewriterDifferentialTest, WrittenSpansAndRequestsEqualWhatLibprotobufBuilds) {
  int checked = 0;
  for (int i = 0; i < kCases / 2 && !HasFailure(); ++i) {
    ExportTraceServiceRequest a = RandomRequest();
    ExportTraceServiceRequest b = RandomRequest();
    auto scan_a = ScanTraceRequest(a.SerializeAsString());
    auto scan_b = ScanTraceRequest(b.SerializeAsString());
    if (!scan_a.ok() || !scan_b.ok()) continue;  // groups in unknown fields
    CheckEncoding({&*scan_a, &*scan_b});
    ++checked;
  }
  EXPECT_GT(checked, kCases / 4);
}

}  // namespace
}  // namespace gateway
