// The writers that change a scanned span without a protobuf decode: field
// replacement (RewriteSpan, or SpliceRewrite for the encoder to apply while
// copying), the trace-id patch, Link messages and synthetic per-message spans.
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

}  // namespace gateway
