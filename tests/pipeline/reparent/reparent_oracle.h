// An offline statement of the reparenting rules, for differential tests, and
// helpers to move spans between libprotobuf messages and the engine.
//
// The oracle sees every span at once (no hold window) and applies
// docs/reparenting.md directly; the online TraceResolver must produce the
// same spans whatever order and requests they arrive in, as long as nothing
// is released early. Two rules depend on arrival, which OracleArrival
// describes when it matters: an invocation takes a target child along only
// when the child came before it in the same request, and unless it
// WaitsForLinkFate (cross_process and wait_for_link_fate) a target (or
// per-message span) uses its link target's fate only if it was known when
// the target was decided.
//
//   std::vector<Span> expected = ReparentOffline(all_spans, options);
//   std::vector<Span> actual = DecodeSpans(outputs);
//   EXPECT_EQ(Canonical(expected), Canonical(actual));
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/otlp/trace_scanner.h"
#include "pipeline/reparent/reparent_options.h"

namespace gateway::testing {

using ProtoSpan = opentelemetry::proto::trace::v1::Span;

struct OracleArrival {
  // Span id (bytes) -> (request number, position in the whole arrival
  // order). Absent: every span in one request, in the order given.
  std::map<std::string, std::pair<int, int>> when;
  // Whether the span (a target, or a per-message span, by span id) knew its
  // link target's fate when it was decided. Unset: it did, or waited for it.
  std::function<bool(const std::string& span_id, const std::string& link_trace)> link_known;
};

// The spans the engine must emit for `spans` (all of them, plus per-message
// spans).
std::vector<ProtoSpan> ReparentOffline(const std::vector<ProtoSpan>& spans, const ReparentOptions& options,
                                       const OracleArrival& arrival = {});

// A serialized ExportTraceServiceRequest with the spans under one resource
// (service.name=`service`) and one scope.
std::string BuildRequest(const std::vector<ProtoSpan>& spans, const std::string& service = "svc");

// ScanTraceRequest, failing the current test on error.
ScannedTraceRequest ScanOrFail(std::string body);

// EncodeTraceRequest of `spans`, parsed back with libprotobuf and flattened.
std::vector<ProtoSpan> DecodeSpans(absl::Span<const OutputSpan> spans);

// The spans of serialized ExportTraceServiceRequests (e.g. a FakeExporter's
// Bodies()), flattened in order; a body that does not parse fails the test.
std::vector<ProtoSpan> SpansOfBodies(const std::vector<std::string>& bodies);

// Serialized spans sorted by (trace id, span id, bytes): a multiset to
// compare, independent of output order.
std::vector<std::string> Canonical(const std::vector<ProtoSpan>& spans);

// 16- and 8-byte ids whose last bytes are `n` (and never all zero).
std::string TraceIdBytes(uint64_t n);
std::string SpanIdBytes(uint64_t n);

}  // namespace gateway::testing
