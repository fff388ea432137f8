// The scanned view of an ExportTraceServiceRequest: spans as references into
// the received bytes, with the ids, kind, flags and links the reparenting
// engine reads, and the resource and scope frames spans are re-encoded under.
// ScanTraceRequest (trace_scanner.h) produces it; the engine, the rewriter and
// the encoder read it.
//
//   absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(std::move(body));
//   for (const SpanRef& span : scanned->spans) {
//     if (span.has_parent) Follow(span.trace_id, span.parent_span_id);
//     for (const LinkRef& link : span.links) if (link.valid) ...;
//   }
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  // zero, or because a string of theirs (or of their resource or scope) was
  // not valid UTF-8; reported to the client as partial_success.
  int64_t rejected_spans = 0;
  // Of rejected_spans, those refused for invalid UTF-8.
  int64_t invalid_utf8_spans = 0;
  std::string rejection_message;
};

}  // namespace gateway
