// The request validator's fast path for scopes of spans, spans and
// attributes in the common encoding: one-byte tags (and the two-byte tag of
// flags), lengths below 16 KiB, attributes holding a string, bool, int,
// double or bytes. Internal to :otlp_wire (otlp_validate.cc), which runs
// its schema-table check whenever IsPlainScopeSpans, IsPlainSpan or
// IsPlainKeyValue says no.
//
//   if (IsPlainSpan(begin, begin + span.size(), check_utf8)) ... accepted ...
//
// Each function here is true only when the schema-table check would accept
// the same bytes (and, with `check_utf8`, find every string valid UTF-8);
// false means "not this shape", never "invalid": the general check then
// decides, names the problem and notes invalid UTF-8. So this path needs no
// error reporting, builds no absl::Status and calls nothing on the common
// path: one loop per message, state in registers, as the trace scanner's
// fast path (trace_scanner_fast_path.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/base/attributes.h"
#include "pipeline/otlp/utf8_check.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway::otlp_validate_internal {

// A string field's bytes: valid UTF-8, or not asked.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool StringOk(const uint8_t* p, size_t size, bool check_utf8) {
  return !check_utf8 || IsValidUtf8(std::string_view(reinterpret_cast<const char*>(p), size));
}

// Steps over a varint as WireReader::ReadVarint accepts one; the one-byte
// case without a call.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool StepVarint(const uint8_t** p, const uint8_t* end) {
  if (*p != end && **p < 0x80) {
    ++*p;
    return true;
  }
  return SkipVarint(p, end);
}

// Steps over `size` bytes of a fixed-size value.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool StepFixed(const uint8_t** p, const uint8_t* end, size_t size) {
  if (static_cast<size_t>(end - *p) < size) return false;
  *p += size;
  return true;
}

// A KeyValue of a key and an AnyValue holding a string, bool, int, double
// or bytes (the usual attribute). Arrays, key/value lists and unknown
// fields are left to the general check.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool IsPlainKeyValue(const uint8_t* p, const uint8_t* const end,
                                                         bool check_utf8) {
  // Most attributes are a key and a string or int value, one-byte lengths:
  //   0a <klen> key 12 <vlen> 0a <slen> string     (vlen == slen + 2)
  //   0a <klen> key 12 <vlen> 18 <varint>
  // Every byte of the first but the two strings' is below 0x80, so one
  // ASCII check from the key to the end covers both strings; no dispatch
  // per field. Anything else, a non-ASCII string included, takes the loop.
  const size_t size = static_cast<size_t>(end - p);
  if (size >= 6 && p[0] == MakeTag(1, WireType::kLengthDelimited) && p[1] < 0x80 && p[1] + 6u <= size) {
    const uint8_t* const q = p + 2 + p[1];
    if (q[0] == MakeTag(2, WireType::kLengthDelimited) && q[1] < 0x80 && q + 2 + q[1] == end) {
      if (q[2] == MakeTag(1, WireType::kLengthDelimited) && q[3] < 0x80 && q[1] == q[3] + 2 &&
          (!check_utf8 || IsAscii(std::string_view(reinterpret_cast<const char*>(p + 2), size - 2)))) {
        return true;
      }
      const uint8_t* v = q + 3;
      if (q[2] == MakeTag(3, WireType::kVarint) && StepVarint(&v, end) && v == end &&
          StringOk(p + 2, p[1], check_utf8)) {
        return true;
      }
    }
  }
  while (p < end) {
    const uint8_t tag = *p++;
    size_t length = 0;
    if (!ReadShortLength(&p, end, &length)) return false;
    if (tag == MakeTag(1, WireType::kLengthDelimited)) {  // key
      if (!StringOk(p, length, check_utf8)) return false;
      p += length;
      continue;
    }
    if (tag != MakeTag(2, WireType::kLengthDelimited)) return false;  // value
    const uint8_t* value = p;
    p += length;
    while (value < p) {
      switch (*value++) {
        case MakeTag(1, WireType::kLengthDelimited): {  // string_value
          size_t n = 0;
          if (!ReadShortLength(&value, p, &n) || !StringOk(value, n, check_utf8)) return false;
          value += n;
          break;
        }
        case MakeTag(7, WireType::kLengthDelimited): {  // bytes_value
          size_t n = 0;
          if (!ReadShortLength(&value, p, &n)) return false;
          value += n;
          break;
        }
        case MakeTag(2, WireType::kVarint):  // bool_value
        case MakeTag(3, WireType::kVarint):  // int_value
          if (!StepVarint(&value, p)) return false;
          break;
        case MakeTag(4, WireType::kFixed64):  // double_value
          if (!StepFixed(&value, p, 8)) return false;
          break;
        default:
          return false;
      }
    }
  }
  return true;
}

// Span.Event: time, name, plain attributes, dropped count.
inline bool IsPlainEvent(const uint8_t* p, const uint8_t* const end, bool check_utf8) {
  while (p < end) {
    const uint8_t tag = *p++;
    switch (tag) {
      case MakeTag(1, WireType::kFixed64):  // time_unix_nano
        if (!StepFixed(&p, end, 8)) return false;
        break;
      case MakeTag(4, WireType::kVarint):  // dropped_attributes_count
        if (!StepVarint(&p, end)) return false;
        break;
      case MakeTag(2, WireType::kLengthDelimited):    // name
      case MakeTag(3, WireType::kLengthDelimited): {  // attributes
        size_t length = 0;
        if (!ReadShortLength(&p, end, &length)) return false;
        if (tag == MakeTag(2, WireType::kLengthDelimited) ? !StringOk(p, length, check_utf8)
                                                          : !IsPlainKeyValue(p, p + length, check_utf8)) {
          return false;
        }
        p += length;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

// Span.Link: ids, trace_state, plain attributes, dropped count, flags.
inline bool IsPlainLink(const uint8_t* p, const uint8_t* const end, bool check_utf8) {
  while (p < end) {
    const uint8_t tag = *p++;
    switch (tag) {
      case MakeTag(5, WireType::kVarint):  // dropped_attributes_count
        if (!StepVarint(&p, end)) return false;
        break;
      case MakeTag(6, WireType::kFixed32):  // flags
        if (!StepFixed(&p, end, 4)) return false;
        break;
      case MakeTag(1, WireType::kLengthDelimited):    // trace_id
      case MakeTag(2, WireType::kLengthDelimited):    // span_id
      case MakeTag(3, WireType::kLengthDelimited):    // trace_state
      case MakeTag(4, WireType::kLengthDelimited): {  // attributes
        size_t length = 0;
        if (!ReadShortLength(&p, end, &length)) return false;
        if (tag == MakeTag(3, WireType::kLengthDelimited) && !StringOk(p, length, check_utf8)) return false;
        if (tag == MakeTag(4, WireType::kLengthDelimited) && !IsPlainKeyValue(p, p + length, check_utf8)) {
          return false;
        }
        p += length;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

// Status: message and code.
inline bool IsPlainStatus(const uint8_t* p, const uint8_t* const end, bool check_utf8) {
  while (p < end) {
    const uint8_t tag = *p++;
    if (tag == MakeTag(3, WireType::kVarint)) {  // code
      if (!StepVarint(&p, end)) return false;
      continue;
    }
    if (tag != MakeTag(2, WireType::kLengthDelimited)) return false;  // message
    size_t length = 0;
    if (!ReadShortLength(&p, end, &length) || !StringOk(p, length, check_utf8)) return false;
    p += length;
  }
  return true;
}

// A Span (value bytes) whose every field is known and in the common
// encoding, with plain attributes, events, links and status.
inline bool IsPlainSpan(const uint8_t* p, const uint8_t* const end, bool check_utf8) {
  while (p < end) {
    const uint8_t tag = *p++;
    switch (tag) {
      case MakeTag(6, WireType::kVarint):   // kind
      case MakeTag(10, WireType::kVarint):  // dropped_attributes_count
      case MakeTag(12, WireType::kVarint):  // dropped_events_count
      case MakeTag(14, WireType::kVarint):  // dropped_links_count
        if (!StepVarint(&p, end)) return false;
        break;
      case MakeTag(7, WireType::kFixed64):  // start_time_unix_nano
      case MakeTag(8, WireType::kFixed64):  // end_time_unix_nano
        if (!StepFixed(&p, end, 8)) return false;
        break;
      case MakeTag(16, WireType::kFixed32) & 0xff:  // flags: 0x85 0x01
        if (p == end || *p != (MakeTag(16, WireType::kFixed32) >> 7)) return false;
        if (!StepFixed(&p, end, 5)) return false;
        break;
      case MakeTag(1, WireType::kLengthDelimited):  // trace_id
      case MakeTag(2, WireType::kLengthDelimited):  // span_id
      case MakeTag(4, WireType::kLengthDelimited): {  // parent_span_id
        size_t length = 0;
        if (!ReadShortLength(&p, end, &length)) return false;
        p += length;
        break;
      }
      case MakeTag(3, WireType::kLengthDelimited):    // trace_state
      case MakeTag(5, WireType::kLengthDelimited): {  // name
        size_t length = 0;
        if (!ReadShortLength(&p, end, &length) || !StringOk(p, length, check_utf8)) return false;
        p += length;
        break;
      }
      case MakeTag(9, WireType::kLengthDelimited): {  // attributes
        size_t length = 0;
        if (!ReadShortLength(&p, end, &length) || !IsPlainKeyValue(p, p + length, check_utf8)) return false;
        p += length;
        break;
      }
      case MakeTag(11, WireType::kLengthDelimited):  // events
      case MakeTag(13, WireType::kLengthDelimited):  // links
      case MakeTag(15, WireType::kLengthDelimited): {  // status
        size_t length = 0;
        if (!ReadShortLength(&p, end, &length)) return false;
        const bool ok = tag == MakeTag(11, WireType::kLengthDelimited)   ? IsPlainEvent(p, p + length, check_utf8)
                        : tag == MakeTag(13, WireType::kLengthDelimited) ? IsPlainLink(p, p + length, check_utf8)
                                                                         : IsPlainStatus(p, p + length, check_utf8);
        if (!ok) return false;
        p += length;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

// InstrumentationScope: name, version, plain attributes, dropped count.
inline bool IsPlainScope(const uint8_t* p, const uint8_t* const end, bool check_utf8) {
  while (p < end) {
    const uint8_t tag = *p++;
    if (tag == MakeTag(4, WireType::kVarint)) {  // dropped_attributes_count
      if (!StepVarint(&p, end)) return false;
      continue;
    }
    size_t length = 0;
    if (!ReadShortLength(&p, end, &length)) return false;
    switch (tag) {
      case MakeTag(1, WireType::kLengthDelimited):  // name
      case MakeTag(2, WireType::kLengthDelimited):  // version
        if (!StringOk(p, length, check_utf8)) return false;
        break;
      case MakeTag(3, WireType::kLengthDelimited):  // attributes
        if (!IsPlainKeyValue(p, p + length, check_utf8)) return false;
        break;
      default:
        return false;
    }
    p += length;
  }
  return true;
}

// A ScopeSpans (value bytes) of plain spans: the per-span step of the
// general check (field read, schema lookup, wire type) is the larger part
// of a span's cost once the span itself is checked in one loop. A scope
// with one span that is not plain is checked again by the general check,
// which takes IsPlainSpan for each of its other spans.
inline bool IsPlainScopeSpans(const uint8_t* p, const uint8_t* const end, bool check_utf8) {
  while (p < end) {
    const uint8_t tag = *p++;
    size_t length = 0;
    if (!ReadShortLength(&p, end, &length)) return false;
    bool ok = false;
    switch (tag) {
      case MakeTag(2, WireType::kLengthDelimited):  // spans
        ok = IsPlainSpan(p, p + length, check_utf8);
        break;
      case MakeTag(1, WireType::kLengthDelimited):  // scope
        ok = IsPlainScope(p, p + length, check_utf8);
        break;
      case MakeTag(3, WireType::kLengthDelimited):  // schema_url
        ok = StringOk(p, length, check_utf8);
        break;
      default:
        break;
    }
    if (!ok) return false;
    p += length;
  }
  return true;
}

}  // namespace gateway::otlp_validate_internal
