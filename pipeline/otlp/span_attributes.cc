#include "pipeline/otlp/span_attributes.h"

#include "pipeline/otlp/trace_fields.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

// The KeyValue's key and its AnyValue bytes; false when malformed.
bool ReadKeyValue(std::string_view message, std::string_view* key, std::string_view* value, bool* has_value) {
  WireReader reader(message);
  WireField f;
  *has_value = false;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) return false;
    if (f.type != WireType::kLengthDelimited) continue;
    if (f.number == kKeyValueKey) *key = f.bytes;
    if (f.number == kKeyValueValue) {
      *value = f.bytes;
      *has_value = true;
    }
  }
  return true;
}

// The string held by an AnyValue; false for any other type.
bool AnyValueString(std::string_view any, std::string_view* out) {
  WireReader reader(any);
  WireField f;
  bool found = false;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) return false;
    if (f.number == kAnyValueString && f.type == WireType::kLengthDelimited) {
      *out = f.bytes;
      found = true;
    } else {
      found = false;  // a later oneof member wins
    }
  }
  return found;
}

// Finds attribute `key` among the `field` fields of `message`: sets *any to
// its AnyValue bytes (empty when it has none).
bool FindAttribute(std::string_view message, uint32_t field, std::string_view key, std::string_view* any) {
  WireReader reader(message);
  WireField f;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) return false;
    if (f.number != field || f.type != WireType::kLengthDelimited) continue;
    std::string_view k;
    std::string_view v;
    bool has_value = false;
    if (!ReadKeyValue(f.bytes, &k, &v, &has_value)) return false;
    if (k == key) {
      *any = has_value ? v : std::string_view();
      return true;
    }
  }
  return false;
}

}  // namespace

bool SpanStringAttribute(const SpanRef& span, std::string_view key, std::string_view* value) {
  std::string_view any;
  return FindAttribute(span.message, kSpanAttributes, key, &any) && AnyValueString(any, value);
}

bool LinkStringAttribute(const LinkRef& link, std::string_view key, std::string_view* value) {
  std::string_view any;
  return FindAttribute(link.message, kLinkAttributes, key, &any) && AnyValueString(any, value);
}

bool LinkHasAttribute(const LinkRef& link, std::string_view key) {
  std::string_view any;
  return FindAttribute(link.message, kLinkAttributes, key, &any);
}

uint64_t SpanStartTime(const SpanRef& span) {
  WireReader reader(span.message);
  WireField f;
  uint64_t start = 0;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) break;
    if (f.number == kSpanStartTime && f.type == WireType::kFixed64) start = f.scalar;
  }
  return start;
}

}  // namespace gateway
