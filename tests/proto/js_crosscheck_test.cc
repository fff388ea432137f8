// Cross-checks our OTLP protos against a third party: the OpenTelemetry JS
// SDK serializes traces, metrics and logs (tests/proto/js/serialize_otlp.js)
// and our generated C++ classes must find every value where the SDK put it.
// A wrong field number or type leaves a value unknown or misplaced, and this
// test fails.
//
// Needs Node.js and the packages of tests/js: GATEWAY_NODE_MODULES names
// their node_modules (scripts/test_all.sh passes it with --test_env).

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/wait.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace {

using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using ::opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::common::v1::AnyValue;
using ::opentelemetry::proto::common::v1::KeyValue;
using ::opentelemetry::proto::metrics::v1::Metric;
using ::opentelemetry::proto::trace::v1::Span;
using ::testing::ElementsAre;

std::string Bytes(std::string_view hex) { return absl::HexStringToBytes(absl::string_view(hex.data(), hex.size())); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Appends the paths of every message below `message` that holds fields our
// schema does not know: where a third party writes a number we do not have.
void CollectUnknownFields(const Message& message, const std::string& path, std::vector<std::string>* out) {
  const auto* reflection = message.GetReflection();
  if (reflection->GetUnknownFields(message).field_count() > 0) {
    std::string numbers;
    const auto& unknown = reflection->GetUnknownFields(message);
    for (int i = 0; i < unknown.field_count(); ++i) absl::StrAppend(&numbers, " ", unknown.field(i).number());
    out->push_back(absl::StrCat(path.empty() ? "<root>" : path, " has unknown field(s)", numbers));
  }
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        CollectUnknownFields(reflection->GetRepeatedMessage(message, field, i),
                             absl::StrCat(path, ".", field->name(), "[", i, "]"), out);
      }
    } else {
      CollectUnknownFields(reflection->GetMessage(message, field), absl::StrCat(path, ".", field->name()), out);
    }
  }
}

const AnyValue* Attribute(const google::protobuf::RepeatedPtrField<KeyValue>& attributes, std::string_view key) {
  for (const KeyValue& kv : attributes) {
    if (kv.key() == key) return &kv.value();
  }
  return nullptr;
}

// The value of attribute `key`, or (with a test failure) an empty value.
const AnyValue& Value(const google::protobuf::RepeatedPtrField<KeyValue>& attributes, std::string_view key) {
  const AnyValue* value = Attribute(attributes, key);
  if (value != nullptr) return *value;
  ADD_FAILURE() << "no attribute \"" << key << "\"";
  return AnyValue::default_instance();
}

class JsCrosscheckTest : public ::testing::Test {
 protected:
  // Runs the JS serializer once for the whole suite.
  static void SetUpTestSuite() {
    const char* node_modules = std::getenv("GATEWAY_NODE_MODULES");
    if (node_modules == nullptr || *node_modules == '\0') {
      setup_error_ =
          "GATEWAY_NODE_MODULES is not set: run scripts/test_all.sh, or pass "
          "--test_env=GATEWAY_NODE_MODULES=$PWD/tests/js/node_modules --test_env=PATH=/usr/local/bin:/usr/bin:/bin "
          "after `npm install` in tests/js";
      return;
    }
    const char* srcdir = std::getenv("TEST_SRCDIR");
    const char* workspace = std::getenv("TEST_WORKSPACE");
    const char* tmpdir = std::getenv("TEST_TMPDIR");
    if (srcdir == nullptr || workspace == nullptr || tmpdir == nullptr) {
      setup_error_ = "TEST_SRCDIR, TEST_WORKSPACE or TEST_TMPDIR is not set: run under bazel test";
      return;
    }
    const std::string script = absl::StrCat(srcdir, "/", workspace, "/tests/proto/js/serialize_otlp.js");
    outdir_ = absl::StrCat(tmpdir, "/js_otlp");
    const std::string command =
        absl::StrCat("NODE_PATH='", node_modules, "' node '", script, "' '", outdir_, "' 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
      setup_error_ = "cannot start node";
      return;
    }
    std::string output;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    const int status = pclose(pipe);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      setup_error_ = absl::StrCat("`", command, "` failed (status ", status, "; 127 means node is not on PATH):\n",
                                  output);
    }
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  template <typename Request>
  static void Load(const std::string& name, Request* request) {
    const std::string bytes = ReadFile(absl::StrCat(outdir_, "/", name, ".pb"));
    ASSERT_FALSE(bytes.empty()) << name << ".pb is empty or missing";
    ASSERT_TRUE(request->ParseFromString(bytes)) << name << ".pb does not parse as " << Request::descriptor()->name();
    std::vector<std::string> unknown;
    CollectUnknownFields(*request, "", &unknown);
    EXPECT_THAT(unknown, ::testing::IsEmpty()) << "fields written by the JS SDK that our protos do not declare";
  }

  static const Span* SpanNamed(const ExportTraceServiceRequest& request, std::string_view name) {
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const Span& span : ss.spans()) {
          if (span.name() == name) return &span;
        }
      }
    }
    return nullptr;
  }

  static const Metric* MetricNamed(const ExportMetricsServiceRequest& request, std::string_view name) {
    for (const auto& rm : request.resource_metrics()) {
      for (const auto& sm : rm.scope_metrics()) {
        for (const Metric& metric : sm.metrics()) {
          if (metric.name() == name) return &metric;
        }
      }
    }
    return nullptr;
  }

  template <typename Resource>
  static void ExpectCrosscheckResource(const Resource& resource) {
    ASSERT_EQ(resource.attributes_size(), 3);
    const AnyValue* name = Attribute(resource.attributes(), "service.name");
    ASSERT_NE(name, nullptr);
    EXPECT_EQ(name->string_value(), "crosscheck");
    const AnyValue* instance = Attribute(resource.attributes(), "service.instance.id");
    ASSERT_NE(instance, nullptr);
    EXPECT_EQ(instance->value_case(), AnyValue::kIntValue);
    EXPECT_EQ(instance->int_value(), 7);
    const AnyValue* flag = Attribute(resource.attributes(), "host.arch.flag");
    ASSERT_NE(flag, nullptr);
    EXPECT_EQ(flag->value_case(), AnyValue::kBoolValue);
    EXPECT_TRUE(flag->bool_value());
  }

  static constexpr std::string_view kResourceSchemaUrl = "https://opentelemetry.io/schemas/1.26.0";
  static constexpr std::string_view kScopeSchemaUrl = "https://opentelemetry.io/schemas/1.24.0";

  static inline std::string setup_error_;
  static inline std::string outdir_;
};

TEST_F(JsCrosscheckTest, TracesResourceAndScope) {
  ExportTraceServiceRequest request;
  ASSERT_NO_FATAL_FAILURE(Load("traces", &request));
  ASSERT_EQ(request.resource_spans_size(), 1);
  const auto& rs = request.resource_spans(0);
  ExpectCrosscheckResource(rs.resource());
  EXPECT_EQ(rs.schema_url(), kResourceSchemaUrl);
  ASSERT_EQ(rs.scope_spans_size(), 1);
  EXPECT_EQ(rs.scope_spans(0).scope().name(), "crosscheck-scope");
  EXPECT_EQ(rs.scope_spans(0).scope().version(), "1.2.3");
  EXPECT_EQ(rs.scope_spans(0).schema_url(), kScopeSchemaUrl);
  EXPECT_EQ(rs.scope_spans(0).spans_size(), 5);
}

TEST_F(JsCrosscheckTest, ConsumerSpanIdsKindFlagsTimesAndStatus) {
  ExportTraceServiceRequest request;
  ASSERT_NO_FATAL_FAILURE(Load("traces", &request));
  const Span* span = SpanNamed(request, "orders process");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->trace_id(), Bytes("0af7651916cd43dd8448eb211c80319c"));
  EXPECT_EQ(span->span_id(), Bytes("a000000000000001"));
  EXPECT_EQ(span->parent_span_id(), Bytes("b7ad6b7169203331"));
  EXPECT_EQ(span->kind(), Span::SPAN_KIND_CONSUMER);
  // Sampled, has-is-remote, is-remote (the parent came from another process).
  EXPECT_EQ(span->flags(), 0x301u);
  EXPECT_EQ(span->start_time_unix_nano(), 1700000000123456789u);
  EXPECT_EQ(span->end_time_unix_nano(), 1700000001000000000u);
  EXPECT_EQ(span->status().code(), opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(span->status().message(), "queue unavailable");
  EXPECT_EQ(span->trace_state(), "");
}

TEST_F(JsCrosscheckTest, ConsumerSpanAttributesOfEveryTypeAndDroppedCounts) {
  ExportTraceServiceRequest request;
  ASSERT_NO_FATAL_FAILURE(Load("traces", &request));
  const Span* span = SpanNamed(request, "orders process");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->attributes_size(), 9);
  EXPECT_EQ(span->dropped_attributes_count(), 2u);
  const AnyValue* s = Attribute(span->attributes(), "s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value_case(), AnyValue::kStringValue);
  EXPECT_EQ(s->string_value(), "text");
  const AnyValue* b = Attribute(span->attributes(), "b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->value_case(), AnyValue::kBoolValue);
  EXPECT_TRUE(b->bool_value());
  const AnyValue* i = Attribute(span->attributes(), "i");
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->value_case(), AnyValue::kIntValue);
  EXPECT_EQ(i->int_value(), 42);
  const AnyValue* neg = Attribute(span->attributes(), "neg");
  ASSERT_NE(neg, nullptr);
  EXPECT_EQ(neg->int_value(), -7);
  const AnyValue* d = Attribute(span->attributes(), "d");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->value_case(), AnyValue::kDoubleValue);
  EXPECT_EQ(d->double_value(), 2.5);

  const AnyValue* as = Attribute(span->attributes(), "as");
  ASSERT_NE(as, nullptr);
  ASSERT_EQ(as->value_case(), AnyValue::kArrayValue);
  ASSERT_EQ(as->array_value().values_size(), 2);
  EXPECT_EQ(as->array_value().values(0).string_value(), "x");
  EXPECT_EQ(as->array_value().values(1).string_value(), "y");
  const AnyValue* ab = Attribute(span->attributes(), "ab");
  ASSERT_NE(ab, nullptr);
  ASSERT_EQ(ab->array_value().values_size(), 2);
  EXPECT_EQ(ab->array_value().values(0).value_case(), AnyValue::kBoolValue);
  EXPECT_TRUE(ab->array_value().values(0).bool_value());
  EXPECT_FALSE(ab->array_value().values(1).bool_value());
  const AnyValue* ai = Attribute(span->attributes(), "ai");
  ASSERT_NE(ai, nullptr);
  ASSERT_EQ(ai->array_value().values_size(), 3);
  EXPECT_EQ(ai->array_value().values(2).int_value(), 3);
  const AnyValue* ad = Attribute(span->attributes(), "ad");
  ASSERT_NE(ad, nullptr);
  ASSERT_EQ(ad->array_value().values_size(), 2);
  EXPECT_EQ(ad->array_value().values(0).double_value(), 0.5);
  EXPECT_EQ(ad->array_value().values(1).double_value(), 1.5);
}

TEST_F(JsCrosscheckTest, ConsumerSpanEventsAndLinks) {
  ExportTraceServiceRequest request;
  ASSERT_NO_FATAL_FAILURE(Load("traces", &request));
  const Span* span = SpanNamed(request, "orders process");
  ASSERT_NE(span, nullptr);

  ASSERT_EQ(span->events_size(), 2);
  EXPECT_EQ(span->dropped_events_count(), 1u);
  EXPECT_EQ(span->events(0).name(), "second");
  EXPECT_EQ(span->events(0).time_unix_nano(), 1700000000300000000u);
  ASSERT_EQ(span->events(0).attributes_size(), 1);
  EXPECT_EQ(span->events(0).attributes(0).key(), "event.a");
  EXPECT_EQ(span->events(0).attributes(0).value().int_value(), 1);
  EXPECT_EQ(span->events(0).dropped_attributes_count(), 1u);
  EXPECT_EQ(span->events(1).name(), "third");
  EXPECT_EQ(span->events(1).time_unix_nano(), 1700000000400000000u);

  ASSERT_EQ(span->links_size(), 2);
  EXPECT_EQ(span->dropped_links_count(), 1u);
  const Span::Link& local = span->links(0);
  EXPECT_EQ(local.trace_id(), Bytes("11111111111111111111111111111111"));
  EXPECT_EQ(local.span_id(), Bytes("2222222222222222"));
  EXPECT_EQ(local.flags(), 0x100u);  // has-is-remote, not remote, not sampled
  const Span::Link& remote = span->links(1);
  EXPECT_EQ(remote.trace_id(), Bytes("4bf92f3577b34da6a3ce929d0e0e4736"));
  EXPECT_EQ(remote.span_id(), Bytes("00f067aa0ba902b7"));
  EXPECT_EQ(remote.trace_state(), "vendor=abc,other=x1");
  EXPECT_EQ(remote.flags(), 0x301u);
  ASSERT_EQ(remote.attributes_size(), 1);
  EXPECT_EQ(remote.attributes(0).key(), "link.a");
  EXPECT_EQ(remote.attributes(0).value().string_value(), "kept");
  EXPECT_EQ(remote.dropped_attributes_count(), 1u);
}

TEST_F(JsCrosscheckTest, ChildSpansOfEveryOtherKind) {
  ExportTraceServiceRequest request;
  ASSERT_NO_FATAL_FAILURE(Load("traces", &request));
  const Span::SpanKind kinds[] = {Span::SPAN_KIND_INTERNAL, Span::SPAN_KIND_SERVER, Span::SPAN_KIND_CLIENT,
                                  Span::SPAN_KIND_PRODUCER};
  for (int i = 0; i < 4; ++i) {
    const Span* span = SpanNamed(request, absl::StrCat("child ", i));
    ASSERT_NE(span, nullptr) << i;
    EXPECT_EQ(span->kind(), kinds[i]) << i;
    EXPECT_EQ(span->trace_id(), Bytes("0af7651916cd43dd8448eb211c80319c"));
    EXPECT_EQ(span->span_id(), Bytes(absl::StrCat("a00000000000000", i + 2)));
    EXPECT_EQ(span->parent_span_id(), Bytes("a000000000000001"));
    EXPECT_EQ(span->flags(), 0x101u) << i;  // sampled, has-is-remote, local parent
    EXPECT_EQ(span->end_time_unix_nano(), 1700000000600000000u + i);
    EXPECT_EQ(span->status().code(), i == 0 ? opentelemetry::proto::trace::v1::Status::STATUS_CODE_OK
                                            : opentelemetry::proto::trace::v1::Status::STATUS_CODE_UNSET);
  }
}

TEST_F(JsCrosscheckTest, MetricsOfEveryType) {
  ExportMetricsServiceRequest request;
  ASSERT_NO_FATAL_FAILURE(Load("metrics", &request));
  ASSERT_EQ(request.resource_metrics_size(), 1);
  const auto& rm = request.resource_metrics(0);
  ExpectCrosscheckResource(rm.resource());
  EXPECT_EQ(rm.schema_url(), kResourceSchemaUrl);
  ASSERT_EQ(rm.scope_metrics_size(), 1);
  EXPECT_EQ(rm.scope_metrics(0).scope().name(), "crosscheck-meter");
  EXPECT_EQ(rm.scope_metrics(0).scope().version(), "0.1.0");
  EXPECT_EQ(rm.scope_metrics(0).schema_url(), kScopeSchemaUrl);
  EXPECT_EQ(rm.scope_metrics(0).metrics_size(), 5);
  constexpr auto kCumulative = opentelemetry::proto::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE;

  const Metric* gauge = MetricNamed(request, "temperature");
  ASSERT_NE(gauge, nullptr);
  EXPECT_EQ(gauge->unit(), "Cel");
  EXPECT_EQ(gauge->description(), "a gauge");
  ASSERT_EQ(gauge->data_case(), Metric::kGauge);
  ASSERT_EQ(gauge->gauge().data_points_size(), 1);
  const auto& gauge_point = gauge->gauge().data_points(0);
  EXPECT_EQ(gauge_point.value_case(), opentelemetry::proto::metrics::v1::NumberDataPoint::kAsDouble);
  EXPECT_EQ(gauge_point.as_double(), 21.5);
  ASSERT_EQ(gauge_point.attributes_size(), 1);
  EXPECT_EQ(gauge_point.attributes(0).key(), "room");
  EXPECT_EQ(gauge_point.attributes(0).value().string_value(), "a");
  EXPECT_GT(gauge_point.time_unix_nano(), 1600000000000000000u);
  EXPECT_LE(gauge_point.start_time_unix_nano(), gauge_point.time_unix_nano());

  const Metric* counter = MetricNamed(request, "requests");
  ASSERT_NE(counter, nullptr);
  EXPECT_EQ(counter->unit(), "{request}");
  ASSERT_EQ(counter->data_case(), Metric::kSum);
  EXPECT_TRUE(counter->sum().is_monotonic());
  EXPECT_EQ(counter->sum().aggregation_temporality(), kCumulative);
  ASSERT_EQ(counter->sum().data_points_size(), 1);
  EXPECT_EQ(counter->sum().data_points(0).as_double(), 3.0);
  EXPECT_EQ(counter->sum().data_points(0).attributes(0).key(), "route");

  const Metric* up_down = MetricNamed(request, "queue.depth");
  ASSERT_NE(up_down, nullptr);
  ASSERT_EQ(up_down->data_case(), Metric::kSum);
  EXPECT_FALSE(up_down->sum().is_monotonic());
  EXPECT_EQ(up_down->sum().aggregation_temporality(), kCumulative);
  ASSERT_EQ(up_down->sum().data_points_size(), 1);
  EXPECT_EQ(up_down->sum().data_points(0).value_case(), opentelemetry::proto::metrics::v1::NumberDataPoint::kAsInt);
  EXPECT_EQ(up_down->sum().data_points(0).as_int(), -4);

  const Metric* histogram = MetricNamed(request, "latency");
  ASSERT_NE(histogram, nullptr);
  ASSERT_EQ(histogram->data_case(), Metric::kHistogram);
  EXPECT_EQ(histogram->histogram().aggregation_temporality(), kCumulative);
  ASSERT_EQ(histogram->histogram().data_points_size(), 1);
  const auto& h = histogram->histogram().data_points(0);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_TRUE(h.has_sum());
  EXPECT_EQ(h.sum(), 562.5);
  EXPECT_EQ(h.min(), 0.5);
  EXPECT_EQ(h.max(), 500.0);
  EXPECT_THAT(h.bucket_counts(), ElementsAre(1u, 2u, 1u, 1u));
  EXPECT_THAT(h.explicit_bounds(), ElementsAre(1.0, 10.0, 100.0));

  const Metric* exponential = MetricNamed(request, "latency.exp");
  ASSERT_NE(exponential, nullptr);
  ASSERT_EQ(exponential->data_case(), Metric::kExponentialHistogram);
  EXPECT_EQ(exponential->exponential_histogram().aggregation_temporality(), kCumulative);
  ASSERT_EQ(exponential->exponential_histogram().data_points_size(), 1);
  const auto& e = exponential->exponential_histogram().data_points(0);
  EXPECT_EQ(e.count(), 4u);
  EXPECT_EQ(e.sum(), 15.0);
  EXPECT_EQ(e.min(), 1.0);
  EXPECT_EQ(e.max(), 8.0);
  EXPECT_EQ(e.scale(), 5);
  EXPECT_EQ(e.zero_count(), 0u);
  EXPECT_EQ(e.positive().offset(), -1);
  uint64_t positive_total = 0;
  for (uint64_t c : e.positive().bucket_counts()) positive_total += c;
  EXPECT_EQ(positive_total, 4u);
  EXPECT_EQ(e.positive().bucket_counts(0), 1u);
  EXPECT_EQ(e.positive().bucket_counts(e.positive().bucket_counts_size() - 1), 1u);
  EXPECT_EQ(e.negative().bucket_counts_size(), 0);
}

TEST_F(JsCrosscheckTest, LogRecordFields) {
  ExportLogsServiceRequest request;
  ASSERT_NO_FATAL_FAILURE(Load("logs", &request));
  ASSERT_EQ(request.resource_logs_size(), 1);
  const auto& rl = request.resource_logs(0);
  ExpectCrosscheckResource(rl.resource());
  EXPECT_EQ(rl.schema_url(), kResourceSchemaUrl);
  ASSERT_EQ(rl.scope_logs_size(), 1);
  EXPECT_EQ(rl.scope_logs(0).scope().name(), "crosscheck-logger");
  EXPECT_EQ(rl.scope_logs(0).scope().version(), "9.9.9");
  EXPECT_EQ(rl.scope_logs(0).schema_url(), kScopeSchemaUrl);
  ASSERT_EQ(rl.scope_logs(0).log_records_size(), 1);
  const auto& record = rl.scope_logs(0).log_records(0);
  EXPECT_EQ(record.time_unix_nano(), 1700000002000000005u);
  EXPECT_EQ(record.observed_time_unix_nano(), 1700000003000000006u);
  EXPECT_EQ(record.severity_number(), opentelemetry::proto::logs::v1::SEVERITY_NUMBER_WARN);
  EXPECT_EQ(record.severity_text(), "WARN");
  EXPECT_EQ(record.event_name(), "order.rejected");
  EXPECT_EQ(record.trace_id(), Bytes("5b8efff798038103d269b633813fc60c"));
  EXPECT_EQ(record.span_id(), Bytes("eee19b7ec3c1b174"));
  EXPECT_EQ(record.flags(), 1u);

  ASSERT_EQ(record.attributes_size(), 2);
  EXPECT_EQ(Value(record.attributes(), "log.attr").string_value(), "v");
  EXPECT_EQ(Value(record.attributes(), "log.int").int_value(), 11);

  ASSERT_EQ(record.body().value_case(), AnyValue::kKvlistValue);
  const auto& body = record.body().kvlist_value().values();
  ASSERT_EQ(body.size(), 7);
  EXPECT_EQ(Value(body, "reason").string_value(), "stock");
  EXPECT_EQ(Value(body, "count").int_value(), 3);
  EXPECT_EQ(Value(body, "ratio").double_value(), 0.25);
  EXPECT_EQ(Value(body, "ok").value_case(), AnyValue::kBoolValue);
  EXPECT_FALSE(Value(body, "ok").bool_value());
  ASSERT_EQ(Value(body, "tags").array_value().values_size(), 2);
  EXPECT_EQ(Value(body, "tags").array_value().values(1).string_value(), "b");
  const AnyValue* nested = &Value(body, "nested");
  ASSERT_EQ(nested->value_case(), AnyValue::kKvlistValue);
  EXPECT_EQ(nested->kvlist_value().values(0).key(), "deep");
  EXPECT_EQ(nested->kvlist_value().values(0).value().string_value(), "yes");
  const AnyValue* raw = &Value(body, "raw");
  ASSERT_EQ(raw->value_case(), AnyValue::kBytesValue);
  EXPECT_EQ(raw->bytes_value(), std::string("\x00\x01\xfe\xff", 4));
}

}  // namespace
