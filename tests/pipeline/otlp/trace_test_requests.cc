#include "tests/pipeline/otlp/trace_test_requests.h"

#include <utility>

#include "gtest/gtest.h"
#include "pipeline/otlp/trace_scanner.h"

namespace gateway::testing {

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

ExportTraceServiceRequest Request(const std::vector<Span>& spans) {
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

ScannedTraceRequest Scan(const ExportTraceServiceRequest& request) {
  auto scanned = ScanTraceRequest(request.SerializeAsString());
  EXPECT_TRUE(scanned.ok()) << scanned.status();
  return scanned.ok() ? *std::move(scanned) : ScannedTraceRequest();
}

Span ParseSpan(const std::string& bytes) {
  Span s;
  EXPECT_TRUE(s.ParseFromString(bytes));
  return s;
}

}  // namespace gateway::testing
