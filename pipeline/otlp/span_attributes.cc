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

namespace {

// Records KeyValue `key_value` in FindLinkAttributes' result if its key is
// one of `keys` not found yet; false when it is malformed.
bool NoteKeyValue(std::string_view key_value, absl::Span<const std::string_view> keys, std::string_view* values,
                  uint32_t* found) {
  std::string_view key;
  std::string_view any;
  bool has_value = false;
  // The common encoding: the key first, a short length.
  const auto* p = reinterpret_cast<const uint8_t*>(key_value.data());
  const uint8_t* const end = p + key_value.size();
  size_t length = 0;
  if (p < end && *p == MakeTag(kKeyValueKey, WireType::kLengthDelimited) && (++p, ReadShortLength(&p, end, &length))) {
    key = std::string_view(reinterpret_cast<const char*>(p), length);
    bool wanted = false;
    for (size_t i = 0; i < keys.size() && i < 32; ++i) wanted |= keys[i].size() == key.size();
    if (!wanted) return true;  // no key of that length is asked for
  }
  if (!ReadKeyValue(key_value, &key, &any, &has_value)) return false;
  for (size_t i = 0; i < keys.size() && i < 32; ++i) {
    if ((*found & (uint32_t{1} << i)) != 0 || key != keys[i]) continue;
    *found |= uint32_t{1} << i;
    std::string_view value;
    values[i] = has_value && AnyValueString(any, &value) ? value : std::string_view();
  }
  return true;
}

}  // namespace

uint32_t FindLinkAttributes(const LinkRef& link, absl::Span<const std::string_view> keys, std::string_view* values) {
  uint32_t found = 0;
  // The common encoding (one-byte tags, short lengths) without the general
  // reader; anything else starts over with it.
  const auto* p = reinterpret_cast<const uint8_t*>(link.message.data());
  const uint8_t* const end = p + link.message.size();
  while (p < end) {
    const uint8_t tag = *p++;
    size_t length = 0;
    switch (tag) {
      case MakeTag(kLinkTraceId, WireType::kLengthDelimited):
      case MakeTag(kLinkSpanId, WireType::kLengthDelimited):
      case MakeTag(kLinkTraceState, WireType::kLengthDelimited):
      case MakeTag(kLinkAttributes, WireType::kLengthDelimited):
        if (!ReadShortLength(&p, end, &length)) break;
        if (tag == MakeTag(kLinkAttributes, WireType::kLengthDelimited) &&
            !NoteKeyValue(std::string_view(reinterpret_cast<const char*>(p), length), keys, values, &found)) {
          return found;
        }
        p += length;
        continue;
      case MakeTag(kLinkDroppedAttributes, WireType::kVarint):
        if (!SkipVarint(&p, end)) break;
        continue;
      case MakeTag(kLinkFlags, WireType::kFixed32):
        if (end - p < 4) break;
        p += 4;
        continue;
      default:
        break;
    }
    // Not the common encoding: the general reader, from the start.
    found = 0;
    WireReader reader(link.message);
    WireField f;
    while (!reader.done()) {
      if (!reader.ReadField(&f)) break;
      if (f.number != kLinkAttributes || f.type != WireType::kLengthDelimited) continue;
      if (!NoteKeyValue(f.bytes, keys, values, &found)) break;
    }
    return found;
  }
  return found;
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
