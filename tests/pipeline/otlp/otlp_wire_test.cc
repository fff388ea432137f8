#include "pipeline/otlp/otlp_wire.h"

#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using ::opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::metrics::v1::Metric;

class OtlpWireTest : public ::testing::Test {
 protected:
  static ExportLogsServiceRequest Logs(int resources, int scopes, int records, size_t body_size) {
    ExportLogsServiceRequest request;
    int n = 0;
    for (int r = 0; r < resources; ++r) {
      auto* rl = request.add_resource_logs();
      auto* attr = rl->mutable_resource()->add_attributes();
      attr->set_key("service.name");
      attr->mutable_value()->set_string_value("svc-" + std::to_string(r));
      rl->set_schema_url("s");
      for (int s = 0; s < scopes; ++s) {
        auto* sl = rl->add_scope_logs();
        sl->mutable_scope()->set_name("scope-" + std::to_string(s));
        for (int i = 0; i < records; ++i) {
          auto* record = sl->add_log_records();
          record->set_time_unix_nano(++n);
          record->mutable_body()->set_string_value(std::string(body_size, 'x'));
        }
      }
    }
    return request;
  }

  static ExportMetricsServiceRequest Metrics(int points_per_metric) {
    ExportMetricsServiceRequest request;
    auto* rm = request.add_resource_metrics();
    rm->mutable_resource()->add_attributes()->set_key("host");
    auto* sm = rm->add_scope_metrics();
    sm->mutable_scope()->set_name("meter");
    uint64_t t = 0;
    Metric* gauge = sm->add_metrics();
    gauge->set_name("g");
    gauge->set_unit("1");
    for (int i = 0; i < points_per_metric; ++i) gauge->mutable_gauge()->add_data_points()->set_as_int(++t);
    Metric* sum = sm->add_metrics();
    sum->set_name("s");
    sum->mutable_sum()->set_aggregation_temporality(
        opentelemetry::proto::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
    sum->mutable_sum()->set_is_monotonic(true);
    for (int i = 0; i < points_per_metric; ++i) sum->mutable_sum()->add_data_points()->set_as_double(++t);
    Metric* histogram = sm->add_metrics();
    histogram->set_name("h");
    for (int i = 0; i < points_per_metric; ++i) {
      auto* p = histogram->mutable_histogram()->add_data_points();
      p->set_time_unix_nano(++t);
      p->add_bucket_counts(1);
      p->add_bucket_counts(2);
      p->add_explicit_bounds(0.5);
    }
    Metric* exponential = sm->add_metrics();
    exponential->set_name("e");
    for (int i = 0; i < points_per_metric; ++i) {
      auto* p = exponential->mutable_exponential_histogram()->add_data_points();
      p->set_time_unix_nano(++t);
      p->mutable_positive()->add_bucket_counts(3);
    }
    Metric* summary = sm->add_metrics();
    summary->set_name("q");
    for (int i = 0; i < points_per_metric; ++i) {
      auto* p = summary->mutable_summary()->add_data_points();
      p->set_time_unix_nano(++t);
      p->add_quantile_values()->set_quantile(0.5);
    }
    return request;
  }

  // (resource, scope, record) triples in order.
  static std::vector<std::tuple<std::string, std::string, std::string>> FlattenLogs(
      const std::vector<std::string>& parts) {
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    for (const std::string& part : parts) {
      ExportLogsServiceRequest request;
      EXPECT_TRUE(request.ParseFromString(part));
      for (const auto& rl : request.resource_logs()) {
        EXPECT_EQ(rl.schema_url(), "s");
        for (const auto& sl : rl.scope_logs()) {
          for (const auto& record : sl.log_records()) {
            out.emplace_back(rl.resource().SerializeAsString(), sl.scope().name(), record.SerializeAsString());
          }
        }
      }
    }
    return out;
  }

  // (metric without points, point) pairs in order.
  static std::vector<std::pair<std::string, std::string>> FlattenMetrics(const std::vector<std::string>& parts) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const std::string& part : parts) {
      ExportMetricsServiceRequest request;
      EXPECT_TRUE(request.ParseFromString(part));
      for (const auto& rm : request.resource_metrics()) {
        for (const auto& sm : rm.scope_metrics()) {
          EXPECT_EQ(sm.scope().name(), "meter");
          for (const Metric& metric : sm.metrics()) {
            Metric shell = metric;
            std::vector<std::string> points;
            switch (metric.data_case()) {
              case Metric::kGauge:
                for (const auto& p : metric.gauge().data_points()) points.push_back(p.SerializeAsString());
                shell.mutable_gauge()->clear_data_points();
                break;
              case Metric::kSum:
                for (const auto& p : metric.sum().data_points()) points.push_back(p.SerializeAsString());
                shell.mutable_sum()->clear_data_points();
                break;
              case Metric::kHistogram:
                for (const auto& p : metric.histogram().data_points()) points.push_back(p.SerializeAsString());
                shell.mutable_histogram()->clear_data_points();
                break;
              case Metric::kExponentialHistogram:
                for (const auto& p : metric.exponential_histogram().data_points()) {
                  points.push_back(p.SerializeAsString());
                }
                shell.mutable_exponential_histogram()->clear_data_points();
                break;
              case Metric::kSummary:
                for (const auto& p : metric.summary().data_points()) points.push_back(p.SerializeAsString());
                shell.mutable_summary()->clear_data_points();
                break;
              default:
                break;
            }
            for (std::string& p : points) out.emplace_back(shell.SerializeAsString(), std::move(p));
          }
        }
      }
    }
    return out;
  }
};

TEST_F(OtlpWireTest, WellFormedRequestsOfEverySignalValidate) {
  EXPECT_TRUE(ValidateExportRequest(Signal::kLogs, Logs(2, 2, 3, 10).SerializeAsString()).ok());
  EXPECT_TRUE(ValidateExportRequest(Signal::kMetrics, Metrics(3).SerializeAsString()).ok());
  ExportTraceServiceRequest traces;
  auto* span = traces.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_name("x");
  span->add_links()->set_flags(1);
  span->add_events()->set_time_unix_nano(1);
  span->mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_OK);
  EXPECT_TRUE(ValidateExportRequest(Signal::kTraces, traces.SerializeAsString()).ok());
  EXPECT_TRUE(ValidateExportRequest(Signal::kLogs, "").ok());
}

TEST_F(OtlpWireTest, UnknownFieldsAreAllowed) {
  std::string body = Logs(1, 1, 1, 1).SerializeAsString();
  AppendTag(&body, 77, WireType::kVarint);
  AppendVarint(&body, 1);
  AppendLengthDelimited(&body, 78, "\xff\xff");
  EXPECT_TRUE(ValidateExportRequest(Signal::kLogs, body).ok());
}

TEST_F(OtlpWireTest, WrongWireTypeDeepInADataPointIsInvalid) {
  // NumberDataPoint.time_unix_nano (fixed64) sent as a varint.
  std::string point;
  AppendTag(&point, 3, WireType::kVarint);
  AppendVarint(&point, 5);
  std::string gauge;
  AppendLengthDelimited(&gauge, 1, point);
  std::string metric;
  AppendLengthDelimited(&metric, 5, gauge);
  std::string scope;
  AppendLengthDelimited(&scope, 2, metric);
  std::string resource;
  AppendLengthDelimited(&resource, 2, scope);
  std::string request;
  AppendLengthDelimited(&request, 1, resource);
  absl::Status status = ValidateExportRequest(Signal::kMetrics, request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("NumberDataPoint"), absl::string_view::npos) << status;
}

// Wraps span fields in ExportTraceServiceRequest > ResourceSpans > ScopeSpans > Span.
std::string TraceRequestWithSpanFields(const std::string& span_fields) {
  std::string scope;
  AppendLengthDelimited(&scope, 2, span_fields);
  std::string resource;
  AppendLengthDelimited(&resource, 2, scope);
  std::string request;
  AppendLengthDelimited(&request, 1, resource);
  return request;
}

TEST_F(OtlpWireTest, MalformedAttributeInsideASpanIsInvalid) {
  // KeyValue.value holds an AnyValue whose int_value (varint) is truncated:
  // a target would refuse the whole batch, so the gateway refuses the request.
  std::string any_value = "\x18\xff";
  std::string key_value;
  AppendLengthDelimited(&key_value, 1, "k");
  AppendLengthDelimited(&key_value, 2, any_value);
  std::string span;
  AppendLengthDelimited(&span, 9, key_value);
  absl::Status status = ValidateExportRequest(Signal::kTraces, TraceRequestWithSpanFields(span));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("AnyValue"), absl::string_view::npos) << status;
}

// A span whose only field is one attribute with these KeyValue bytes.
std::string TraceRequestWithAttribute(const std::string& key_value) {
  std::string span;
  AppendLengthDelimited(&span, 9, key_value);
  return TraceRequestWithSpanFields(span);
}

std::string KeyValueBytes(const std::string& key, const std::string& any_value) {
  std::string key_value;
  AppendLengthDelimited(&key_value, 1, key);
  AppendLengthDelimited(&key_value, 2, any_value);
  return key_value;
}

// The validator's inline path for plain attributes gives the answer and the
// message of the general check, on well-formed and malformed attributes.
TEST_F(OtlpWireTest, PlainAttributesAreCheckedLikeEveryOtherMessage) {
  const std::string long_string(300, 's');     // two-byte length
  const std::string longer_string(20000, 's');  // three-byte length: the general path
  const std::vector<std::pair<std::string, bool>> cases = {
      {KeyValueBytes("k", std::string("\x0a\x01v", 3)), true},                     // string_value
      {KeyValueBytes("k", std::string("\x10\x01", 2)), true},                      // bool_value
      {KeyValueBytes("k", std::string("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)), true},  // int -1
      {KeyValueBytes("k", std::string("\x21\x00\x00\x00\x00\x00\x00\xf0\x3f", 9)), true},  // double 1.0
      {KeyValueBytes("k", std::string("\x3a\x02\x00\x01", 4)), true},              // bytes_value
      {KeyValueBytes(long_string, std::string("\x0a\x00", 2)), true},
      {KeyValueBytes("k", "\x0a" + std::string("\xac\x02", 2) + long_string), true},
      {KeyValueBytes("k", std::string("\x0a\xa0\x9c\x01", 4) + longer_string), true},
      {KeyValueBytes("k", std::string("\x0a\x01v\x18\x05", 5)), true},            // two values: the last wins
      {KeyValueBytes("k", "") + std::string("\x18\x07", 2), true},                // unknown field in KeyValue
      {KeyValueBytes("k", std::string("\x40\x01", 2)), true},                     // unknown field in AnyValue
      {KeyValueBytes("", ""), true},                                              // empty key and value
      {KeyValueBytes("k", std::string("\x0a\x05v", 3)), false},                  // string past the end
      {KeyValueBytes("k", std::string("\x0a", 1)), false},                       // string without a length
      {KeyValueBytes("k", std::string("\x18\xff", 2)), false},                   // truncated varint
      {KeyValueBytes("k", std::string("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12)), false},  // 11 bytes
      {KeyValueBytes("k", std::string("\x21\x00\x00\x00", 4)), false},           // double too short
      {KeyValueBytes("k", std::string("\x0b", 1)), false},                       // a group
      {KeyValueBytes("k", std::string("\x08\x01", 2)), false},                   // string_value as a varint
      {KeyValueBytes("k", std::string("\x2a\x03\x0a\x01", 4)), false},           // array past the end
      {std::string("\x0a\x05k", 3), false},                                       // key past the end
      {std::string("\x12", 1), false},                                            // value without a length
      {std::string("\x10\x01", 2), false},                                        // value as a varint
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string request = TraceRequestWithAttribute(cases[i].first);
    const absl::Status status = ValidateExportRequest(Signal::kTraces, request);
    EXPECT_EQ(status.ok(), cases[i].second) << i << ": " << status;
    if (!status.ok()) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << i;
      EXPECT_NE(status.message().find("Span.attributes[0]"), absl::string_view::npos) << i << ": " << status;
    }
    EXPECT_EQ(status, otlp_wire_internal::ValidateWithoutFastPath(Signal::kTraces, request)) << i;
  }
}

// Random attributes, framed correctly from the span outwards but with
// random fields, tags, lengths and values inside: both checks agree on
// every body, answer and message alike.
TEST_F(OtlpWireTest, TheAttributeFastPathAgreesWithTheSchemaOnRandomAttributes) {
  std::mt19937 rng(20261129);
  auto random_bytes = [&](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(rng()));
    return out;
  };
  // One field: mostly a tag the fast path knows, a length off by a little
  // now and then, a value of 0..12 random bytes.
  auto random_field = [&](const std::vector<uint8_t>& tags) {
    std::string field;
    const uint8_t tag = rng() % 8 == 0 ? static_cast<uint8_t>(rng()) : tags[rng() % tags.size()];
    field.push_back(static_cast<char>(tag));
    std::string value = random_bytes(rng() % 13);
    switch (tag & 7) {
      case 2: {
        int64_t length = static_cast<int64_t>(value.size());
        if (rng() % 6 == 0) length += static_cast<int64_t>(rng() % 5) - 2;
        if (length < 0) length = 0;
        if (rng() % 10 == 0) {
          field += std::string("\x80", 1);  // a two-byte length prefix
          field.push_back(static_cast<char>(length));
        } else {
          field.push_back(static_cast<char>(length));
        }
        break;
      }
      case 1:
        value.resize(rng() % 10);  // a double of 0..9 bytes
        break;
      case 0:
        for (char& c : value) c = static_cast<char>(c | 0x80);  // continuation bytes...
        if (rng() % 2 == 0 && !value.empty()) value.back() = static_cast<char>(value.back() & 0x7f);  // ...ended
        break;
      default:
        break;
    }
    return field + value;
  };
  const std::vector<uint8_t> any_value_tags = {0x0a, 0x10, 0x18, 0x21, 0x3a, 0x2a, 0x32, 0x40};
  const std::vector<uint8_t> key_value_tags = {0x0a, 0x12};
  int invalid = 0;
  int invalid_utf8 = 0;
  constexpr int kRounds = 20000;
  for (int round = 0; round < kRounds; ++round) {
    std::string span;
    const int attributes = 1 + static_cast<int>(rng() % 4);
    for (int a = 0; a < attributes; ++a) {
      std::string any_value;
      for (int f = static_cast<int>(rng() % 3); f > 0; --f) any_value += random_field(any_value_tags);
      std::string key_value;
      for (int f = static_cast<int>(rng() % 3); f > 0; --f) {
        if (rng() % 2 == 0) {
          AppendLengthDelimited(&key_value, 2, any_value);
        } else {
          key_value += random_field(key_value_tags);
        }
      }
      AppendLengthDelimited(&span, 9, key_value);
    }
    const std::string body = TraceRequestWithSpanFields(span);
    const absl::Status fast = ValidateExportRequest(Signal::kTraces, body);
    ASSERT_EQ(fast, otlp_wire_internal::ValidateWithoutFastPath(Signal::kTraces, body)) << round;
    if (!fast.ok()) ++invalid;
    // The UTF-8 finding does not change the verdict, and both paths agree on it.
    ValidationNotes fast_notes;
    ValidationNotes slow_notes;
    ASSERT_EQ(ValidateExportRequest(Signal::kTraces, body, &fast_notes), fast) << round;
    ASSERT_EQ(otlp_wire_internal::ValidateWithoutFastPath(Signal::kTraces, body, &slow_notes), fast) << round;
    if (fast.ok()) {
      ASSERT_EQ(fast_notes.invalid_utf8, slow_notes.invalid_utf8) << round;
      invalid_utf8 += fast_notes.invalid_utf8 ? 1 : 0;
    }
  }
  // Both kinds of answer were exercised.
  EXPECT_GT(invalid, kRounds / 10);
  EXPECT_LT(invalid, kRounds * 9 / 10);
  EXPECT_GT(invalid_utf8, kRounds / 20);
}

// Invalid UTF-8 is noted, not an error: the caller decides which items to
// refuse. Only `string` fields count; bytes values may hold anything.
TEST_F(OtlpWireTest, InvalidUtf8InAnyStringIsNotedWithoutFailingValidation) {
  ExportTraceServiceRequest traces;
  auto* span = traces.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_name("caf\xC3\xA9");
  span->add_attributes()->mutable_value()->set_bytes_value("\xFF");
  ValidationNotes notes;
  ASSERT_TRUE(ValidateExportRequest(Signal::kTraces, traces.SerializeAsString(), &notes).ok());
  EXPECT_FALSE(notes.invalid_utf8);

  // A plain attribute (the inline path) and one nested in a list (the schema path).
  auto* plain = span->add_attributes();
  plain->set_key("k");
  plain->mutable_value()->set_string_value("\xED\xA0\x80");
  ASSERT_TRUE(ValidateExportRequest(Signal::kTraces, traces.SerializeAsString(), &notes).ok());
  EXPECT_TRUE(notes.invalid_utf8);
  span->mutable_attributes()->RemoveLast();
  span->add_attributes()->mutable_value()->mutable_array_value()->add_values()->set_string_value("\xC0\xAF");
  notes = ValidationNotes();
  ASSERT_TRUE(ValidateExportRequest(Signal::kTraces, traces.SerializeAsString(), &notes).ok());
  EXPECT_TRUE(notes.invalid_utf8);

  ExportLogsServiceRequest logs;
  logs.add_resource_logs()->add_scope_logs()->add_log_records()->mutable_body()->set_string_value("x\xE2\x82");
  notes = ValidationNotes();
  ASSERT_TRUE(ValidateExportRequest(Signal::kLogs, logs.SerializeAsString(), &notes).ok());
  EXPECT_TRUE(notes.invalid_utf8);
  // Without notes nothing is checked, and the request is as valid.
  EXPECT_TRUE(ValidateExportRequest(Signal::kLogs, logs.SerializeAsString()).ok());
}

TEST_F(OtlpWireTest, NestedAttributesValidateUpToTheDepthLimit) {
  auto nested = [](int levels) {
    std::string value;
    AppendLengthDelimited(&value, 1, "leaf");  // string_value
    for (int i = 0; i < levels; ++i) {
      std::string array;
      AppendLengthDelimited(&array, 1, value);  // ArrayValue.values
      value.clear();
      AppendLengthDelimited(&value, 5, array);  // AnyValue.array_value
    }
    std::string key_value;
    AppendLengthDelimited(&key_value, 1, "k");
    AppendLengthDelimited(&key_value, 2, value);
    std::string span;
    AppendLengthDelimited(&span, 9, key_value);
    return TraceRequestWithSpanFields(span);
  };
  EXPECT_TRUE(ValidateExportRequest(Signal::kTraces, nested(10)).ok());
  EXPECT_EQ(ValidateExportRequest(Signal::kTraces, nested(10000)).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OtlpWireTest, LogBodyIsValidatedAsAnyValue) {
  // LogRecord.body whose bool_value has the fixed64 wire type.
  std::string body;
  AppendTag(&body, 2, WireType::kFixed64);
  body.append(8, '\0');
  std::string record;
  AppendLengthDelimited(&record, 5, body);
  std::string scope;
  AppendLengthDelimited(&scope, 2, record);
  std::string resource;
  AppendLengthDelimited(&resource, 2, scope);
  std::string request;
  AppendLengthDelimited(&request, 1, resource);
  EXPECT_EQ(ValidateExportRequest(Signal::kLogs, request).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OtlpWireTest, MalformedBytesAreInvalid) {
  const std::string body = Logs(1, 1, 2, 5).SerializeAsString();
  EXPECT_EQ(ValidateExportRequest(Signal::kLogs, body.substr(0, body.size() - 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateExportRequest(Signal::kLogs, std::string("\x0b\x0c", 2)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateExportRequest(Signal::kTraces, std::string("\x0a\xff\xff\xff\xff\x0f", 6)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OtlpWireTest, PackedAndUnpackedRepeatedScalarsAreBothAccepted) {
  std::string point;
  AppendTag(&point, 6, WireType::kFixed64);  // bucket_counts, unpacked
  AppendFixed64(&point, 1);
  std::string packed;
  AppendFixed64(&packed, 2);
  AppendLengthDelimited(&point, 6, packed);
  std::string histogram;
  AppendLengthDelimited(&histogram, 1, point);
  std::string metric;
  AppendLengthDelimited(&metric, 9, histogram);
  std::string scope;
  AppendLengthDelimited(&scope, 2, metric);
  std::string resource;
  AppendLengthDelimited(&resource, 2, scope);
  std::string request;
  AppendLengthDelimited(&request, 1, resource);
  EXPECT_TRUE(ValidateExportRequest(Signal::kMetrics, request).ok());
  ExportMetricsServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(request));
  EXPECT_EQ(CountItems(Signal::kMetrics, request), 1);
}

TEST_F(OtlpWireTest, CountsLogRecordsSpansAndDataPointsOfEveryType) {
  EXPECT_EQ(CountItems(Signal::kLogs, Logs(2, 3, 4, 1).SerializeAsString()), 24);
  EXPECT_EQ(CountItems(Signal::kMetrics, Metrics(3).SerializeAsString()), 15);
  ExportTraceServiceRequest traces;
  auto* ss = traces.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < 7; ++i) ss->add_spans()->set_name("s");
  EXPECT_EQ(CountItems(Signal::kTraces, traces.SerializeAsString()), 7);
}

TEST_F(OtlpWireTest, SplitReturnsTheBodyWhenItFits) {
  const std::string body = Logs(1, 1, 3, 10).SerializeAsString();
  std::vector<std::string> parts = SplitExportRequest(Signal::kLogs, body, body.size(), 3);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0], body);
}

TEST_F(OtlpWireTest, SplitLogsRespectsLimitsAndKeepsEveryRecordInPlace) {
  const ExportLogsServiceRequest request = Logs(3, 2, 20, 50);
  const std::string body = request.SerializeAsString();
  for (size_t max_bytes : {size_t{200}, size_t{1000}, size_t{5000}}) {
    for (int64_t max_items : {int64_t{0}, int64_t{1}, int64_t{7}}) {
      std::vector<std::string> parts = SplitExportRequest(Signal::kLogs, body, max_bytes, max_items);
      ASSERT_GT(parts.size(), 1u);
      for (const std::string& part : parts) {
        EXPECT_LE(part.size(), max_bytes);
        if (max_items > 0) {
        EXPECT_LE(CountItems(Signal::kLogs, part), max_items);
      }
        EXPECT_GT(CountItems(Signal::kLogs, part), 0);
      }
      EXPECT_EQ(FlattenLogs(parts), FlattenLogs({body})) << max_bytes << " " << max_items;
    }
  }
}

TEST_F(OtlpWireTest, SplitMetricsDividesAMetricsPointsKeepingItsDescription) {
  const std::string body = Metrics(40).SerializeAsString();
  for (int64_t max_items : {int64_t{0}, int64_t{3}, int64_t{50}}) {
    std::vector<std::string> parts = SplitExportRequest(Signal::kMetrics, body, 400, max_items);
    ASSERT_GT(parts.size(), 1u);
    for (const std::string& part : parts) {
      EXPECT_LE(part.size(), 400u);
      if (max_items > 0) {
        EXPECT_LE(CountItems(Signal::kMetrics, part), max_items);
      }
      EXPECT_TRUE(ValidateExportRequest(Signal::kMetrics, part).ok());
    }
    EXPECT_EQ(FlattenMetrics(parts), FlattenMetrics({body}));
  }
}

TEST_F(OtlpWireTest, AnItemLargerThanTheLimitGoesOutAlone) {
  ExportLogsServiceRequest request = Logs(1, 1, 3, 10);
  request.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(1)->mutable_body()->set_string_value(
      std::string(5000, 'y'));
  const std::string body = request.SerializeAsString();
  std::vector<std::string> parts = SplitExportRequest(Signal::kLogs, body, 1000, 0);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_GT(parts[1].size(), 5000u);
  EXPECT_EQ(CountItems(Signal::kLogs, parts[1]), 1);
  EXPECT_EQ(FlattenLogs(parts), FlattenLogs({body}));
}

TEST_F(OtlpWireTest, SplitTracesKeepsSpansUnderTheirScopes) {
  ExportTraceServiceRequest traces;
  for (int r = 0; r < 2; ++r) {
    auto* rs = traces.add_resource_spans();
    rs->mutable_resource()->add_attributes()->set_key("r" + std::to_string(r));
    auto* ss = rs->add_scope_spans();
    ss->mutable_scope()->set_name("s" + std::to_string(r));
    for (int i = 0; i < 10; ++i) ss->add_spans()->set_name("span-" + std::to_string(r) + "-" + std::to_string(i));
  }
  std::vector<std::string> parts = SplitExportRequest(Signal::kTraces, traces.SerializeAsString(), 10'000, 3);
  ASSERT_EQ(parts.size(), 7u);
  std::vector<std::string> names;
  for (const std::string& part : parts) {
    ExportTraceServiceRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(part));
    for (const auto& rs : parsed.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& span : ss.spans()) {
          EXPECT_EQ(span.name().substr(0, 6), "span-" + ss.scope().name().substr(1));
          EXPECT_EQ(rs.resource().attributes(0).key(), "r" + ss.scope().name().substr(1));
          names.push_back(span.name());
        }
      }
    }
  }
  ASSERT_EQ(names.size(), 20u);
  EXPECT_EQ(names.front(), "span-0-0");
  EXPECT_EQ(names.back(), "span-1-9");
}

}  // namespace
}  // namespace gateway
