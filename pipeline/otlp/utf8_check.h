// UTF-8 checks of the string fields of OTLP messages, on the wire bytes.
//
// Dynatrace refuses a whole export request (400) when any string in it is
// not valid UTF-8, as libprotobuf does for proto3 `string` fields. The trace
// scanner uses these checks to refuse such a span alone at ingest.
//
//   if (!IsValidUtf8(bytes)) ...
//   if (const char* field = FindInvalidUtf8InSpan(span.message)) Refuse(span, field);
//
// The Find* functions return the name of the first offending field (a static
// string such as "attributes" or "events.attributes"), or nullptr when every
// string they know of is valid. They read only what they look for: bytes
// that are not well-formed protobuf are left to the request validator
// (ValidateExportRequest) and reported as "no invalid UTF-8 found".
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace gateway {

namespace utf8_internal {
// The full check of [p, end).
bool ValidateFrom(const uint8_t* p, const uint8_t* end);
}  // namespace utf8_internal

// No byte >= 0x80 (so valid UTF-8). The bytes are OR-ed together and their
// high bits tested once, with no branch per block: on x86-64, 64 bytes a
// step into four independent SSE2 registers (so the ORs do not wait on each
// other), then 16 at a time, then the last 16 again (overlapping what was
// read); elsewhere, and for strings under 16 bytes, 8 bytes a step.
inline bool IsAscii(std::string_view bytes) {
  const char* const data = bytes.data();
  const size_t size = bytes.size();
#if defined(__SSE2__)
  if (size >= 16) {
    const auto load = [data](size_t at) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + at)); };
    __m128i a = _mm_setzero_si128();
    __m128i b = a;
    __m128i c = a;
    __m128i d = a;
    size_t i = 0;
    for (; i + 64 <= size; i += 64) {
      a = _mm_or_si128(a, load(i));
      b = _mm_or_si128(b, load(i + 16));
      c = _mm_or_si128(c, load(i + 32));
      d = _mm_or_si128(d, load(i + 48));
    }
    for (; i + 16 <= size; i += 16) a = _mm_or_si128(a, load(i));
    a = _mm_or_si128(a, load(size - 16));
    return _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))) == 0;
  }
#endif
  uint64_t high = 0;
  if (size >= 8) {
    for (size_t i = 0; i + 8 <= size; i += 8) {
      uint64_t word;
      std::memcpy(&word, data + i, 8);
      high |= word;
    }
    uint64_t last;  // the tail, overlapping what was read
    std::memcpy(&last, data + size - 8, 8);
    high |= last;
  } else if (size >= 4) {
    uint32_t first;
    uint32_t last;
    std::memcpy(&first, data, 4);
    std::memcpy(&last, data + size - 4, 4);
    high = first | last;
  } else if (size > 0) {
    high = static_cast<uint8_t>(data[0]) | static_cast<uint8_t>(data[size / 2]) |
           static_cast<uint8_t>(data[size - 1]);
  }
  return (high & 0x8080808080808080ULL) == 0;
}

// Well-formed UTF-8 as RFC 3629 defines it: no overlong forms, no
// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
// sequence. Inline, the ASCII check; only a string with a byte >= 0x80
// goes to the full check.
inline bool IsValidUtf8(std::string_view bytes) {
  if (IsAscii(bytes)) return true;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  return utf8_internal::ValidateFrom(p, p + bytes.size());
}

// A Span message (value bytes): name, trace_state, attribute keys and string
// values (nested array and key/value list values included), event names and
// attributes, link trace_state and attributes, status message.
const char* FindInvalidUtf8InSpan(std::string_view span);

// A resource frame (the fields of a ResourceSpans other than scope_spans, as
// in RequestBuffer::resource_frames): resource attributes and schema_url.
const char* FindInvalidUtf8InResourceFrame(std::string_view frame);

// A scope frame (the fields of a ScopeSpans other than spans): scope name,
// version and attributes, and schema_url.
const char* FindInvalidUtf8InScopeFrame(std::string_view frame);

}  // namespace gateway
