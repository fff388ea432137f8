// ValidateExportRequest (otlp_wire.h): the full check of a request against
// the OTLP schema tables, run on every received request before it is
// accepted.
#include "pipeline/otlp/otlp_wire.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/otlp/otlp_validate_fast_path.h"
#include "pipeline/otlp/utf8_check.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

using otlp_validate_internal::IsPlainKeyValue;
using otlp_validate_internal::IsPlainScopeSpans;
using otlp_validate_internal::IsPlainSpan;

// ---------------------------------------------------------------------------
// Schema tables for validation: for each message, the known fields with the
// wire type they must have and, for message fields that are checked further,
// the nested message. Fields without a nested rule (attributes, AnyValue,
// exemplars) are checked as length-delimited only.

struct MessageRule;

struct FieldRule {
  uint32_t number;
  WireType type;
  const char* name;
  const MessageRule* child = nullptr;
  // A repeated scalar that may also arrive packed (length-delimited).
  bool packable = false;
  // A proto3 `string`: must hold valid UTF-8.
  bool utf8 = false;
};

constexpr FieldRule Str(uint32_t number, const char* name) {
  return FieldRule{number, WireType::kLengthDelimited, name, nullptr, false, true};
}

struct MessageRule {
  const char* name;
  std::initializer_list<FieldRule> fields;
};

constexpr WireType kV = WireType::kVarint;
constexpr WireType kF64 = WireType::kFixed64;
constexpr WireType kLD = WireType::kLengthDelimited;
constexpr WireType kF32 = WireType::kFixed32;

// Attributes and log bodies: AnyValue nests through arrays and key/value
// lists, bounded by kMaxDepth.
extern const MessageRule kAnyValue;
const MessageRule kKeyValue{"KeyValue", {Str(1, "key"), {2, kLD, "value", &kAnyValue}}};
const MessageRule kArrayValue{"ArrayValue", {{1, kLD, "values", &kAnyValue}}};
const MessageRule kKeyValueList{"KeyValueList", {{1, kLD, "values", &kKeyValue}}};
const MessageRule kAnyValue{"AnyValue",
                            {Str(1, "string_value"),
                             {2, kV, "bool_value"},
                             {3, kV, "int_value"},
                             {4, kF64, "double_value"},
                             {5, kLD, "array_value", &kArrayValue},
                             {6, kLD, "kvlist_value", &kKeyValueList},
                             {7, kLD, "bytes_value"}}};

const MessageRule kResource{"Resource",
                            {{1, kLD, "attributes", &kKeyValue},
                             {2, kV, "dropped_attributes_count"},
                             {3, kLD, "entity_refs"}}};
const MessageRule kScope{"InstrumentationScope",
                         {Str(1, "name"),
                          Str(2, "version"),
                          {3, kLD, "attributes", &kKeyValue},
                          {4, kV, "dropped_attributes_count"}}};

// Traces.
const MessageRule kStatus{"Status", {Str(2, "message"), {3, kV, "code"}}};
const MessageRule kEvent{
    "Span.Event",
    {{1, kF64, "time_unix_nano"}, Str(2, "name"), {3, kLD, "attributes", &kKeyValue}, {4, kV, "dropped_attributes_count"}}};
const MessageRule kLink{"Span.Link",
                        {{1, kLD, "trace_id"},
                         {2, kLD, "span_id"},
                         Str(3, "trace_state"),
                         {4, kLD, "attributes", &kKeyValue},
                         {5, kV, "dropped_attributes_count"},
                         {6, kF32, "flags"}}};
const MessageRule kSpan{"Span",
                        {{1, kLD, "trace_id"},
                         {2, kLD, "span_id"},
                         Str(3, "trace_state"),
                         {4, kLD, "parent_span_id"},
                         Str(5, "name"),
                         {6, kV, "kind"},
                         {7, kF64, "start_time_unix_nano"},
                         {8, kF64, "end_time_unix_nano"},
                         {9, kLD, "attributes", &kKeyValue},
                         {10, kV, "dropped_attributes_count"},
                         {11, kLD, "events", &kEvent},
                         {12, kV, "dropped_events_count"},
                         {13, kLD, "links", &kLink},
                         {14, kV, "dropped_links_count"},
                         {15, kLD, "status", &kStatus},
                         {16, kF32, "flags"}}};
const MessageRule kScopeSpans{"ScopeSpans", {{1, kLD, "scope", &kScope}, {2, kLD, "spans", &kSpan}, Str(3, "schema_url")}};
const MessageRule kResourceSpans{
    "ResourceSpans", {{1, kLD, "resource", &kResource}, {2, kLD, "scope_spans", &kScopeSpans}, Str(3, "schema_url")}};
const MessageRule kTraceRequest{"ExportTraceServiceRequest", {{1, kLD, "resource_spans", &kResourceSpans}}};

// Metrics.
const MessageRule kNumberDataPoint{"NumberDataPoint",
                                   {{7, kLD, "attributes", &kKeyValue},
                                    {2, kF64, "start_time_unix_nano"},
                                    {3, kF64, "time_unix_nano"},
                                    {4, kF64, "as_double"},
                                    {6, kF64, "as_int"},
                                    {5, kLD, "exemplars"},
                                    {8, kV, "flags"}}};
const MessageRule kHistogramDataPoint{"HistogramDataPoint",
                                      {{9, kLD, "attributes", &kKeyValue},
                                       {2, kF64, "start_time_unix_nano"},
                                       {3, kF64, "time_unix_nano"},
                                       {4, kF64, "count"},
                                       {5, kF64, "sum"},
                                       {6, kF64, "bucket_counts", nullptr, true},
                                       {7, kF64, "explicit_bounds", nullptr, true},
                                       {8, kLD, "exemplars"},
                                       {10, kV, "flags"},
                                       {11, kF64, "min"},
                                       {12, kF64, "max"}}};
const MessageRule kBuckets{"ExponentialHistogramDataPoint.Buckets",
                           {{1, kV, "offset"}, {2, kV, "bucket_counts", nullptr, true}}};
const MessageRule kExponentialHistogramDataPoint{"ExponentialHistogramDataPoint",
                                                 {{1, kLD, "attributes", &kKeyValue},
                                                  {2, kF64, "start_time_unix_nano"},
                                                  {3, kF64, "time_unix_nano"},
                                                  {4, kF64, "count"},
                                                  {5, kF64, "sum"},
                                                  {6, kV, "scale"},
                                                  {7, kF64, "zero_count"},
                                                  {8, kLD, "positive", &kBuckets},
                                                  {9, kLD, "negative", &kBuckets},
                                                  {10, kV, "flags"},
                                                  {11, kLD, "exemplars"},
                                                  {12, kF64, "min"},
                                                  {13, kF64, "max"},
                                                  {14, kF64, "zero_threshold"}}};
const MessageRule kValueAtQuantile{"SummaryDataPoint.ValueAtQuantile", {{1, kF64, "quantile"}, {2, kF64, "value"}}};
const MessageRule kSummaryDataPoint{"SummaryDataPoint",
                                    {{7, kLD, "attributes", &kKeyValue},
                                     {2, kF64, "start_time_unix_nano"},
                                     {3, kF64, "time_unix_nano"},
                                     {4, kF64, "count"},
                                     {5, kF64, "sum"},
                                     {6, kLD, "quantile_values", &kValueAtQuantile},
                                     {8, kV, "flags"}}};
const MessageRule kGauge{"Gauge", {{1, kLD, "data_points", &kNumberDataPoint}}};
const MessageRule kSum{"Sum",
                       {{1, kLD, "data_points", &kNumberDataPoint},
                        {2, kV, "aggregation_temporality"},
                        {3, kV, "is_monotonic"}}};
const MessageRule kHistogram{"Histogram",
                             {{1, kLD, "data_points", &kHistogramDataPoint}, {2, kV, "aggregation_temporality"}}};
const MessageRule kExponentialHistogram{
    "ExponentialHistogram",
    {{1, kLD, "data_points", &kExponentialHistogramDataPoint}, {2, kV, "aggregation_temporality"}}};
const MessageRule kSummary{"Summary", {{1, kLD, "data_points", &kSummaryDataPoint}}};
const MessageRule kMetric{"Metric",
                          {Str(1, "name"),
                           Str(2, "description"),
                           Str(3, "unit"),
                           {5, kLD, "gauge", &kGauge},
                           {7, kLD, "sum", &kSum},
                           {9, kLD, "histogram", &kHistogram},
                           {10, kLD, "exponential_histogram", &kExponentialHistogram},
                           {11, kLD, "summary", &kSummary},
                           {12, kLD, "metadata"}}};
const MessageRule kScopeMetrics{"ScopeMetrics",
                                {{1, kLD, "scope", &kScope}, {2, kLD, "metrics", &kMetric}, Str(3, "schema_url")}};
const MessageRule kResourceMetrics{
    "ResourceMetrics",
    {{1, kLD, "resource", &kResource}, {2, kLD, "scope_metrics", &kScopeMetrics}, Str(3, "schema_url")}};
const MessageRule kMetricsRequest{"ExportMetricsServiceRequest", {{1, kLD, "resource_metrics", &kResourceMetrics}}};

// Logs.
const MessageRule kLogRecord{"LogRecord",
                             {{1, kF64, "time_unix_nano"},
                              {11, kF64, "observed_time_unix_nano"},
                              {2, kV, "severity_number"},
                              Str(3, "severity_text"),
                              {5, kLD, "body", &kAnyValue},
                              {6, kLD, "attributes", &kKeyValue},
                              {7, kV, "dropped_attributes_count"},
                              {8, kF32, "flags"},
                              {9, kLD, "trace_id"},
                              {10, kLD, "span_id"},
                              Str(12, "event_name")}};
const MessageRule kScopeLogs{"ScopeLogs",
                             {{1, kLD, "scope", &kScope}, {2, kLD, "log_records", &kLogRecord}, Str(3, "schema_url")}};
const MessageRule kResourceLogs{
    "ResourceLogs", {{1, kLD, "resource", &kResource}, {2, kLD, "scope_logs", &kScopeLogs}, Str(3, "schema_url")}};
const MessageRule kLogsRequest{"ExportLogsServiceRequest", {{1, kLD, "resource_logs", &kResourceLogs}}};

const MessageRule& RequestRule(Signal signal) {
  switch (signal) {
    case Signal::kTraces:
      return kTraceRequest;
    case Signal::kMetrics:
      return kMetricsRequest;
    case Signal::kLogs:
      return kLogsRequest;
  }
  return kTraceRequest;
}

const FieldRule* FindField(const MessageRule& rule, uint32_t number) {
  for (const FieldRule& field : rule.fields) {
    if (field.number == number) return &field;
  }
  return nullptr;
}

bool ValidPacked(WireType element, std::string_view bytes) {
  switch (element) {
    case WireType::kFixed64:
      return bytes.size() % 8 == 0;
    case WireType::kFixed32:
      return bytes.size() % 4 == 0;
    case WireType::kVarint: {
      WireReader reader(bytes);
      uint64_t value = 0;
      while (!reader.done()) {
        if (!reader.ReadVarint(&value)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

// Deeper than libprotobuf's default recursion limit (100) would not parse
// at the target either; 64 leaves room for real nested attributes.
constexpr int kMaxDepth = 64;

// `fast`: plain attributes, scopes of spans and spans are checked by
// IsPlainKeyValue, IsPlainScopeSpans and IsPlainSpan
// (otlp_validate_fast_path.h) first.
// `invalid_utf8`: when not null, set to true at the first string field
// (FieldRule::utf8) that is not valid UTF-8; such a field is not an error.
absl::Status Validate(const MessageRule& rule, std::string_view message, int depth, bool fast,
                      bool* invalid_utf8) {
  if (depth > kMaxDepth) return absl::InvalidArgumentError("message nesting too deep");
  WireReader reader(message);
  WireField f;
  // Index among repeated occurrences, for the error path.
  int64_t occurrence = 0;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed protobuf in ", rule.name, " at byte ", f.begin,
                                                     " (truncated, overlong varint, length past the end or "
                                                     "unsupported wire type)"));
    }
    const FieldRule* field = FindField(rule, f.number);
    if (field == nullptr) continue;
    if (f.type != field->type) {
      if (field->packable && f.type == WireType::kLengthDelimited) {
        if (!ValidPacked(field->type, f.bytes)) {
          return absl::InvalidArgumentError(
              absl::StrCat("malformed packed field ", f.number, " (", field->name, ") in ", rule.name));
        }
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat("field ", f.number, " (", field->name, ") in ", rule.name,
                                                     " has wire type ", static_cast<int>(f.type), ", expected ",
                                                     static_cast<int>(field->type)));
    }
    if (field->utf8) {
      if (invalid_utf8 != nullptr && !*invalid_utf8 && !IsValidUtf8(f.bytes)) *invalid_utf8 = true;
      continue;
    }
    if (fast && field->child != nullptr) {
      // Each fast path stays within the depth bound the general check
      // would apply: an attribute's value is two levels below this message,
      // a span's event attribute values four, five for a scope's.
      const bool check_utf8 = invalid_utf8 != nullptr && !*invalid_utf8;
      const auto* begin = reinterpret_cast<const uint8_t*>(f.bytes.data());
      const uint8_t* const end = begin + f.bytes.size();
      if ((field->child == &kKeyValue && depth + 2 <= kMaxDepth && IsPlainKeyValue(begin, end, check_utf8)) ||
          (field->child == &kScopeSpans && depth + 5 <= kMaxDepth && IsPlainScopeSpans(begin, end, check_utf8)) ||
          (field->child == &kSpan && depth + 4 <= kMaxDepth && IsPlainSpan(begin, end, check_utf8))) {
        ++occurrence;
        continue;
      }
    }
    if (field->child != nullptr) {
      absl::Status status = Validate(*field->child, f.bytes, depth + 1, fast, invalid_utf8);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(rule.name, ".", field->name, "[", occurrence, "]: ", status.message()));
      }
      ++occurrence;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateExportRequest(Signal signal, std::string_view body, ValidationNotes* notes) {
  return Validate(RequestRule(signal), body, 0, /*fast=*/true, notes != nullptr ? &notes->invalid_utf8 : nullptr);
}

absl::Status otlp_wire_internal::ValidateWithoutFastPath(Signal signal, std::string_view body, ValidationNotes* notes) {
  return Validate(RequestRule(signal), body, 0, /*fast=*/false, notes != nullptr ? &notes->invalid_utf8 : nullptr);
}

}  // namespace gateway
