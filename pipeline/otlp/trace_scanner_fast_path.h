// The scanner's fast path for one span in the common encoding: one-byte
// tags (and the two-byte tag of flags), lengths below 16 KiB, one-byte
// varints, ids of the right length and not zero, at most kMaxFastLinks links.
// Internal to :trace_scanner, which takes its general path whenever
// ReadSpanFieldsFast says no.
//
//   FastSpanFields fields;
//   if (ReadSpanFieldsFast(begin, begin + message.size(), &fields)) ... fields.trace_id ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/base/attributes.h"
#include "pipeline/otlp/trace_fields.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway::trace_scanner_internal {

// `size` is 8 or 16.
inline bool NonZero(const uint8_t* p, size_t size) {
  uint64_t a = 0;
  uint64_t b = 0;
  std::memcpy(&a, p, 8);
  if (size > 8) std::memcpy(&b, p + 8, 8);
  return (a | b) != 0;
}

inline constexpr uint32_t kMaxFastLinks = 16;

// What ReadSpanFieldsFast finds: pointers into the span's bytes.
struct FastSpanFields {
  const uint8_t* trace_id = nullptr;
  const uint8_t* span_id = nullptr;
  const uint8_t* parent_span_id = nullptr;
  std::string_view name;
  uint32_t flags = 0;
  SpanKind kind = SpanKind::kUnspecified;
  uint64_t end_time = 0;
  uint32_t link_count = 0;
  // Each link's message (value bytes): start and length. Only the first
  // link_count are set (no zero-fill of the rest per span).
  struct LinkBytes {
    const uint8_t* data;
    size_t size;
  } links[kMaxFastLinks];
};

// The field walk of the scanner's fast path: reads [p, end) into `out` and
// nothing else (no calls, no writes outside `out`, so the walk's state stays
// in registers). False when the span is not in the common encoding. Always
// inlined into its one caller, the scanner's per-span loop.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool ReadSpanFieldsFast(const uint8_t* p, const uint8_t* const end,
                                                            FastSpanFields* out) {
  const uint8_t* trace_id = nullptr;
  const uint8_t* span_id = nullptr;
  const uint8_t* parent_span_id = nullptr;
  uint32_t link_count = 0;
  while (p < end) {
    const uint8_t tag = *p++;
    switch (tag) {
      case MakeTag(kSpanTraceId, WireType::kLengthDelimited):
      case MakeTag(kSpanSpanId, WireType::kLengthDelimited):
      case MakeTag(kSpanTraceState, WireType::kLengthDelimited):
      case MakeTag(kSpanParentSpanId, WireType::kLengthDelimited):
      case MakeTag(kSpanName, WireType::kLengthDelimited):
      case MakeTag(kSpanAttributes, WireType::kLengthDelimited):
      case MakeTag(kSpanEvents, WireType::kLengthDelimited):
      case MakeTag(kSpanLinks, WireType::kLengthDelimited):
      case MakeTag(kSpanStatus, WireType::kLengthDelimited): {
        size_t length = 0;
        if (!ReadShortLength(&p, end, &length)) return false;
        switch (tag) {
          case MakeTag(kSpanTraceId, WireType::kLengthDelimited):
            if (length != TraceId::kSize) return false;
            trace_id = p;
            break;
          case MakeTag(kSpanSpanId, WireType::kLengthDelimited):
            if (length != SpanId::kSize) return false;
            span_id = p;
            break;
          case MakeTag(kSpanParentSpanId, WireType::kLengthDelimited):
            if (length != SpanId::kSize) return false;
            parent_span_id = p;
            break;
          case MakeTag(kSpanName, WireType::kLengthDelimited):
            out->name = std::string_view(reinterpret_cast<const char*>(p), length);
            break;
          case MakeTag(kSpanLinks, WireType::kLengthDelimited):
            if (link_count == kMaxFastLinks) return false;
            out->links[link_count++] = {p, length};
            break;
          default:
            break;
        }
        p += length;
        break;
      }
      case MakeTag(kSpanKind, WireType::kVarint):
        if (p == end || *p >= 0x80) return false;
        out->kind = static_cast<SpanKind>(static_cast<int32_t>(*p++));
        break;
      case MakeTag(kSpanDroppedAttributes, WireType::kVarint):
      case MakeTag(kSpanDroppedEvents, WireType::kVarint):
      case MakeTag(kSpanDroppedLinks, WireType::kVarint):
        if (p == end || *p >= 0x80) return false;
        ++p;
        break;
      case MakeTag(kSpanStartTime, WireType::kFixed64):
        if (end - p < 8) return false;
        p += 8;
        break;
      case MakeTag(kSpanEndTime, WireType::kFixed64): {
        if (end - p < 8) return false;
        uint64_t v;
        std::memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
#endif
        out->end_time = v;
        p += 8;
        break;
      }
      case MakeTag(kSpanFlags, WireType::kFixed32) & 0xff:
        // Field 16 takes two tag bytes: 0x85 0x01.
        if (end - p < 5 || *p != (MakeTag(kSpanFlags, WireType::kFixed32) >> 7)) return false;
        out->flags = static_cast<uint32_t>(p[1]) | static_cast<uint32_t>(p[2]) << 8 |
                     static_cast<uint32_t>(p[3]) << 16 | static_cast<uint32_t>(p[4]) << 24;
        p += 5;
        break;
      default:
        return false;
    }
  }
  if (trace_id == nullptr || span_id == nullptr || !NonZero(trace_id, TraceId::kSize) ||
      !NonZero(span_id, SpanId::kSize)) {
    return false;
  }
  out->trace_id = trace_id;
  out->span_id = span_id;
  out->parent_span_id = parent_span_id;
  out->link_count = link_count;
  return true;
}

}  // namespace gateway::trace_scanner_internal
