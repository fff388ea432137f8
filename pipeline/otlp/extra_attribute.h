// ExtraAttribute: an attribute the gateway adds to a span or a link, and its
// encoding as an OTLP KeyValue field (the rewriter and the encoder write it).
//
//   std::vector<ExtraAttribute> attributes = {{"gateway.reparent.original_parent", true}};
//   std::string out;
//   for (const ExtraAttribute& a : attributes) AppendKeyValueField(&out, 9, a);  // Span.attributes
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace gateway {

// An attribute the gateway adds to a span or link.
struct ExtraAttribute {
  std::string key;
  std::variant<std::string, bool, int64_t> value;
};

// The bytes of `attributes` as KeyValue fields `number` (tags and lengths
// included).
size_t AttributesSize(const std::vector<ExtraAttribute>& attributes, uint32_t number);

// Appends `attribute` as a KeyValue field `number` (tag, length, message).
// Oneof members are written even when they hold their default value.
void AppendKeyValueField(std::string* out, uint32_t number, const ExtraAttribute& attribute);

// The same, written at `p` (room for AttributesSize({attribute}, number)
// bytes); returns the byte after it.
char* WriteKeyValueField(char* p, uint32_t number, const ExtraAttribute& attribute);

}  // namespace gateway
