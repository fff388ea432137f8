// The writers that change a scanned span without a protobuf decode: field
// replacement (RewriteSpan, or SpliceRewrite for the encoder to apply while
// copying), the trace-id patch, Link messages and synthetic fan-out spans.
// Everything not replaced is copied byte for byte, unknown fields included.
//
//   SpanRewrite rewrite;
//   rewrite.trace_id = link.trace_id;
//   rewrite.parent_span_id = link.span_id;
//   std::string bytes = RewriteSpan(span, rewrite);          // a new Span message
//   SpliceRewrite(span, rewrite, &out);                       // or spliced on encode
//   std::string moved = PatchTraceId(span, new_trace);        // a descendant moves
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

// An attribute the gateway adds to a span or link.
struct ExtraAttribute {
  std::string key;
  std::variant<std::string, bool, int64_t> value;
};

// What to change in a span. Unset fields keep the original bytes.
struct SpanRewrite {
  std::optional<TraceId> trace_id;
  std::optional<SpanId> parent_span_id;
  // Replaces trace_state; an empty string removes it.
  std::optional<std::string> trace_state;
  std::optional<uint32_t> flags;
  // Index into SpanRef::links of a link to drop, or -1.
  int remove_link = -1;
  // Serialized Link messages (value bytes) to append, from EncodeLink.
  std::vector<std::string> extra_links;
  std::vector<ExtraAttribute> extra_attributes;
};

// The span's message bytes with `rewrite` applied: replaced fields are
// written in place of the originals, everything else is copied byte for byte.
std::string RewriteSpan(const SpanRef& span, const SpanRewrite& rewrite);

// The same as an OutputSpan that EncodeTraceRequest writes straight from
// the received bytes (no copy of the span here): sets `out->original` to the
// span's message, `out->rewritten` to the fields that replace and add to it,
// and its cuts to the fields it drops. `out` keeps its buffer (made by
// OutputSpan::Unchanged(span, ...)). A span with more than kMaxCuts fields
// to drop (fields repeated on the wire) gets RewriteSpan's bytes instead.
void SpliceRewrite(const SpanRef& span, const SpanRewrite& rewrite, OutputSpan* out);

// The span's message bytes with only trace_id replaced (same length, so a
// copy and a 16-byte patch).
std::string PatchTraceId(const SpanRef& span, const TraceId& trace_id);

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

}  // namespace gateway
