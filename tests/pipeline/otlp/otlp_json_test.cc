// OtlpJsonToProto and ExportResponseJson, case by case: ids, names, enums,
// numbers, nesting, invalid input. The differential test against
// libprotobuf's JSON printer is otlp_json_differential_test.cc.
#include "pipeline/otlp/otlp_json.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using ::opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::testing::HasSubstr;

// The matcher Abseil 20220623 lacks: the status is InvalidArgument and its
// message contains `text`.
MATCHER_P(IsInvalidArgumentWith, text, "") {
  if (arg.ok() || arg.status().code() != absl::StatusCode::kInvalidArgument) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  const std::string message(arg.status().message());
  if (message.find(text) == std::string::npos) {
    *result_listener << "message is \"" << message << "\"";
    return false;
  }
  return true;
}

class OtlpJsonTest : public ::testing::Test {
 protected:
  static ExportTraceServiceRequest Traces(std::string_view json) {
    absl::StatusOr<std::string> wire = OtlpJsonToProto(Signal::kTraces, json);
    EXPECT_TRUE(wire.ok()) << wire.status();
    ExportTraceServiceRequest request;
    if (wire.ok()) {
      EXPECT_TRUE(request.ParseFromString(*wire));
    }
    return request;
  }

  // A traces request with one span whose body is `span_fields`.
  static std::string OneSpan(std::string_view span_fields) {
    return absl::StrCat(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{)", ToAbsl(span_fields), "}]}]}]}");
  }

  // A traces request with one span attribute whose AnyValue is `any_value`.
  static std::string OneAttribute(std::string_view any_value) {
    return OneSpan(absl::StrCat(R"("attributes":[{"key":"k","value":)", ToAbsl(any_value), "}]"));
  }

  static const opentelemetry::proto::common::v1::AnyValue& FirstAttribute(const ExportTraceServiceRequest& r) {
    return r.resource_spans(0).scope_spans(0).spans(0).attributes(0).value();
  }
};

TEST_F(OtlpJsonTest, EmptyObjectIsAnEmptyRequest) {
  absl::StatusOr<std::string> wire = OtlpJsonToProto(Signal::kTraces, "{}");
  ASSERT_TRUE(wire.ok()) << wire.status();
  EXPECT_EQ(*wire, "");
}

TEST_F(OtlpJsonTest, DecodesHexIdsOfEitherCase) {
  ExportTraceServiceRequest r = Traces(OneSpan(
      R"("traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"a1a2a3a4a5a6a7a8","parentSpanId":"")"));
  const auto& span = r.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.trace_id(), std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16));
  EXPECT_EQ(span.span_id(), "\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8");
  EXPECT_EQ(span.parent_span_id(), "");
}

TEST_F(OtlpJsonTest, DecodesIdsOfLinksLogRecordsAndExemplars) {
  ExportTraceServiceRequest traces =
      Traces(OneSpan(R"("links":[{"traceId":"000000000000000000000000000000ff","spanId":"00000000000000ee"}])"));
  const auto& link = traces.resource_spans(0).scope_spans(0).spans(0).links(0);
  EXPECT_EQ(link.trace_id().back(), '\xff');
  EXPECT_EQ(link.span_id().back(), '\xee');

  absl::StatusOr<std::string> logs = OtlpJsonToProto(
      Signal::kLogs,
      R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"11111111111111111111111111111111","spanId":"2222222222222222"}]}]}]})");
  ASSERT_TRUE(logs.ok()) << logs.status();
  ExportLogsServiceRequest log_request;
  ASSERT_TRUE(log_request.ParseFromString(*logs));
  EXPECT_EQ(log_request.resource_logs(0).scope_logs(0).log_records(0).trace_id(), std::string(16, '\x11'));
  EXPECT_EQ(log_request.resource_logs(0).scope_logs(0).log_records(0).span_id(), std::string(8, '\x22'));

  absl::StatusOr<std::string> metrics = OtlpJsonToProto(
      Signal::kMetrics,
      R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asInt":"5",)"
      R"("exemplars":[{"traceId":"33333333333333333333333333333333","spanId":"4444444444444444","asDouble":1.5}]}]}}]}]}]})");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ExportMetricsServiceRequest metric_request;
  ASSERT_TRUE(metric_request.ParseFromString(*metrics));
  const auto& point = metric_request.resource_metrics(0).scope_metrics(0).metrics(0).gauge().data_points(0);
  EXPECT_EQ(point.as_int(), 5);
  EXPECT_EQ(point.exemplars(0).trace_id(), std::string(16, '\x33'));
  EXPECT_EQ(point.exemplars(0).span_id(), std::string(8, '\x44'));
  EXPECT_EQ(point.exemplars(0).as_double(), 1.5);
}

TEST_F(OtlpJsonTest, RejectsIdsOfWrongLengthOrNotHexNamingThePath) {
  const std::string json = absl::StrCat(
      R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00000000000000000000000000000001"}]},)",
      R"({"spans":[{},{},{},{"traceId":"abc"}]}]}]})");
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, json),
              IsInvalidArgumentWith("resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("spanId":"000000000000000g")")),
              IsInvalidArgumentWith("spans[0].spanId: expected 16 hex characters"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("parentSpanId":12)")),
              IsInvalidArgumentWith("parentSpanId: expected 16 hex characters"));
  // Base64, as proto3's own JSON mapping would write it, is not OTLP/JSON.
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("traceId":"AAECAwQFBgcICQoLDA0ODw==")")),
              IsInvalidArgumentWith("traceId: expected 32 hex characters"));
}

TEST_F(OtlpJsonTest, AcceptsSnakeCaseNamesAndIgnoresUnknownKeys) {
  ExportTraceServiceRequest r = Traces(
      R"({"resource_spans":[{"unknown":{"deep":[1,2,{"x":null}]},"scope_spans":[{"spans":[)"
      R"({"span_id":"0000000000000001","dropped_attributes_count":3,"name":"n","notAField":"x"}]}]}]})");
  const auto& span = r.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.span_id(), std::string("\0\0\0\0\0\0\0\x01", 8));
  EXPECT_EQ(span.dropped_attributes_count(), 3u);
  EXPECT_EQ(span.name(), "n");
}

TEST_F(OtlpJsonTest, EnumsAsIntegersOrNames) {
  ExportTraceServiceRequest r =
      Traces(OneSpan(R"("kind":3,"status":{"code":"STATUS_CODE_ERROR","message":"boom"})"));
  const auto& span = r.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.kind(), opentelemetry::proto::trace::v1::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(span.status().code(), opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(span.status().message(), "boom");
  EXPECT_EQ(Traces(OneSpan(R"("kind":"SPAN_KIND_CONSUMER")")).resource_spans(0).scope_spans(0).spans(0).kind(),
            opentelemetry::proto::trace::v1::Span::SPAN_KIND_CONSUMER);
  // Open enums keep numbers they do not know.
  EXPECT_EQ(Traces(OneSpan(R"("kind":42)")).resource_spans(0).scope_spans(0).spans(0).kind(), 42);
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("kind":"SPAN_KIND_BOGUS")")),
              IsInvalidArgumentWith("spans[0].kind: expected a SpanKind number or name"));
}

TEST_F(OtlpJsonTest, SixtyFourBitIntegersAsNumbersOrStrings) {
  ExportTraceServiceRequest r = Traces(OneSpan(
      R"("startTimeUnixNano":"18446744073709551615","endTimeUnixNano":1700000000000000000,"flags":769)"));
  const auto& span = r.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.start_time_unix_nano(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(span.end_time_unix_nano(), 1700000000000000000u);
  EXPECT_EQ(span.flags(), 769u);
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"intValue":"-9223372036854775808"})"))).int_value(),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"intValue":-42})"))).int_value(), -42);
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"intValue":1e3})"))).int_value(), 1000);
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("startTimeUnixNano":"18446744073709551616")")),
              IsInvalidArgumentWith("startTimeUnixNano: integer out of range"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("startTimeUnixNano":-1)")),
              IsInvalidArgumentWith("startTimeUnixNano: integer out of range"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("droppedEventsCount":4294967296)")),
              IsInvalidArgumentWith("droppedEventsCount: integer out of range"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("droppedEventsCount":1.5)")),
              IsInvalidArgumentWith("droppedEventsCount: expected an integer"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("startTimeUnixNano":"12x")")),
              IsInvalidArgumentWith("startTimeUnixNano: expected an integer"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("startTimeUnixNano":true)")),
              IsInvalidArgumentWith("startTimeUnixNano: expected an integer"));
}

TEST_F(OtlpJsonTest, DoublesIncludingNonFiniteStrings) {
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":2.5})"))).double_value(), 2.5);
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":7})"))).double_value(), 7.0);
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":"0.125"})"))).double_value(), 0.125);
  EXPECT_TRUE(std::signbit(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":-0})"))).double_value()));
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"intValue":-0})"))).int_value(), 0);
  EXPECT_TRUE(std::isnan(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":"NaN"})"))).double_value()));
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":"Infinity"})"))).double_value(),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":"-Infinity"})"))).double_value(),
            -std::numeric_limits<double>::infinity());
  // Shortest round-trip renderings must come back bit for bit.
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":0.1})"))).double_value(), 0.1);
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":1.7976931348623157e308})"))).double_value(),
            std::numeric_limits<double>::max());
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"doubleValue":5e-324})"))).double_value(),
            std::numeric_limits<double>::denorm_min());
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneAttribute(R"({"doubleValue":"fast"})")),
              IsInvalidArgumentWith("value.doubleValue: expected a number"));
}

TEST_F(OtlpJsonTest, EveryAnyValueMember) {
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"stringValue":"h\u00e9llo"})"))).string_value(), "h\xc3\xa9llo");
  EXPECT_TRUE(FirstAttribute(Traces(OneAttribute(R"({"boolValue":true})"))).bool_value());
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"bytesValue":"AAEC/w=="})"))).bytes_value(),
            std::string("\x00\x01\x02\xff", 4));
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"bytesValue":"AAEC_w"})"))).bytes_value(),
            std::string("\x00\x01\x02\xff", 4));
  const auto array = FirstAttribute(Traces(OneAttribute(R"({"arrayValue":{"values":[{"intValue":"1"},{}]}})")));
  ASSERT_EQ(array.array_value().values_size(), 2);
  EXPECT_EQ(array.array_value().values(0).int_value(), 1);
  EXPECT_EQ(array.array_value().values(1).value_case(), opentelemetry::proto::common::v1::AnyValue::VALUE_NOT_SET);
  const auto kvlist =
      FirstAttribute(Traces(OneAttribute(R"({"kvlistValue":{"values":[{"key":"a","value":{"boolValue":false}}]}})")));
  ASSERT_EQ(kvlist.kvlist_value().values_size(), 1);
  EXPECT_EQ(kvlist.kvlist_value().values(0).key(), "a");
  EXPECT_EQ(kvlist.kvlist_value().values(0).value().value_case(),
            opentelemetry::proto::common::v1::AnyValue::kBoolValue);
  // A oneof member set to its default value is still present.
  EXPECT_EQ(FirstAttribute(Traces(OneAttribute(R"({"intValue":0})"))).value_case(),
            opentelemetry::proto::common::v1::AnyValue::kIntValue);
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneAttribute(R"({"intValue":1,"stringValue":"x"})")),
              IsInvalidArgumentWith("more than one member of a oneof"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneAttribute(R"({"bytesValue":"!!"})")),
              IsInvalidArgumentWith("value.bytesValue: expected a base64 string"));
}

TEST_F(OtlpJsonTest, RepeatedNumbersArePacked) {
  absl::StatusOr<std::string> wire = OtlpJsonToProto(
      Signal::kMetrics,
      R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[{"bucketCounts":["1",2,"3"],)"
      R"("explicitBounds":[0.5,10]}]}}]}]}]})");
  ASSERT_TRUE(wire.ok()) << wire.status();
  ExportMetricsServiceRequest request;
  ASSERT_TRUE(request.ParseFromString(*wire));
  const auto& point = request.resource_metrics(0).scope_metrics(0).metrics(0).histogram().data_points(0);
  EXPECT_THAT(point.bucket_counts(), ::testing::ElementsAre(1u, 2u, 3u));
  EXPECT_THAT(point.explicit_bounds(), ::testing::ElementsAre(0.5, 10.0));
  // Packed: one length-delimited bucket_counts field (6 << 3 | 2) with 24 bytes.
  const std::string packed_bucket_counts("\x32\x18", 2);
  EXPECT_NE(wire->find(packed_bucket_counts), std::string::npos);
}

TEST_F(OtlpJsonTest, ProtoThreeOptionalZeroIsPresent) {
  absl::StatusOr<std::string> wire = OtlpJsonToProto(
      Signal::kMetrics,
      R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[{"sum":0,"min":"-Infinity"}]}}]}]}]})");
  ASSERT_TRUE(wire.ok()) << wire.status();
  ExportMetricsServiceRequest request;
  ASSERT_TRUE(request.ParseFromString(*wire));
  const auto& point = request.resource_metrics(0).scope_metrics(0).metrics(0).histogram().data_points(0);
  EXPECT_TRUE(point.has_sum());
  EXPECT_EQ(point.sum(), 0.0);
  EXPECT_TRUE(point.has_min());
  EXPECT_FALSE(point.has_max());
}

TEST_F(OtlpJsonTest, WrongTypesNameThePath) {
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, R"({"resourceSpans":{}})"),
              IsInvalidArgumentWith("resourceSpans: expected an array"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, R"({"resourceSpans":[[]]})"),
              IsInvalidArgumentWith("resourceSpans[0]: expected an object"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, R"({"resourceSpans":[null]})"),
              IsInvalidArgumentWith("resourceSpans[0]: null in an array"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("name":5)")),
              IsInvalidArgumentWith("spans[0].name: expected a string"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneAttribute(R"({"boolValue":"true"})")),
              IsInvalidArgumentWith("attributes[0].value.boolValue: expected true or false"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, "[]"), IsInvalidArgumentWith("expected a JSON object"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, R"({"resourceSpans":[)"), IsInvalidArgumentWith("invalid JSON"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, "{} x"), IsInvalidArgumentWith("invalid JSON"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, ""), IsInvalidArgumentWith("invalid JSON"));
}

TEST_F(OtlpJsonTest, NullMeansAbsent) {
  ExportTraceServiceRequest r = Traces(OneSpan(R"("name":null,"traceId":null,"attributes":null,"status":null)"));
  const auto& span = r.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.name(), "");
  EXPECT_FALSE(span.has_status());
}

TEST_F(OtlpJsonTest, RejectsInvalidUtf8) {
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan("\"name\":\"a\xff\x62\"")), IsInvalidArgumentWith("UTF-8"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan("\"name\":\"\xc3\"")), IsInvalidArgumentWith("UTF-8"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan("\"na\xe2\x82me\":1")), IsInvalidArgumentWith("UTF-8"));
  // An unpaired surrogate escape is not a character either.
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneSpan(R"("name":"\ud800x")")), IsInvalidArgumentWith("invalid"));
  // Well-formed multi-byte text passes through unchanged.
  EXPECT_EQ(Traces(OneSpan("\"name\":\"\xe2\x82\xac \xf0\x9f\x98\x80 \\ud83d\\ude00\"")).resource_spans(0)
                .scope_spans(0)
                .spans(0)
                .name(),
            "\xe2\x82\xac \xf0\x9f\x98\x80 \xf0\x9f\x98\x80");
}

// An AnyValue nested `levels` arrays deep.
std::string NestedArrays(int levels) {
  std::string json;
  for (int i = 0; i < levels; ++i) json += R"({"arrayValue":{"values":[)";
  json += R"({"intValue":"1"})";
  for (int i = 0; i < levels; ++i) json += "]}}";
  return json;
}

TEST_F(OtlpJsonTest, AcceptsNestingUpToTheLimit) {
  // Request, ResourceSpans, ScopeSpans, Span, KeyValue: 5 levels; then each
  // array level adds AnyValue and ArrayValue; the innermost AnyValue is one more.
  absl::StatusOr<std::string> wire = OtlpJsonToProto(Signal::kTraces, OneAttribute(NestedArrays(29)));
  ASSERT_TRUE(wire.ok()) << wire.status();
  ExportTraceServiceRequest request;
  EXPECT_TRUE(request.ParseFromString(*wire));
}

TEST_F(OtlpJsonTest, RejectsNestingDeeperThanSixtyFourWithoutCrashing) {
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneAttribute(NestedArrays(30))),
              IsInvalidArgumentWith("nesting deeper than 64 levels"));
  // Far deeper than any stack could take recursively.
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, OneAttribute(NestedArrays(100000))),
              IsInvalidArgumentWith("nested deeper"));
  EXPECT_THAT(OtlpJsonToProto(Signal::kTraces, std::string(200000, '[')), IsInvalidArgumentWith("nested deeper"));
}

TEST_F(OtlpJsonTest, LongPayloadsGetMultiByteLengths) {
  const std::string long_name(100000, 'x');
  ExportTraceServiceRequest r =
      Traces(OneSpan(absl::StrCat(R"("name":")", long_name, R"(","attributes":[{"key":"k","value":{"stringValue":")",
                                  std::string(300, 'y'), R"("}}])")));
  EXPECT_EQ(r.resource_spans(0).scope_spans(0).spans(0).name(), long_name);
  EXPECT_EQ(FirstAttribute(r).string_value(), std::string(300, 'y'));
}

TEST_F(OtlpJsonTest, ExportResponseJson) {
  EXPECT_EQ(ExportResponseJson(Signal::kTraces, 0, ""), "{}");
  EXPECT_EQ(ExportResponseJson(Signal::kTraces, 3, ""), R"({"partialSuccess":{"rejectedSpans":"3"}})");
  EXPECT_EQ(ExportResponseJson(Signal::kMetrics, 2, "too \"old\""),
            R"({"partialSuccess":{"rejectedDataPoints":"2","errorMessage":"too \"old\""}})");
  EXPECT_EQ(ExportResponseJson(Signal::kLogs, 0, "warn"),
            R"({"partialSuccess":{"rejectedLogRecords":"0","errorMessage":"warn"}})");
  // What we write, libprotobuf reads back.
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(ExportResponseJson(Signal::kTraces, 7, "x\ny"), &response).ok());
  EXPECT_EQ(response.partial_success().rejected_spans(), 7);
  EXPECT_EQ(response.partial_success().error_message(), "x\ny");
}

}  // namespace
}  // namespace gateway
