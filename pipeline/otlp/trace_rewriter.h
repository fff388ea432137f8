// The writers that change a received span without a protobuf decode: field
// replacement (RewriteSpan, or SpliceRewrite for the encoder to apply while
// copying) and the trace-id patch. Everything not replaced is copied byte for
// byte, unknown fields included. New messages (links, fan-out spans) are
// trace_encoder.h's.
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
#include <vector>

#include "pipeline/otlp/extra_attribute.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

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

}  // namespace gateway
