#include "pipeline/otlp/otlp_wire.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

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
};

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
const MessageRule kKeyValue{"KeyValue", {{1, kLD, "key"}, {2, kLD, "value", &kAnyValue}}};
const MessageRule kArrayValue{"ArrayValue", {{1, kLD, "values", &kAnyValue}}};
const MessageRule kKeyValueList{"KeyValueList", {{1, kLD, "values", &kKeyValue}}};
const MessageRule kAnyValue{"AnyValue",
                            {{1, kLD, "string_value"},
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
                         {{1, kLD, "name"},
                          {2, kLD, "version"},
                          {3, kLD, "attributes", &kKeyValue},
                          {4, kV, "dropped_attributes_count"}}};

// Traces.
const MessageRule kStatus{"Status", {{2, kLD, "message"}, {3, kV, "code"}}};
const MessageRule kEvent{
    "Span.Event",
    {{1, kF64, "time_unix_nano"}, {2, kLD, "name"}, {3, kLD, "attributes", &kKeyValue}, {4, kV, "dropped_attributes_count"}}};
const MessageRule kLink{"Span.Link",
                        {{1, kLD, "trace_id"},
                         {2, kLD, "span_id"},
                         {3, kLD, "trace_state"},
                         {4, kLD, "attributes", &kKeyValue},
                         {5, kV, "dropped_attributes_count"},
                         {6, kF32, "flags"}}};
const MessageRule kSpan{"Span",
                        {{1, kLD, "trace_id"},
                         {2, kLD, "span_id"},
                         {3, kLD, "trace_state"},
                         {4, kLD, "parent_span_id"},
                         {5, kLD, "name"},
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
const MessageRule kScopeSpans{"ScopeSpans", {{1, kLD, "scope", &kScope}, {2, kLD, "spans", &kSpan}, {3, kLD, "schema_url"}}};
const MessageRule kResourceSpans{
    "ResourceSpans", {{1, kLD, "resource", &kResource}, {2, kLD, "scope_spans", &kScopeSpans}, {3, kLD, "schema_url"}}};
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
                          {{1, kLD, "name"},
                           {2, kLD, "description"},
                           {3, kLD, "unit"},
                           {5, kLD, "gauge", &kGauge},
                           {7, kLD, "sum", &kSum},
                           {9, kLD, "histogram", &kHistogram},
                           {10, kLD, "exponential_histogram", &kExponentialHistogram},
                           {11, kLD, "summary", &kSummary},
                           {12, kLD, "metadata"}}};
const MessageRule kScopeMetrics{"ScopeMetrics",
                                {{1, kLD, "scope", &kScope}, {2, kLD, "metrics", &kMetric}, {3, kLD, "schema_url"}}};
const MessageRule kResourceMetrics{
    "ResourceMetrics",
    {{1, kLD, "resource", &kResource}, {2, kLD, "scope_metrics", &kScopeMetrics}, {3, kLD, "schema_url"}}};
const MessageRule kMetricsRequest{"ExportMetricsServiceRequest", {{1, kLD, "resource_metrics", &kResourceMetrics}}};

// Logs.
const MessageRule kLogRecord{"LogRecord",
                             {{1, kF64, "time_unix_nano"},
                              {11, kF64, "observed_time_unix_nano"},
                              {2, kV, "severity_number"},
                              {3, kLD, "severity_text"},
                              {5, kLD, "body", &kAnyValue},
                              {6, kLD, "attributes", &kKeyValue},
                              {7, kV, "dropped_attributes_count"},
                              {8, kF32, "flags"},
                              {9, kLD, "trace_id"},
                              {10, kLD, "span_id"},
                              {12, kLD, "event_name"}}};
const MessageRule kScopeLogs{"ScopeLogs",
                             {{1, kLD, "scope", &kScope}, {2, kLD, "log_records", &kLogRecord}, {3, kLD, "schema_url"}}};
const MessageRule kResourceLogs{
    "ResourceLogs", {{1, kLD, "resource", &kResource}, {2, kLD, "scope_logs", &kScopeLogs}, {3, kLD, "schema_url"}}};
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

// Steps over a length prefix of one or two bytes and the value after it
// (ReadShortLength). False for a longer prefix or a value past `end`.
inline bool SkipShortLengthDelimited(const uint8_t** p, const uint8_t* end, const uint8_t** value = nullptr) {
  size_t length = 0;
  if (!ReadShortLength(p, end, &length)) return false;
  if (value != nullptr) *value = *p;
  *p += length;
  return true;
}

// The usual attribute, checked without recursion: a KeyValue whose fields
// are a key and an AnyValue holding a string, bool, int, double or bytes,
// every tag one byte, every length one or two. True only when
// Validate(kKeyValue, ...) would accept the bytes; false means "not this
// shape", and the general check then decides (and reports what is wrong).
bool IsPlainKeyValue(std::string_view message) {
  const auto* p = reinterpret_cast<const uint8_t*>(message.data());
  const uint8_t* const end = p + message.size();
  while (p < end) {
    const uint8_t tag = *p++;
    if (tag == MakeTag(1, kLD)) {  // key
      if (!SkipShortLengthDelimited(&p, end)) return false;
      continue;
    }
    if (tag != MakeTag(2, kLD)) return false;  // value
    const uint8_t* value = nullptr;
    if (!SkipShortLengthDelimited(&p, end, &value)) return false;
    while (value < p) {
      switch (*value++) {
        case MakeTag(1, kLD):  // string_value
        case MakeTag(7, kLD):  // bytes_value
          if (!SkipShortLengthDelimited(&value, p)) return false;
          break;
        case MakeTag(2, kV):  // bool_value
        case MakeTag(3, kV):  // int_value
          if (!SkipVarint(&value, p)) return false;
          break;
        case MakeTag(4, kF64):  // double_value
          if (p - value < 8) return false;
          value += 8;
          break;
        default:  // arrays, key/value lists, anything else
          return false;
      }
    }
  }
  return true;
}

// `fast`: plain attributes are checked by IsPlainKeyValue first.
absl::Status Validate(const MessageRule& rule, std::string_view message, int depth, bool fast) {
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
    if (fast && field->child == &kKeyValue && depth + 2 <= kMaxDepth && IsPlainKeyValue(f.bytes)) {
      ++occurrence;
      continue;
    }
    if (field->child != nullptr) {
      absl::Status status = Validate(*field->child, f.bytes, depth + 1, fast);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(rule.name, ".", field->name, "[", occurrence, "]: ", status.message()));
      }
      ++occurrence;
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Navigation shared by counting and splitting.

constexpr uint32_t kRequestResources = 1;  // resource_spans / resource_metrics / resource_logs
constexpr uint32_t kResourceScopes = 2;    // scope_spans / scope_metrics / scope_logs
constexpr uint32_t kScopeItems = 2;        // spans / metrics / log_records
constexpr uint32_t kDataPoints = 1;        // data_points in every metric data message

bool IsMetricData(uint32_t number) { return number == 5 || number == 7 || number == 9 || number == 10 || number == 11; }

int64_t CountPoints(std::string_view metric) {
  // Metric.data is a oneof: as a protobuf decoder (and so the backend) sees
  // it, a later member replaces an earlier, different one, and repeats of the
  // same member merge.
  int64_t count = 0;
  uint32_t member = 0;
  WireReader reader(metric);
  WireField f;
  while (!reader.done() && reader.ReadField(&f)) {
    if (!IsMetricData(f.number) || f.type != WireType::kLengthDelimited) continue;
    if (f.number != member) {
      member = f.number;
      count = 0;
    }
    WireReader data(f.bytes);
    WireField g;
    while (!data.done() && data.ReadField(&g)) {
      if (g.number == kDataPoints && g.type == WireType::kLengthDelimited) ++count;
    }
  }
  return count;
}

// Calls fn(field) for each length-delimited field `number` of `message`;
// stops at malformed bytes.
template <typename Fn>
void ForEachMessage(std::string_view message, uint32_t number, Fn&& fn) {
  WireReader reader(message);
  WireField f;
  while (!reader.done() && reader.ReadField(&f)) {
    if (f.number == number && f.type == WireType::kLengthDelimited) fn(f.bytes);
  }
}

// Every field of `message` except the length-delimited occurrences of the
// numbers `is_child` accepts, with tags, in order; and the children.
template <typename IsChild>
std::string SplitFrame(std::string_view message, IsChild&& is_child,
                       std::vector<std::pair<uint32_t, std::string_view>>* children) {
  std::string frame;
  WireReader reader(message);
  WireField f;
  while (!reader.done() && reader.ReadField(&f)) {
    if (f.type == WireType::kLengthDelimited && is_child(f.number)) {
      children->emplace_back(f.number, f.bytes);
    } else {
      frame.append(message.data() + f.begin, f.end - f.begin);
    }
  }
  return frame;
}

// Greedy packer: leaves (spans, log records or data points) arrive in
// order with their containers; a part is closed when the next leaf would
// push it past a limit.
class Packer {
 public:
  Packer(bool metrics, size_t max_bytes, int64_t max_items)
      : metrics_(metrics), max_bytes_(max_bytes), max_items_(max_items) {}

  // Containers are identified by the address of their frame, which stays
  // put while their leaves are added.
  void Add(const std::string* resource, const std::string* scope, const std::string* metric,
           uint32_t data_number, const std::string* data, std::string_view leaf) {
    if (resource != resource_) {
      CloseResource();
    } else if (scope != scope_) {
      CloseScope();
    } else if (metrics_ && (metric != metric_ || data != data_)) {
      CloseMetric();
    }
    if (items_ > 0 && (SizeWith(resource, scope, metric, data_number, data, leaf.size()) > max_bytes_ ||
                       (max_items_ > 0 && items_ + 1 > max_items_))) {
      Flush();
    }
    resource_ = resource;
    scope_ = scope;
    metric_ = metric;
    data_ = data;
    data_number_ = data_number;
    if (metrics_) {
      AppendLengthDelimited(&points_, kDataPoints, leaf);
    } else {
      AppendLengthDelimited(&scope_body_, kScopeItems, leaf);
    }
    ++items_;
  }

  // The container whose frame was last passed to Add is complete; its frame
  // may go away after this call.
  void EndMetric() { CloseMetric(); }
  void EndScope() { CloseScope(); }
  void EndResource() { CloseResource(); }

  std::vector<std::string> Finish() {
    Flush();
    return std::move(parts_);
  }

 private:
  static size_t FrameSize(const std::string* frame) { return frame == nullptr ? 0 : frame->size(); }

  // The part's size if `leaf` were added now and everything closed.
  size_t SizeWith(const std::string* resource, const std::string* scope, const std::string* metric,
                  uint32_t data_number, const std::string* data, size_t leaf) const {
    size_t scope_inner;
    if (metrics_) {
      const size_t data_body = FrameSize(data) + points_.size() + LengthDelimitedSize(kDataPoints, leaf);
      const size_t metric_body = FrameSize(metric) + LengthDelimitedSize(data_number, data_body);
      scope_inner = scope_body_.size() + LengthDelimitedSize(kScopeItems, metric_body);
    } else {
      scope_inner = scope_body_.size() + LengthDelimitedSize(kScopeItems, leaf);
    }
    const size_t resource_inner =
        resource_body_.size() + LengthDelimitedSize(kResourceScopes, FrameSize(scope) + scope_inner);
    return part_.size() + LengthDelimitedSize(kRequestResources, FrameSize(resource) + resource_inner);
  }

  void CloseMetric() {
    if (metric_ == nullptr) return;
    if (!points_.empty()) {
      std::string data_body = *data_;
      data_body += points_;
      std::string metric_body = *metric_;
      AppendLengthDelimited(&metric_body, data_number_, data_body);
      AppendLengthDelimited(&scope_body_, kScopeItems, metric_body);
    }
    points_.clear();
    metric_ = nullptr;
    data_ = nullptr;
  }

  void CloseScope() {
    CloseMetric();
    if (scope_ == nullptr) return;
    if (!scope_body_.empty()) {
      std::string body = *scope_;
      body += scope_body_;
      AppendLengthDelimited(&resource_body_, kResourceScopes, body);
    }
    scope_body_.clear();
    scope_ = nullptr;
  }

  void CloseResource() {
    CloseScope();
    if (resource_ == nullptr) return;
    if (!resource_body_.empty()) {
      std::string body = *resource_;
      body += resource_body_;
      AppendLengthDelimited(&part_, kRequestResources, body);
    }
    resource_body_.clear();
    resource_ = nullptr;
  }

  void Flush() {
    CloseResource();
    if (items_ > 0) parts_.push_back(std::move(part_));
    part_.clear();
    items_ = 0;
  }

  const bool metrics_;
  const size_t max_bytes_;
  const int64_t max_items_;

  const std::string* resource_ = nullptr;
  const std::string* scope_ = nullptr;
  const std::string* metric_ = nullptr;
  const std::string* data_ = nullptr;
  uint32_t data_number_ = 0;

  std::string points_;         // data point fields of the open metric
  std::string scope_body_;     // item fields of the open scope
  std::string resource_body_;  // scope fields of the open resource
  std::string part_;           // resource fields of closed resources
  int64_t items_ = 0;
  std::vector<std::string> parts_;
};

}  // namespace

absl::Status ValidateExportRequest(Signal signal, std::string_view body) {
  return Validate(RequestRule(signal), body, 0, /*fast=*/true);
}

absl::Status otlp_wire_internal::ValidateWithoutFastPath(Signal signal, std::string_view body) {
  return Validate(RequestRule(signal), body, 0, /*fast=*/false);
}

int64_t CountItems(Signal signal, std::string_view body) {
  int64_t count = 0;
  ForEachMessage(body, kRequestResources, [&](std::string_view resource) {
    ForEachMessage(resource, kResourceScopes, [&](std::string_view scope) {
      ForEachMessage(scope, kScopeItems, [&](std::string_view item) {
        count += signal == Signal::kMetrics ? CountPoints(item) : 1;
      });
    });
  });
  return count;
}

std::vector<std::string> SplitExportRequest(Signal signal, std::string_view body, size_t max_bytes,
                                            int64_t max_items) {
  if (body.size() <= max_bytes && (max_items <= 0 || CountItems(signal, body) <= max_items)) {
    return {std::string(body)};
  }
  const bool metrics = signal == Signal::kMetrics;
  Packer packer(metrics, max_bytes, max_items);
  auto is_scopes = [](uint32_t n) { return n == kResourceScopes; };
  auto is_items = [](uint32_t n) { return n == kScopeItems; };
  auto is_points = [](uint32_t n) { return n == kDataPoints; };
  std::vector<std::pair<uint32_t, std::string_view>> scopes;
  std::vector<std::pair<uint32_t, std::string_view>> items;
  std::vector<std::pair<uint32_t, std::string_view>> data_fields;
  std::vector<std::pair<uint32_t, std::string_view>> points;
  ForEachMessage(body, kRequestResources, [&](std::string_view resource) {
    scopes.clear();
    const std::string resource_frame = SplitFrame(resource, is_scopes, &scopes);
    for (const auto& [unused_number, scope] : scopes) {
      items.clear();
      const std::string scope_frame = SplitFrame(scope, is_items, &items);
      for (const auto& [unused_item_number, item] : items) {
        if (!metrics) {
          packer.Add(&resource_frame, &scope_frame, nullptr, 0, nullptr, item);
          continue;
        }
        data_fields.clear();
        const std::string metric_frame = SplitFrame(item, IsMetricData, &data_fields);
        // Metric.data is a oneof: only the last run of one member survives
        // decoding (see CountPoints), so only its points are carried.
        size_t first_kept = data_fields.size();
        while (first_kept > 0 && data_fields[first_kept - 1].first == data_fields.back().first) --first_kept;
        for (size_t i = first_kept; i < data_fields.size(); ++i) {
          const auto& [data_number, data] = data_fields[i];
          points.clear();
          const std::string data_frame = SplitFrame(data, is_points, &points);
          for (const auto& [unused_point_number, point] : points) {
            packer.Add(&resource_frame, &scope_frame, &metric_frame, data_number, &data_frame, point);
          }
          packer.EndMetric();
        }
      }
      packer.EndScope();
    }
    packer.EndResource();
  });
  return packer.Finish();
}

}  // namespace gateway
