// Encoders of new trace messages: Link messages, synthetic fan-out spans, and
// EncodeTraceRequest, which writes OutputSpans back into one
// ExportTraceServiceRequest, regrouped under their resource and scope frames,
// each span from the received bytes with its patch or splice applied.
//
//   std::string link = EncodeLink(span.trace_id, span.parent_span_id, "", span.flags, {});
//   std::string fanout = BuildFanoutSpan(span, span.links[1], fanout_id, {});
//   std::vector<OutputSpan> outputs = ...;                    // from the engine
//   size_t bound = 0;
//   for (const OutputSpan& span : outputs) bound += EncodedSpanSize(span);
//   std::string body = EncodeTraceRequest(outputs);
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "pipeline/otlp/extra_attribute.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

// A Link message (value bytes).
std::string EncodeLink(const TraceId& trace_id, const SpanId& span_id, std::string_view trace_state,
                       uint32_t flags, const std::vector<ExtraAttribute>& attributes);
// The same into `*out` (replacing its contents, reusing its capacity).
void EncodeLink(const TraceId& trace_id, const SpanId& span_id, std::string_view trace_state, uint32_t flags,
                const std::vector<ExtraAttribute>& attributes, std::string* out);

// A synthetic CONSUMER span standing for `original` in `link`'s trace:
// trace_id and parent from the link, span id `span_id`, trace_state from the
// link, flags = the link's trace flags plus the parent-is-remote bits; name,
// start and end time, attributes and status copied from the original; the
// link's attributes and `extra` appended to the attributes.
std::string BuildFanoutSpan(const SpanRef& original, const LinkRef& link, const SpanId& span_id,
                            const std::vector<ExtraAttribute>& extra);

// Encodes spans as one ExportTraceServiceRequest, each span's bytes with its
// trace-id patch applied. Spans whose resource frames
// are byte-equal share one ResourceSpans, and within it spans whose scope
// frames are byte-equal share one ScopeSpans; groups keep first-seen order.
std::string EncodeTraceRequest(absl::Span<const OutputSpan> spans);

// Upper bound of what `span` (all spans of a run) adds to an encoded request
// beyond its frames (tag and length prefix included); for batch sizing.
size_t EncodedSpanSize(const OutputSpan& span);

}  // namespace gateway
