// Field numbers of the OTLP trace messages the trace wire code reads and
// writes (ExportTraceServiceRequest down to Span.Link and KeyValue), and the
// encoded sizes and writer of its fixed-size fields. Internal to pipeline/otlp: shared
// by the scanner, the rewriter and the encoder.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pipeline/otlp/trace_ids.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {

// ExportTraceServiceRequest / ResourceSpans / ScopeSpans.
inline constexpr uint32_t kRequestResourceSpans = 1;
inline constexpr uint32_t kResourceSpansResource = 1;
inline constexpr uint32_t kResourceSpansScopeSpans = 2;
inline constexpr uint32_t kResourceSpansSchemaUrl = 3;
inline constexpr uint32_t kScopeSpansScope = 1;
inline constexpr uint32_t kScopeSpansSpans = 2;
inline constexpr uint32_t kScopeSpansSchemaUrl = 3;

// Span.
inline constexpr uint32_t kSpanTraceId = 1;
inline constexpr uint32_t kSpanSpanId = 2;
inline constexpr uint32_t kSpanTraceState = 3;
inline constexpr uint32_t kSpanParentSpanId = 4;
inline constexpr uint32_t kSpanName = 5;
inline constexpr uint32_t kSpanKind = 6;
inline constexpr uint32_t kSpanStartTime = 7;
inline constexpr uint32_t kSpanEndTime = 8;
inline constexpr uint32_t kSpanAttributes = 9;
inline constexpr uint32_t kSpanDroppedAttributes = 10;
inline constexpr uint32_t kSpanEvents = 11;
inline constexpr uint32_t kSpanDroppedEvents = 12;
inline constexpr uint32_t kSpanLinks = 13;
inline constexpr uint32_t kSpanDroppedLinks = 14;
inline constexpr uint32_t kSpanStatus = 15;
inline constexpr uint32_t kSpanFlags = 16;

// Span.Link.
inline constexpr uint32_t kLinkTraceId = 1;
inline constexpr uint32_t kLinkSpanId = 2;
inline constexpr uint32_t kLinkTraceState = 3;
inline constexpr uint32_t kLinkAttributes = 4;
inline constexpr uint32_t kLinkDroppedAttributes = 5;
inline constexpr uint32_t kLinkFlags = 6;

// KeyValue / AnyValue.
inline constexpr uint32_t kKeyValueKey = 1;
inline constexpr uint32_t kKeyValueValue = 2;
inline constexpr uint32_t kAnyValueString = 1;
inline constexpr uint32_t kAnyValueBool = 2;
inline constexpr uint32_t kAnyValueInt = 3;

inline constexpr size_t kTraceIdFieldSize = 2 + TraceId::kSize;  // tag, length, value
inline constexpr size_t kSpanIdFieldSize = 2 + SpanId::kSize;
inline constexpr size_t kFixed32FieldSize = 2 + 4;  // field 16 takes a two-byte tag

// Tag and little-endian value of fixed32 field `number` (flags), written at
// `p`; returns the byte after it.
inline char* WriteFixed32Field(char* p, uint32_t number, uint32_t value) {
  p = WriteTag(p, number, WireType::kFixed32);
  for (int i = 0; i < 4; ++i) *p++ = static_cast<char>(value >> (8 * i));
  return p;
}

}  // namespace gateway
