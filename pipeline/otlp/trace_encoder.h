// EncodeTraceRequest: OutputSpans back into one ExportTraceServiceRequest,
// regrouped under their resource and scope frames, each span written from the
// received bytes with its patch or splice applied.
//
//   std::vector<OutputSpan> outputs = ...;                    // from the engine
//   size_t bound = 0;
//   for (const OutputSpan& span : outputs) bound += EncodedSpanSize(span);
//   std::string body = EncodeTraceRequest(outputs);
#pragma once

#include <cstddef>
#include <string>

#include "absl/types/span.h"
#include "pipeline/otlp/output_span.h"

namespace gateway {

// Encodes spans as one ExportTraceServiceRequest, each span's bytes with its
// trace-id patch applied. Spans whose resource frames
// are byte-equal share one ResourceSpans, and within it spans whose scope
// frames are byte-equal share one ScopeSpans; groups keep first-seen order.
std::string EncodeTraceRequest(absl::Span<const OutputSpan> spans);

// Upper bound of what `span` (all spans of a run) adds to an encoded request
// beyond its frames (tag and length prefix included); for batch sizing.
size_t EncodedSpanSize(const OutputSpan& span);

}  // namespace gateway
