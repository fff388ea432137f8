// Writes the seed corpora under tests/fuzz/corpus/<target>/ from requests
// shaped like real clients' (OpenTelemetry SDK exports: resources with
// service attributes, producer and consumer spans with links, events, every
// metric type, log records with structured bodies), plus a few edge cases.
//
//   bazel run //tests/fuzz:make_corpus -- $PWD/tests/fuzz/corpus
//
// Deterministic: the same binary writes the same files.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/request_generator.h"
#include "pipeline/otlp/gzip.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "zlib.h"

namespace {

namespace common = ::opentelemetry::proto::common::v1;
namespace trace = ::opentelemetry::proto::trace::v1;
namespace metrics = ::opentelemetry::proto::metrics::v1;
namespace logs = ::opentelemetry::proto::logs::v1;
using ::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using ::opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

std::filesystem::path g_root;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::filesystem::path dir = g_root / target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Id(int n, uint8_t seed) {
  std::string id(n, '\0');
  for (int i = 0; i < n; ++i) id[i] = static_cast<char>(seed + i * 7 + 1);
  return id;
}

void Attr(google::protobuf::RepeatedPtrField<common::KeyValue>* attrs, const std::string& key,
          const std::string& value) {
  common::KeyValue* kv = attrs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

void Resource(opentelemetry::proto::resource::v1::Resource* resource, const std::string& service) {
  Attr(resource->mutable_attributes(), "service.name", service);
  Attr(resource->mutable_attributes(), "telemetry.sdk.language", "nodejs");
  common::KeyValue* kv = resource->mutable_attributes()->Add();
  kv->set_key("process.pid");
  kv->mutable_value()->set_int_value(4242);
}

// A producer -> consumer hop: the consumer span links to the producer.
ExportTraceServiceRequest Hop(int variant) {
  ExportTraceServiceRequest request;
  trace::ResourceSpans* rs = request.add_resource_spans();
  Resource(rs->mutable_resource(), variant % 2 ? "orders" : "billing");
  rs->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  trace::ScopeSpans* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("@opentelemetry/instrumentation-amqplib");
  ss->mutable_scope()->set_version("0.46.0");
  trace::Span* producer = ss->add_spans();
  producer->set_trace_id(Id(16, 1));
  producer->set_span_id(Id(8, 2));
  producer->set_name("orders publish");
  producer->set_kind(trace::Span::SPAN_KIND_PRODUCER);
  producer->set_start_time_unix_nano(1'700'000'000'000'000'000ULL);
  producer->set_end_time_unix_nano(1'700'000'000'100'000'000ULL);
  Attr(producer->mutable_attributes(), "messaging.system", variant % 3 ? "rabbitmq" : "aws_sqs");
  trace::Span* consumer = ss->add_spans();
  consumer->set_trace_id(Id(16, 9));
  consumer->set_span_id(Id(8, 10));
  consumer->set_name("orders process");
  consumer->set_kind(trace::Span::SPAN_KIND_CONSUMER);
  consumer->set_flags(variant % 2 ? 0x301 : 0x101);
  consumer->set_start_time_unix_nano(1'700'000'000'200'000'000ULL);
  consumer->set_end_time_unix_nano(1'700'000'000'300'000'000ULL);
  trace::Span::Link* link = consumer->add_links();
  link->set_trace_id(producer->trace_id());
  link->set_span_id(producer->span_id());
  link->set_trace_state("dt=1");
  link->set_flags(0x101);
  Attr(link->mutable_attributes(), "messaging.message.id", "m-1");
  trace::Span* child = ss->add_spans();
  child->set_trace_id(consumer->trace_id());
  child->set_span_id(Id(8, 20));
  child->set_parent_span_id(consumer->span_id());
  child->set_name("db insert");
  child->set_kind(trace::Span::SPAN_KIND_CLIENT);
  trace::Span::Event* event = child->add_events();
  event->set_name("exception");
  Attr(event->mutable_attributes(), "exception.message", "deadlock");
  child->mutable_status()->set_code(trace::Status::STATUS_CODE_ERROR);
  child->mutable_status()->set_message("deadlock");
  if (variant >= 2) {
    // A second resource, nested attribute values, a second link.
    trace::ResourceSpans* rs2 = request.add_resource_spans();
    Resource(rs2->mutable_resource(), "shipping");
    trace::Span* s = rs2->add_scope_spans()->add_spans();
    s->set_trace_id(Id(16, 30));
    s->set_span_id(Id(8, 31));
    s->set_kind(trace::Span::SPAN_KIND_CONSUMER);
    common::KeyValue* kv = s->add_attributes();
    kv->set_key("nested");
    common::ArrayValue* array = kv->mutable_value()->mutable_array_value();
    array->add_values()->set_double_value(1.5);
    array->add_values()->set_bool_value(true);
    common::KeyValueList* list = array->add_values()->mutable_kvlist_value();
    common::KeyValue* inner = list->add_values();
    inner->set_key("bytes");
    inner->mutable_value()->set_bytes_value(std::string("\x00\xff", 2));
    *s->add_links() = *link;
    trace::Span::Link* bad_link = s->add_links();
    bad_link->set_trace_id(Id(15, 3));
    bad_link->set_span_id(Id(8, 3));
  }
  return request;
}

ExportTraceServiceRequest BadIds() {
  ExportTraceServiceRequest request = Hop(0);
  trace::ScopeSpans* ss = request.mutable_resource_spans(0)->mutable_scope_spans(0);
  ss->mutable_spans(0)->set_trace_id(Id(15, 1));
  ss->mutable_spans(1)->set_span_id(std::string(8, '\0'));
  ss->mutable_spans(2)->set_parent_span_id(Id(4, 1));
  return request;
}

ExportMetricsServiceRequest Metrics(int variant) {
  ExportMetricsServiceRequest request;
  metrics::ResourceMetrics* rm = request.add_resource_metrics();
  Resource(rm->mutable_resource(), "orders");
  metrics::ScopeMetrics* sm = rm->add_scope_metrics();
  sm->mutable_scope()->set_name("meter");
  metrics::Metric* gauge = sm->add_metrics();
  gauge->set_name("queue.depth");
  gauge->set_unit("1");
  for (int i = 0; i < 1 + variant; ++i) {
    metrics::NumberDataPoint* p = gauge->mutable_gauge()->add_data_points();
    p->set_time_unix_nano(1'700'000'000'000'000'000ULL + i);
    p->set_as_int(i);
    Attr(p->mutable_attributes(), "queue", "q" + std::to_string(i));
  }
  metrics::Metric* sum = sm->add_metrics();
  sum->set_name("requests");
  sum->mutable_sum()->set_is_monotonic(true);
  sum->mutable_sum()->set_aggregation_temporality(metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  sum->mutable_sum()->add_data_points()->set_as_double(3.25);
  if (variant >= 1) {
    metrics::Metric* histogram = sm->add_metrics();
    histogram->set_name("latency");
    metrics::HistogramDataPoint* h = histogram->mutable_histogram()->add_data_points();
    h->set_count(3);
    h->set_sum(1.5);
    h->add_bucket_counts(1);
    h->add_bucket_counts(2);
    h->add_explicit_bounds(0.5);
    h->add_exemplars()->set_as_double(0.7);
  }
  if (variant >= 2) {
    metrics::Metric* exp = sm->add_metrics();
    exp->set_name("size");
    metrics::ExponentialHistogramDataPoint* e = exp->mutable_exponential_histogram()->add_data_points();
    e->set_scale(3);
    e->set_zero_count(1);
    e->mutable_positive()->add_bucket_counts(4);
    e->mutable_negative()->set_offset(-2);
    metrics::Metric* summary = sm->add_metrics();
    summary->set_name("gc");
    metrics::SummaryDataPoint* s = summary->mutable_summary()->add_data_points();
    s->set_count(2);
    metrics::SummaryDataPoint::ValueAtQuantile* q = s->add_quantile_values();
    q->set_quantile(0.99);
    q->set_value(12);
    metrics::ResourceMetrics* rm2 = request.add_resource_metrics();
    Resource(rm2->mutable_resource(), "billing");
    *rm2->add_scope_metrics() = *sm;
  }
  return request;
}

ExportLogsServiceRequest Logs(int variant) {
  ExportLogsServiceRequest request;
  logs::ResourceLogs* rl = request.add_resource_logs();
  Resource(rl->mutable_resource(), "orders");
  logs::ScopeLogs* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("logger");
  for (int i = 0; i < 1 + 2 * variant; ++i) {
    logs::LogRecord* r = sl->add_log_records();
    r->set_time_unix_nano(1'700'000'000'000'000'000ULL + i);
    r->set_severity_number(logs::SEVERITY_NUMBER_INFO);
    r->set_severity_text("INFO");
    r->mutable_body()->set_string_value("order " + std::to_string(i) + " shipped");
    r->set_trace_id(Id(16, 5));
    r->set_span_id(Id(8, 6));
    Attr(r->mutable_attributes(), "order.id", std::to_string(1000 + i));
  }
  if (variant >= 2) {
    logs::ScopeLogs* sl2 = rl->add_scope_logs();
    logs::LogRecord* r = sl2->add_log_records();
    common::KeyValueList* body = r->mutable_body()->mutable_kvlist_value();
    common::KeyValue* kv = body->add_values();
    kv->set_key("event");
    kv->mutable_value()->mutable_array_value()->add_values()->set_int_value(-1);
  }
  return request;
}

std::string Deflate(const std::string& data) {
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  std::string out(size, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(data.data()),
            static_cast<uLong>(data.size()), 6);
  out.resize(size);
  return out;
}

const char* const kTraceJson[] = {
    R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orders"}}]},"scopeSpans":[{"scope":{"name":"amqplib","version":"0.46.0"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"orders process","kind":5,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,"flags":769,"attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":1.5e300}},{"key":"b","value":{"boolValue":true}}],"links":[{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175","traceState":"dt=1","attributes":[]}],"events":[{"timeUnixNano":"1544712660500000000","name":"ev"}],"status":{"code":2,"message":"boom"}}]}],"schemaUrl":"https://opentelemetry.io/schemas/1.21.0"}]})",
    R"({"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B174","kind":"SPAN_KIND_CONSUMER","attributes":[{"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"x"},{"kvlistValue":{"values":[{"key":"k","value":{"bytesValue":"AAEC"}}]}}]}}}]}]}]}]})",
    R"({"resourceSpans":[]})",
    R"({})",
    R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"","spanId":"","name":"\u00e9\ud83d\ude00\n"}]}]}]})",
};

const char* const kMetricsJson[] = {
    R"({"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orders"}}]},"scopeMetrics":[{"scope":{"name":"m"},"metrics":[{"name":"g","unit":"1","gauge":{"dataPoints":[{"asInt":"7","timeUnixNano":"1"},{"asDouble":-0.0}]}},{"name":"s","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asDouble":"NaN"}]}},{"name":"h","histogram":{"aggregationTemporality":1,"dataPoints":[{"count":"3","sum":1.5,"bucketCounts":["1","2"],"explicitBounds":[0.5],"exemplars":[{"asDouble":0.7,"spanId":"eee19b7ec3c1b174","traceId":"5b8efff798038103d269b633813fc60c"}]}]}}]}]}]})",
    R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"e","exponentialHistogram":{"dataPoints":[{"scale":-3,"zeroCount":1,"positive":{"offset":-2,"bucketCounts":[4,5]}}]}},{"name":"q","summary":{"dataPoints":[{"count":2,"quantileValues":[{"quantile":0.99,"value":"Infinity"}]}]}}]}]}]})",
};

const char* const kLogsJson[] = {
    R"({"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orders"}}]},"scopeLogs":[{"scope":{"name":"l"},"logRecords":[{"timeUnixNano":"1544712660000000000","observedTimeUnixNano":"1544712660000000001","severityNumber":9,"severityText":"INFO","body":{"stringValue":"order shipped"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","flags":1,"attributes":[{"key":"a","value":{"doubleValue":2}}]}]}]}]})",
    R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"k","value":{"arrayValue":{"values":[{"intValue":1},{"stringValue":"s"}]}}}]}},"severityNumber":"SEVERITY_NUMBER_WARN"}]}]}]})",
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus <corpus dir>\n");
    return 2;
  }
  g_root = argv[1];

  std::vector<std::string> traces;
  for (int v = 0; v < 4; ++v) traces.push_back(Hop(v).SerializeAsString());
  traces.push_back(BadIds().SerializeAsString());
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    gateway::TraceRequestShape shape;
    shape.resources = static_cast<int>(seed);
    shape.scopes_per_resource = 2;
    shape.spans = static_cast<int>(4 * seed);
    shape.span_bytes = 120;
    shape.consumer_fraction = 0.5;
    shape.spans_per_trace = 3;
    traces.push_back(gateway::MakeTraceRequest(shape, seed));
  }
  traces.push_back("");
  std::vector<std::string> metrics_bodies;
  std::vector<std::string> logs_bodies;
  for (int v = 0; v < 3; ++v) {
    metrics_bodies.push_back(Metrics(v).SerializeAsString());
    logs_bodies.push_back(Logs(v).SerializeAsString());
  }

  for (size_t i = 0; i < traces.size(); ++i) Write("trace_wire", "seed_" + std::to_string(i), traces[i]);

  // otlp_wire: [signal (0 metrics, 1 logs)][byte bound][item bound][body].
  int n = 0;
  for (const std::string& body : metrics_bodies) {
    for (const char* head : {"\x00\x00\x01", "\x00\x10\x00", "\x00\xff\x02"}) {
      Write("otlp_wire", "seed_" + std::to_string(n++), std::string(head, 3) + body);
    }
  }
  for (const std::string& body : logs_bodies) {
    for (const char* head : {"\x01\x00\x01", "\x01\x10\x00", "\x01\xff\x02"}) {
      Write("otlp_wire", "seed_" + std::to_string(n++), std::string(head, 3) + body);
    }
  }

  // otlp_json: [signal][JSON].
  n = 0;
  for (const char* json : kTraceJson) Write("otlp_json", "seed_" + std::to_string(n++), std::string(1, '\0') + json);
  for (const char* json : kMetricsJson) Write("otlp_json", "seed_" + std::to_string(n++), std::string(1, '\1') + json);
  for (const char* json : kLogsJson) Write("otlp_json", "seed_" + std::to_string(n++), std::string(1, '\2') + json);

  // gzip: [limit KiB][0 gzip / 1 deflate][body].
  n = 0;
  for (const std::string& body : {traces[0], traces[3], metrics_bodies[2], logs_bodies[1], std::string(5000, 'a')}) {
    Write("gzip", "seed_" + std::to_string(n++), std::string("\x40\x00", 2) + gateway::GzipCompress(body, 6));
    Write("gzip", "seed_" + std::to_string(n++), std::string("\x01\x00", 2) + gateway::GzipCompress(body, 1));
    Write("gzip", "seed_" + std::to_string(n++), std::string("\x40\x01", 2) + Deflate(body));
  }
  Write("gzip", "seed_" + std::to_string(n++),
        std::string("\x40\x00", 2) + gateway::GzipCompress("a", 6) + gateway::GzipCompress("b", 6));

  // http_request: [Ingest answer][raw HTTP/1.1 request].
  n = 0;
  auto http = [&n](char mode, const std::string& head, const std::string& body) {
    std::string raw(1, mode);
    raw += head;
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    Write("http_request", "seed_" + std::to_string(n++), raw);
  };
  const std::string proto_head = "POST /v1/traces HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-protobuf\r\n";
  http(0, proto_head, traces[2]);
  http(1, proto_head, traces[4]);
  http(2, proto_head, traces[0]);
  http(3, proto_head, traces[1]);
  http(0, proto_head + "Content-Encoding: gzip\r\n", gateway::GzipCompress(traces[3], 6));
  http(0, proto_head + "Content-Encoding: deflate\r\n", Deflate(traces[0]));
  http(0, "POST /v1/traces HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n", kTraceJson[0]);
  http(0, "POST /v1/traces?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Type: Application/JSON; charset=utf-8\r\n",
       kTraceJson[1]);
  http(0, "POST /v1/metrics HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n", kMetricsJson[0]);
  http(4, "POST /v1/metrics HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-protobuf\r\n", metrics_bodies[2]);
  http(0, "POST /v1/logs HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n", kLogsJson[1]);
  http(0, "POST /v1/logs HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\n",
       gateway::GzipCompress(logs_bodies[2], 6));
  http(0, "POST /v1/traces HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\n", "hello");
  http(0, "POST /v1/traces HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: br\r\n", "x");
  http(0, "GET /v1/traces HTTP/1.1\r\nHost: gw\r\n", "");
  http(0, "POST /v2/spans HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n", "{}");
  http(0, "OPTIONS /v1/traces HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example.com\r\n"
          "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n", "");
  http(0, "POST /v1/traces HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example.com\r\nContent-Type: application/json\r\n",
       kTraceJson[3]);
  {
    std::string raw(1, '\0');
    raw += "POST /v1/traces HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    raw += "5\r\n{\"res\r\n10\r\nourceSpans\":[]} \r\n0\r\n\r\n";
    Write("http_request", "seed_" + std::to_string(n++), raw);
  }
  return 0;
}
