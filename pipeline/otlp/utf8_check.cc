#include "pipeline/otlp/utf8_check.h"

#include <cstdint>
#include <cstring>
#include <string_view>

#include "pipeline/otlp/trace_fields.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {

// Each multi-byte sequence is checked against the table of RFC 3629
// section 4; after it, ASCII runs are skipped a word at a time again.
bool utf8_internal::ValidateFrom(const uint8_t* p, const uint8_t* const end) {
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  while (p < end) {
    const uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      while (end - p >= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        if ((word & kHighBits) != 0) break;
        p += 8;
      }
      continue;
    }
    const ptrdiff_t left = end - p;
    if (c < 0xC2) return false;  // a continuation byte, or C0/C1 (overlong)
    if (c < 0xE0) {
      if (left < 2 || (p[1] & 0xC0) != 0x80) return false;
      p += 2;
      continue;
    }
    if (c < 0xF0) {
      if (left < 3) return false;
      // E0 A0..BF (no overlong), ED 80..9F (no surrogate), else 80..BF.
      const uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
      const uint8_t hi = c == 0xED ? 0x9F : 0xBF;
      if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80) return false;
      p += 3;
      continue;
    }
    if (c < 0xF5) {
      if (left < 4) return false;
      // F0 90..BF (no overlong), F4 80..8F (at most U+10FFFF), else 80..BF.
      const uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
      const uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
      if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return false;
      p += 4;
      continue;
    }
    return false;  // F5..FF
  }
  return true;
}

namespace {

// AnyValue nests through arrays and key/value lists. The request validator
// refuses anything deeper than 64 levels; past that the walk stops looking.
constexpr int kMaxDepth = 64;

constexpr uint32_t kAnyValueArray = 5;
constexpr uint32_t kAnyValueKvList = 6;
constexpr uint32_t kListValues = 1;  // ArrayValue.values and KeyValueList.values
constexpr uint32_t kEventName = 2;
constexpr uint32_t kEventAttributes = 3;
constexpr uint32_t kStatusMessage = 2;
constexpr uint32_t kResourceAttributes = 1;
constexpr uint32_t kScopeName = 1;
constexpr uint32_t kScopeVersion = 2;
constexpr uint32_t kScopeAttributes = 3;

// Calls fn(number, bytes) for each length-delimited field of `message`
// until fn returns true (found) or the bytes end or stop being well-formed.
template <typename Fn>
bool AnyLengthDelimited(std::string_view message, Fn&& fn) {
  WireReader reader(message);
  WireField f;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) return false;
    if (f.type == WireType::kLengthDelimited && fn(f.number, f.bytes)) return true;
  }
  return false;
}

bool KeyValueHasInvalid(std::string_view key_value, int depth);

bool AnyValueHasInvalid(std::string_view any_value, int depth) {
  if (depth > kMaxDepth) return false;
  return AnyLengthDelimited(any_value, [depth](uint32_t number, std::string_view bytes) {
    switch (number) {
      case kAnyValueString:
        return !IsValidUtf8(bytes);
      case kAnyValueArray:
        return AnyLengthDelimited(bytes, [depth](uint32_t n, std::string_view value) {
          return n == kListValues && AnyValueHasInvalid(value, depth + 1);
        });
      case kAnyValueKvList:
        return AnyLengthDelimited(bytes, [depth](uint32_t n, std::string_view kv) {
          return n == kListValues && KeyValueHasInvalid(kv, depth + 1);
        });
      default:
        return false;
    }
  });
}

bool KeyValueHasInvalid(std::string_view key_value, int depth) {
  if (depth > kMaxDepth) return false;
  return AnyLengthDelimited(key_value, [depth](uint32_t number, std::string_view bytes) {
    if (number == kKeyValueKey) return !IsValidUtf8(bytes);
    if (number == kKeyValueValue) return AnyValueHasInvalid(bytes, depth + 1);
    return false;
  });
}

// The first field of `message` that fn reports (by name), or nullptr.
template <typename Fn>
const char* FirstInvalid(std::string_view message, Fn&& fn) {
  const char* found = nullptr;
  AnyLengthDelimited(message, [&](uint32_t number, std::string_view bytes) {
    found = fn(number, bytes);
    return found != nullptr;
  });
  return found;
}

}  // namespace

const char* FindInvalidUtf8InSpan(std::string_view span) {
  return FirstInvalid(span, [](uint32_t number, std::string_view bytes) -> const char* {
    switch (number) {
      case kSpanName:
        return IsValidUtf8(bytes) ? nullptr : "name";
      case kSpanTraceState:
        return IsValidUtf8(bytes) ? nullptr : "trace_state";
      case kSpanAttributes:
        return KeyValueHasInvalid(bytes, 0) ? "attributes" : nullptr;
      case kSpanEvents:
        return FirstInvalid(bytes, [](uint32_t n, std::string_view b) -> const char* {
          if (n == kEventName) return IsValidUtf8(b) ? nullptr : "events.name";
          if (n == kEventAttributes) return KeyValueHasInvalid(b, 0) ? "events.attributes" : nullptr;
          return nullptr;
        });
      case kSpanLinks:
        return FirstInvalid(bytes, [](uint32_t n, std::string_view b) -> const char* {
          if (n == kLinkTraceState) return IsValidUtf8(b) ? nullptr : "links.trace_state";
          if (n == kLinkAttributes) return KeyValueHasInvalid(b, 0) ? "links.attributes" : nullptr;
          return nullptr;
        });
      case kSpanStatus:
        return FirstInvalid(bytes, [](uint32_t n, std::string_view b) -> const char* {
          return n == kStatusMessage && !IsValidUtf8(b) ? "status.message" : nullptr;
        });
      default:
        return nullptr;
    }
  });
}

const char* FindInvalidUtf8InResourceFrame(std::string_view frame) {
  return FirstInvalid(frame, [](uint32_t number, std::string_view bytes) -> const char* {
    if (number == kResourceSpansSchemaUrl) return IsValidUtf8(bytes) ? nullptr : "resource_spans.schema_url";
    if (number != kResourceSpansResource) return nullptr;
    return FirstInvalid(bytes, [](uint32_t n, std::string_view b) -> const char* {
      return n == kResourceAttributes && KeyValueHasInvalid(b, 0) ? "resource.attributes" : nullptr;
    });
  });
}

const char* FindInvalidUtf8InScopeFrame(std::string_view frame) {
  return FirstInvalid(frame, [](uint32_t number, std::string_view bytes) -> const char* {
    if (number == kScopeSpansSchemaUrl) return IsValidUtf8(bytes) ? nullptr : "scope_spans.schema_url";
    if (number != kScopeSpansScope) return nullptr;
    return FirstInvalid(bytes, [](uint32_t n, std::string_view b) -> const char* {
      if (n == kScopeName) return IsValidUtf8(b) ? nullptr : "scope.name";
      if (n == kScopeVersion) return IsValidUtf8(b) ? nullptr : "scope.version";
      if (n == kScopeAttributes) return KeyValueHasInvalid(b, 0) ? "scope.attributes" : nullptr;
      return nullptr;
    });
  });
}

}  // namespace gateway
