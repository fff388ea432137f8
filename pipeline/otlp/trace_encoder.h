// Encoders of new trace messages: Link messages, synthetic per-message spans, and
// EncodeTraceRequest, which writes OutputSpans back into one
// ExportTraceServiceRequest, regrouped under their resource and scope frames,
// each span from the received bytes with its patch or splice applied.
//
//   std::string link = EncodeLink(span.trace_id, span.parent_span_id, "", span.flags, {});
//   std::string message = BuildMessageSpan(span, span.links[1], fields);  // MessageSpanFields
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

// What a per-message span takes from elsewhere than its batch span and link.
struct MessageSpanFields {
  // The message's trace: the link's, or where the linked span has moved.
  TraceId trace_id;
  SpanId span_id;
  // The whole flags field (the link's trace flags plus the is-remote bits).
  uint32_t flags = 0;
  // Start and end time.
  uint64_t time_unix_nano = 0;
  // A Link message (value bytes, from EncodeLink) back to the batch span.
  std::string batch_link;
  // Appended after the batch span's and the link's attributes.
  std::vector<ExtraAttribute> extra;
};

// A synthetic CONSUMER span for the message of `link`, one of the links of
// the batch span `batch`, standing where the hand-written per-message span
// of Dynatrace's guide would: parent = the link's span, trace_state from the
// link, name from the batch span, attributes = the batch span's
// `messaging.*` attributes except `messaging.batch.*`, then the link's
// attributes, then fields.extra; one link (fields.batch_link); no status,
// no events; start = end = fields.time_unix_nano.
std::string BuildMessageSpan(const SpanRef& batch, const LinkRef& link, const MessageSpanFields& fields);

// Encodes spans as one ExportTraceServiceRequest, each span's bytes with its
// trace-id patch applied. Spans whose resource frames
// are byte-equal share one ResourceSpans, and within it spans whose scope
// frames are byte-equal share one ScopeSpans; groups keep first-seen order.
std::string EncodeTraceRequest(absl::Span<const OutputSpan> spans);

// Upper bound of what `span` (all spans of a run) adds to an encoded request
// beyond its frames (tag and length prefix included); for batch sizing.
size_t EncodedSpanSize(const OutputSpan& span);

}  // namespace gateway
