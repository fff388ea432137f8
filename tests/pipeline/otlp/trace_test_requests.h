// Small OTLP trace requests and ids for the trace wire unit tests: spans
// with every common field set, one-resource one-scope requests, and the
// scan and parse steps with their failures reported to gtest.
//
//   ScannedTraceRequest scanned = Scan(Request({MakeSpan(1, 2, 0), MakeSpan(1, 3, 2)}));
//   EXPECT_EQ(scanned.spans[1].parent_span_id, MakeSpanId(2));
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway::testing {

// `size` bytes of `fill`.
std::string Id(size_t size, uint8_t fill);
TraceId MakeTraceId(uint8_t fill);
SpanId MakeSpanId(uint8_t fill);

// A SERVER span named "op" with ids of `trace`, `span` and `parent` bytes
// (no parent when 0), start 100, end 200, one string attribute and an error
// status.
::opentelemetry::proto::trace::v1::Span MakeSpan(uint8_t trace, uint8_t span, uint8_t parent);

// One resource (service.name "checkout", a schema url), one scope ("lib"),
// the given spans.
::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest Request(
    const std::vector<::opentelemetry::proto::trace::v1::Span>& spans);

// ScanTraceRequest of the serialized request; a failed scan fails the test
// and gives an empty result.
ScannedTraceRequest Scan(const ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request);

// The Span in `bytes`; a parse failure fails the test.
::opentelemetry::proto::trace::v1::Span ParseSpan(const std::string& bytes);

}  // namespace gateway::testing
