#include "pipeline/otlp/extra_attribute.h"

#include <string>
#include <variant>
#include <vector>

#include "pipeline/otlp/trace_fields.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

// AnyValue holding `value`, as value bytes.
size_t AnyValueSize(const ExtraAttribute& attribute) {
  switch (attribute.value.index()) {
    case 0:
      return LengthDelimitedSize(kAnyValueString, std::get<0>(attribute.value).size());
    case 1:
      return 2;
    default:
      return 1 + VarintSize(static_cast<uint64_t>(std::get<2>(attribute.value)));
  }
}

size_t KeyValueSize(const ExtraAttribute& attribute) {
  return LengthDelimitedSize(kKeyValueKey, attribute.key.size()) +
         LengthDelimitedSize(kKeyValueValue, AnyValueSize(attribute));
}

}  // namespace

size_t AttributesSize(const std::vector<ExtraAttribute>& attributes, uint32_t number) {
  size_t size = 0;
  for (const ExtraAttribute& attribute : attributes) size += LengthDelimitedSize(number, KeyValueSize(attribute));
  return size;
}

void AppendKeyValueField(std::string* out, uint32_t number, const ExtraAttribute& attribute) {
  AppendTag(out, number, WireType::kLengthDelimited);
  AppendVarint(out, KeyValueSize(attribute));
  AppendLengthDelimited(out, kKeyValueKey, attribute.key);
  AppendTag(out, kKeyValueValue, WireType::kLengthDelimited);
  AppendVarint(out, AnyValueSize(attribute));
  // Oneof members are written even when they hold their default value: the
  // choice itself is information.
  switch (attribute.value.index()) {
    case 0:
      AppendLengthDelimited(out, kAnyValueString, std::get<0>(attribute.value));
      break;
    case 1:
      AppendTag(out, kAnyValueBool, WireType::kVarint);
      AppendVarint(out, std::get<1>(attribute.value) ? 1 : 0);
      break;
    default:
      AppendTag(out, kAnyValueInt, WireType::kVarint);
      AppendVarint(out, static_cast<uint64_t>(std::get<2>(attribute.value)));
      break;
  }
}

char* WriteKeyValueField(char* p, uint32_t number, const ExtraAttribute& attribute) {
  p = WriteTag(p, number, WireType::kLengthDelimited);
  p = WriteVarint(p, KeyValueSize(attribute));
  p = WriteLengthDelimited(p, kKeyValueKey, attribute.key);
  p = WriteTag(p, kKeyValueValue, WireType::kLengthDelimited);
  p = WriteVarint(p, AnyValueSize(attribute));
  switch (attribute.value.index()) {
    case 0:
      return WriteLengthDelimited(p, kAnyValueString, std::get<0>(attribute.value));
    case 1:
      p = WriteTag(p, kAnyValueBool, WireType::kVarint);
      return WriteVarint(p, std::get<1>(attribute.value) ? 1 : 0);
    default:
      p = WriteTag(p, kAnyValueInt, WireType::kVarint);
      return WriteVarint(p, static_cast<uint64_t>(std::get<2>(attribute.value)));
  }
}

}  // namespace gateway
