#include "bench/request_generator.h"

#include <string>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::Span;

ExportTraceServiceRequest Parse(const std::string& body) {
  ExportTraceServiceRequest request;
  EXPECT_TRUE(request.ParseFromString(body));
  return request;
}

struct Totals {
  int spans = 0;
  int consumers_with_link = 0;
  int attributes = 0;
  int64_t span_bytes = 0;
  int max_value_bytes = 0;
};

Totals Count(const ExportTraceServiceRequest& request) {
  Totals t;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const Span& span : ss.spans()) {
        ++t.spans;
        t.span_bytes += static_cast<int64_t>(span.ByteSizeLong());
        t.attributes += span.attributes_size();
        if (span.kind() == Span::SPAN_KIND_CONSUMER && span.links_size() == 1) ++t.consumers_with_link;
        for (const auto& kv : span.attributes()) {
          t.max_value_bytes = std::max(t.max_value_bytes, static_cast<int>(kv.value().string_value().size()));
        }
      }
    }
  }
  return t;
}

TEST(RequestGeneratorTest, BothShapesGiveTheRequestedSpansOfAboutTheRequestedSize) {
  for (auto attributes :
       {TraceRequestShape::Attributes::kOnePadding, TraceRequestShape::Attributes::kSemanticConventions}) {
    TraceRequestShape shape;
    shape.attributes = attributes;
    const Totals t = Count(Parse(MakeTraceRequest(shape, 7)));
    EXPECT_EQ(t.spans, 500);
    EXPECT_NEAR(static_cast<double>(t.span_bytes) / t.spans, 600, 40);
    EXPECT_GT(t.consumers_with_link, 20);
    EXPECT_LT(t.consumers_with_link, 90);
  }
}

TEST(RequestGeneratorTest, ConventionSpansCarryManyShortAttributesPaddedSpansOneLongOne) {
  TraceRequestShape shape;
  shape.attributes = TraceRequestShape::Attributes::kSemanticConventions;
  const Totals conventions = Count(Parse(MakeTraceRequest(shape, 7)));
  EXPECT_GE(conventions.attributes, 10 * conventions.spans);
  EXPECT_LT(conventions.max_value_bytes, 120);

  shape.attributes = TraceRequestShape::Attributes::kOnePadding;
  const Totals padded = Count(Parse(MakeTraceRequest(shape, 7)));
  EXPECT_LE(padded.attributes, 5 * padded.spans);
  EXPECT_GT(padded.max_value_bytes, 300);
}

TEST(RequestGeneratorTest, TheSameShapeAndSeedGiveTheSameBytes) {
  TraceRequestShape shape;
  shape.attributes = TraceRequestShape::Attributes::kSemanticConventions;
  EXPECT_EQ(MakeTraceRequest(shape, 11), MakeTraceRequest(shape, 11));
  EXPECT_NE(MakeTraceRequest(shape, 11), MakeTraceRequest(shape, 12));
}

}  // namespace
}  // namespace gateway
