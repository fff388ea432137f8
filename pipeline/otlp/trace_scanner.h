// ScanTraceRequest: the zero-copy scanner of a serialized
// ExportTraceServiceRequest into the SpanRefs of span_ref.h.
//
// The scanner reads only what the reparenting engine needs (ids, kind, flags,
// links, which resource and scope a span belongs to) and skips the rest by
// length. Spans keep pointing into the received bytes; unknown fields survive
// because span bytes are copied, never re-serialized from a parsed message.
//
//   absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(std::move(body));
//   if (!scanned.ok()) return Invalid(scanned.status().message());
//   for (const SpanRef& span : scanned->spans) { ... span.trace_id ... }
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "pipeline/otlp/span_ref.h"

namespace gateway {

// Whether the scan looks for invalid UTF-8 span by span.
enum class Utf8Check {
  // Every string of every span, resource and scope (utf8_check.h); a span
  // with an invalid one, or under a resource or scope with one, is refused
  // alone (ScannedTraceRequest::invalid_utf8_spans). Walks every attribute.
  kPerSpan,
  // None: the caller knows every string is valid (ValidateExportRequest
  // with ValidationNotes found none), which is the common case.
  kSkip,
};

// Scans a serialized ExportTraceServiceRequest. Fails (InvalidArgument, with
// a message naming what and where) when the bytes are not a well-formed
// request: truncated, overlong varints, lengths past the end, wrong wire
// types for known fields, groups. Unknown fields are skipped and preserved.
absl::StatusOr<ScannedTraceRequest> ScanTraceRequest(std::string request, Utf8Check utf8 = Utf8Check::kPerSpan);

}  // namespace gateway
