// Zero-copy view of an ExportTraceServiceRequest on the protobuf wire, and the
// writers that patch spans and re-encode requests without a protobuf decode.
//
// The scanner reads only what the reparenting engine needs (ids, kind, flags,
// links, which resource and scope a span belongs to) and skips the rest by
// length. Spans keep pointing into the received bytes; unknown fields survive
// because span bytes are copied, never re-serialized from a parsed message.
//
//   absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(std::move(body));
//   if (!scanned.ok()) return Invalid(scanned.status().message());
//   for (const SpanRef& span : scanned->spans) { ... span.trace_id ... }
//
//   OutputSpan out = OutputSpan::Unchanged(span, scanned->buffer);
//   out.rewritten = PatchTraceId(span, new_trace);        // a descendant moves
//   std::string body = EncodeTraceRequest(outputs);       // one request again
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

struct LinkRef {
  TraceId trace_id;
  SpanId span_id;
  std::string_view trace_state;
  uint32_t flags = 0;
  // The whole Link message (value bytes, without tag and length).
  std::string_view message;
  // trace_id and span_id had their proper lengths (16 and 8) and are not zero.
  bool valid = false;
};

// The received bytes plus the resource and scope "frames" that spans are
// re-encoded under. A frame is every field of a ResourceSpans other than
// scope_spans (resp. of a ScopeSpans other than spans), as wire bytes with
// their tags, in their original order: resource, schema_url, unknown fields.
// Immutable once scanned; shared by all SpanRefs of the request.
struct RequestBuffer {
  std::string bytes;
  std::vector<std::string> resource_frames;
  std::vector<std::string> scope_frames;
  // scope_resource[i] is the index into resource_frames of scope_frames[i].
  std::vector<uint32_t> scope_resource;
  // The links of all spans; SpanRef::links are views into it.
  std::vector<LinkRef> links;
  // Set by the pipeline right after scanning, before the spans reach another
  // thread, when the request is in the persistent queue: its destructor
  // acknowledges the record. Every export request that carries spans of this
  // buffer keeps a reference until it is done (TraceBatcher), so the record
  // is acknowledged only when all its spans are delivered or given up.
  mutable std::shared_ptr<void> completion;
  // Set by the pipeline right after scanning: holds the request's bytes in
  // the admission budget (MemoryBudget) until the buffer is destroyed, i.e.
  // until no span of it is queued, held or waiting to be encoded any more.
  mutable std::shared_ptr<void> admission;
};


struct SpanRef {
  // The request the span was scanned from. Not owning (no reference count
  // per span): ScannedTraceRequest::buffer keeps it alive, and whoever keeps
  // a span longer (a held span, an OutputSpan) takes a reference of its own.
  const RequestBuffer* buffer = nullptr;
  // The Span message inside buffer->bytes (value bytes, without tag and length).
  std::string_view message;
  // Span.name (field 5, last occurrence), a view into `message`; empty when absent.
  std::string_view name;
  // Index into buffer->scope_frames.
  uint32_t scope_index = 0;

  TraceId trace_id;
  SpanId span_id;
  // Valid only when has_parent.
  SpanId parent_span_id;
  bool has_parent = false;
  uint32_t flags = 0;
  SpanKind kind = SpanKind::kUnspecified;
  uint64_t end_time_unix_nano = 0;
  // In the order the span lists them; views into buffer->links.
  absl::Span<const LinkRef> links;

  // Offset within `message` of the 16 value bytes of the (last) trace_id
  // field, for PatchTraceId.
  uint32_t trace_id_offset = 0;

  // Parent is known to be in another process (flags has both is-remote bits).
  bool parent_is_remote() const {
    return (flags & (kSpanFlagsHasIsRemote | kSpanFlagsIsRemote)) ==
           (kSpanFlagsHasIsRemote | kSpanFlagsIsRemote);
  }
};

struct ScannedTraceRequest {
  std::shared_ptr<const RequestBuffer> buffer;
  std::vector<SpanRef> spans;
  // Spans left out because their ids were missing, of the wrong length or
  // zero; reported to the client as partial_success.
  int64_t rejected_spans = 0;
  std::string rejection_message;
};

// Scans a serialized ExportTraceServiceRequest. Fails (InvalidArgument, with
// a message naming what and where) when the bytes are not a well-formed
// request: truncated, overlong varints, lengths past the end, wrong wire
// types for known fields, groups. Unknown fields are skipped and preserved.
absl::StatusOr<ScannedTraceRequest> ScanTraceRequest(std::string request);

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
struct OutputSpan;
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

// One span on its way out, or a run of unchanged spans that were
// consecutive in one received ScopeSpans (see `run`).
struct OutputSpan {
  // Keeps the frames (and, when unchanged, the span bytes) alive.
  std::shared_ptr<const RequestBuffer> buffer;
  uint32_t scope_index = 0;
  // Spliced only: bytes of `original` cut out, in all.
  uint32_t cut_bytes = 0;
  // The original bytes; used when `rewritten` is empty.
  std::string_view original;
  std::string rewritten;
  // The oldest end time of its span(s); 0 when none is known.
  uint64_t end_time_unix_nano = 0;
  // When set, `original` is span_count whole `spans` fields (tag, length,
  // message) exactly as received, back to back in one ScopeSpans, and
  // EncodeTraceRequest copies them in one piece. Unchanged spans only (no
  // `rewritten`, no patch). AppendUnchanged builds runs; TakeRunPrefix splits
  // them.
  bool run = false;
  // When set (SpliceRewrite: a rewritten target), the span's bytes are
  // `original` without cut_count byte ranges (cut(i): offsets into
  // `original`, ascending, disjoint; cut_bytes in all) followed by added(),
  // and EncodeTraceRequest writes them so, from the received bytes. The
  // ranges are kept after the added fields at the end of `rewritten`, which
  // keeps this struct small. Never with a run or a trace-id patch.
  bool spliced = false;
  uint8_t cut_count = 0;
  uint32_t span_count = 1;
  // When set, EncodeTraceRequest writes this id over the 16 bytes at
  // trace_id_offset of bytes() (what PatchTraceId would produce, without a
  // copy of the span): a descendant moved with its consumer.
  std::optional<TraceId> patched_trace_id;
  uint32_t trace_id_offset = 0;

  static constexpr size_t kMaxCuts = 8;
  static constexpr size_t kCutSize = 2 * sizeof(uint32_t);

  // The span's bytes, before the trace-id patch (if any). Not for a spliced
  // span (its bytes are in two places); size() is.
  std::string_view bytes() const { return rewritten.empty() ? original : std::string_view(rewritten); }
  // The size of the span's (run's) bytes.
  size_t size() const {
    return spliced ? original.size() - cut_bytes + rewritten.size() - kCutSize * cut_count : bytes().size();
  }
  // Spliced only: the fields written after the kept bytes, and the ranges cut.
  std::string_view added() const { return std::string_view(rewritten.data(), rewritten.size() - kCutSize * cut_count); }
  std::pair<uint32_t, uint32_t> cut(size_t i) const {
    uint32_t range[2];
    std::memcpy(range, rewritten.data() + rewritten.size() - kCutSize * (cut_count - i), kCutSize);
    return {range[0], range[1]};
  }

  // `buffer` is span.buffer's owner (ScannedTraceRequest::buffer).
  static OutputSpan Unchanged(const SpanRef& span, std::shared_ptr<const RequestBuffer> buffer) {
    OutputSpan out;
    out.buffer = std::move(buffer);
    out.scope_index = span.scope_index;
    out.original = span.message;
    out.end_time_unix_nano = span.end_time_unix_nano;
    return out;
  }
};

// Appends `span` to `out` unchanged: when the last output is unchanged and
// `span`'s field directly follows it in the same received ScopeSpans (both in
// the canonical encoding: a one-byte tag and a minimal length), the last
// output grows into a run instead of a new OutputSpan being added (no
// reference taken); otherwise the new OutputSpan takes a reference to
// `buffer`, span.buffer's owner.
void AppendUnchanged(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                     std::vector<OutputSpan>* out);

// Splits off the first spans of a run: at most `max_spans` and at most
// `max_bytes` of fields (at least one span whatever `max_bytes`, none when
// max_spans is 0). `run` keeps the rest. Both parts keep the run's end time,
// which is then a lower bound. Undefined for an OutputSpan that is not a run.
OutputSpan TakeRunPrefix(OutputSpan* run, uint32_t max_spans, size_t max_bytes);

// Encodes spans as one ExportTraceServiceRequest, each span's bytes with its
// trace-id patch applied. Spans whose resource frames
// are byte-equal share one ResourceSpans, and within it spans whose scope
// frames are byte-equal share one ScopeSpans; groups keep first-seen order.
std::string EncodeTraceRequest(absl::Span<const OutputSpan> spans);

// Upper bound of what `span` (all spans of a run) adds to an encoded request
// beyond its frames (tag and length prefix included); for batch sizing.
size_t EncodedSpanSize(const OutputSpan& span);

}  // namespace gateway
