#include "pipeline/otlp/otlp_json_schema.h"

#include <memory>
#include <unordered_map>
#include <utility>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway::otlp_json_internal {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;

Kind KindOf(const FieldDescriptor* field) {
  switch (field->type()) {
    case FieldDescriptor::TYPE_INT32:
      return Kind::kInt32;
    case FieldDescriptor::TYPE_INT64:
      return Kind::kInt64;
    case FieldDescriptor::TYPE_UINT32:
      return Kind::kUint32;
    case FieldDescriptor::TYPE_UINT64:
      return Kind::kUint64;
    case FieldDescriptor::TYPE_SINT32:
      return Kind::kSint32;
    case FieldDescriptor::TYPE_SINT64:
      return Kind::kSint64;
    case FieldDescriptor::TYPE_FIXED32:
      return Kind::kFixed32;
    case FieldDescriptor::TYPE_FIXED64:
      return Kind::kFixed64;
    case FieldDescriptor::TYPE_SFIXED32:
      return Kind::kSfixed32;
    case FieldDescriptor::TYPE_SFIXED64:
      return Kind::kSfixed64;
    case FieldDescriptor::TYPE_FLOAT:
      return Kind::kFloat;
    case FieldDescriptor::TYPE_DOUBLE:
      return Kind::kDouble;
    case FieldDescriptor::TYPE_BOOL:
      return Kind::kBool;
    case FieldDescriptor::TYPE_ENUM:
      return Kind::kEnum;
    case FieldDescriptor::TYPE_STRING:
      return Kind::kString;
    case FieldDescriptor::TYPE_BYTES: {
      const std::string& name = field->name();
      if (name == "trace_id" || name == "span_id" || name == "parent_span_id") return Kind::kHexId;
      return Kind::kBytes;
    }
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      return Kind::kMessage;
  }
  return Kind::kBytes;
}

// Field tables for every message reachable from the three export requests,
// built once and read-only afterwards.
class SchemaTables {
 public:
  SchemaTables() {
    traces_ = Build(opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest::descriptor());
    metrics_ = Build(opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest::descriptor());
    logs_ = Build(opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest::descriptor());
  }

  const MessageInfo& Root(Signal signal) const {
    switch (signal) {
      case Signal::kTraces:
        return *traces_;
      case Signal::kMetrics:
        return *metrics_;
      case Signal::kLogs:
        return *logs_;
    }
    return *traces_;
  }

 private:
  const MessageInfo* Build(const Descriptor* descriptor) {
    auto it = tables_.find(descriptor);
    if (it != tables_.end()) return it->second.get();
    MessageInfo* info = tables_.emplace(descriptor, std::make_unique<MessageInfo>()).first->second.get();
    info->fields.reserve(descriptor->field_count());
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const FieldDescriptor* field = descriptor->field(i);
      FieldInfo f;
      f.json_name = field->json_name();
      f.proto_name = field->name();
      f.kind = KindOf(field);
      f.number = static_cast<uint32_t>(field->number());
      f.repeated = field->is_repeated();
      f.packed = field->is_packed();
      if (f.kind == Kind::kHexId) f.id_bytes = field->name() == "trace_id" ? 16 : 8;
      const auto* oneof = field->real_containing_oneof();
      if (oneof != nullptr) f.oneof_index = oneof->index();
      if (f.kind == Kind::kEnum) f.enum_type = field->enum_type();
      info->fields.push_back(std::move(f));
    }
    // Children after the parent's vector is complete: recursion may revisit
    // this descriptor (AnyValue -> ArrayValue -> AnyValue).
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const FieldDescriptor* field = descriptor->field(i);
      if (info->fields[i].kind == Kind::kMessage) info->fields[i].message = Build(field->message_type());
    }
    return info;
  }

  std::unordered_map<const Descriptor*, std::unique_ptr<MessageInfo>> tables_;
  const MessageInfo* traces_ = nullptr;
  const MessageInfo* metrics_ = nullptr;
  const MessageInfo* logs_ = nullptr;
};

}  // namespace

const MessageInfo& OtlpJsonSchema(Signal signal) {
  static const SchemaTables* const tables = new SchemaTables();
  return tables->Root(signal);
}

}  // namespace gateway::otlp_json_internal
