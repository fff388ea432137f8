// The OTLP export requests' schema as the OTLP/JSON converter walks it:
// per message, its fields with JSON and proto names, wire kind, number and
// nesting, built once from the generated descriptors. Internal to
// otlp_json.cc; exposed for its tests only.
//
//   const MessageInfo& root = otlp_json_internal::OtlpJsonSchema(Signal::kTraces);
//   const FieldInfo* f = root.Find("resourceSpans");  // or "resource_spans"
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "pipeline/base/signal.h"

namespace gateway::otlp_json_internal {

enum class Kind : uint8_t {
  kInt32,
  kInt64,
  kUint32,
  kUint64,
  kSint32,
  kSint64,
  kFixed32,
  kFixed64,
  kSfixed32,
  kSfixed64,
  kFloat,
  kDouble,
  kBool,
  kEnum,
  kString,
  kBytes,
  kHexId,
  kMessage,
};

struct MessageInfo;

struct FieldInfo {
  std::string json_name;
  std::string proto_name;
  Kind kind;
  uint32_t number;
  bool repeated;
  bool packed;
  // Bytes an id decodes to (kHexId only).
  size_t id_bytes = 0;
  // Index of the real (non-synthetic) oneof, or -1.
  int oneof_index = -1;
  const MessageInfo* message = nullptr;
  const google::protobuf::EnumDescriptor* enum_type = nullptr;
};

struct MessageInfo {
  std::vector<FieldInfo> fields;

  // Messages have at most a few dozen fields, so a scan beats hashing.
  const FieldInfo* Find(std::string_view key) const {
    for (const FieldInfo& f : fields) {
      if (key == f.json_name || key == f.proto_name) return &f;
    }
    return nullptr;
  }
};

// The root message of `signal`'s Export*ServiceRequest. Thread-safe; the
// tables live for the process.
const MessageInfo& OtlpJsonSchema(Signal signal);

}  // namespace gateway::otlp_json_internal
