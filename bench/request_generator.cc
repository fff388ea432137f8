#include "bench/request_generator.h"

#include <algorithm>
#include <random>
#include <string>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::Span;

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() | 1);  // never all zero
  return out;
}

void AddStringAttribute(Span* span, const std::string& key, const std::string& value) {
  auto* kv = span->add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

void AddIntAttribute(Span* span, const std::string& key, int64_t value) {
  auto* kv = span->add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_int_value(value);
}

std::string Digits(std::mt19937_64& rng, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>('0' + rng() % 10));
  return out;
}

std::string Address(std::mt19937_64& rng) {
  return "10.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
}

// Attributes an instrumented service's SDK records for a span of this kind
// (OpenTelemetry semantic conventions), with values of realistic length.
void AddConventionAttributes(Span* span, std::mt19937_64& rng) {
  switch (span->kind()) {
    case Span::SPAN_KIND_SERVER:
      AddStringAttribute(span, "http.request.method", "GET");
      AddStringAttribute(span, "url.scheme", "https");
      AddStringAttribute(span, "url.path", "/api/v1/orders/" + Digits(rng, 8));
      AddStringAttribute(span, "http.route", "/api/v1/orders/{id}");
      AddStringAttribute(span, "server.address", "orders.internal.example.com");
      AddIntAttribute(span, "server.port", 443);
      AddStringAttribute(span, "network.protocol.version", "1.1");
      AddStringAttribute(span, "client.address", Address(rng));
      AddStringAttribute(span, "user_agent.original",
                         "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0");
      AddIntAttribute(span, "http.response.status_code", 200);
      break;
    case Span::SPAN_KIND_CONSUMER:
      AddStringAttribute(span, "messaging.system", "aws_sqs");
      AddStringAttribute(span, "messaging.operation.type", "process");
      AddStringAttribute(span, "messaging.destination.name", "orders-events");
      AddStringAttribute(span, "messaging.message.id",
                         Digits(rng, 8) + "-" + Digits(rng, 4) + "-" + Digits(rng, 4) + "-" + Digits(rng, 12));
      AddIntAttribute(span, "messaging.batch.message_count", static_cast<int64_t>(1 + rng() % 10));
      AddStringAttribute(span, "cloud.region", "eu-west-1");
      AddStringAttribute(span, "cloud.account.id", Digits(rng, 12));
      AddStringAttribute(span, "code.function", "handleOrderEvent");
      break;
    default:
      AddStringAttribute(span, "db.system", "postgresql");
      AddStringAttribute(span, "db.namespace", "orders");
      AddStringAttribute(span, "db.operation.name", "SELECT");
      AddStringAttribute(span, "db.query.text",
                         "SELECT id, status, total FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 50");
      AddStringAttribute(span, "server.address", "orders-db.cluster-abc123.eu-west-1.rds.amazonaws.com");
      AddIntAttribute(span, "server.port", 5432);
      AddStringAttribute(span, "network.peer.address", Address(rng));
      AddIntAttribute(span, "db.response.returned_rows", static_cast<int64_t>(rng() % 50));
      break;
  }
}

}  // namespace

std::string MakeTraceRequest(const TraceRequestShape& shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  ExportTraceServiceRequest request;
  const int resources = std::max(1, shape.resources);
  const int scopes = std::max(1, shape.scopes_per_resource);
  const int per_trace = std::max(1, shape.spans_per_trace);
  const int groups = resources * scopes;

  std::string trace_id;
  std::string root_id;
  int span_number = 0;
  for (int r = 0; r < resources; ++r) {
    auto* rs = request.add_resource_spans();
    auto* resource = rs->mutable_resource();
    auto* name = resource->add_attributes();
    name->set_key("service.name");
    name->mutable_value()->set_string_value("service-" + std::to_string(r));
    auto* cloud = resource->add_attributes();
    cloud->set_key("cloud.provider");
    cloud->mutable_value()->set_string_value("aws");
    rs->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
    for (int s = 0; s < scopes; ++s) {
      auto* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name("io.opentelemetry.lib-" + std::to_string(s));
      ss->mutable_scope()->set_version("1.0.0");
      const int group = r * scopes + s;
      const int count = shape.spans / groups + (group < shape.spans % groups ? 1 : 0);
      for (int i = 0; i < count; ++i, ++span_number) {
        Span* span = ss->add_spans();
        if (span_number % per_trace == 0) {
          trace_id = RandomBytes(rng, 16);
          root_id = RandomBytes(rng, 8);
          span->set_span_id(root_id);
          span->set_kind(Span::SPAN_KIND_SERVER);
        } else {
          span->set_span_id(RandomBytes(rng, 8));
          span->set_parent_span_id(root_id);
          span->set_kind(Span::SPAN_KIND_CLIENT);
        }
        span->set_trace_id(trace_id);
        span->set_name("GET /api/v1/orders/{id}");
        const uint64_t start = 1'700'000'000'000'000'000ull + static_cast<uint64_t>(span_number) * 1000;
        span->set_start_time_unix_nano(start);
        span->set_end_time_unix_nano(start + 500 + rng() % 100'000);
        span->set_flags(0x101);
        if (unit(rng) < shape.consumer_fraction) {
          span->set_kind(Span::SPAN_KIND_CONSUMER);
          span->set_flags(0x301);
          auto* link = span->add_links();
          link->set_trace_id(RandomBytes(rng, 16));
          link->set_span_id(RandomBytes(rng, 8));
          link->set_flags(0x301);
          auto* attr = link->add_attributes();
          attr->set_key("messaging.message.id");
          attr->mutable_value()->set_string_value(std::to_string(rng()));
          if (shape.attributes == TraceRequestShape::Attributes::kOnePadding) {
            AddStringAttribute(span, "messaging.system", "aws_sqs");
            AddStringAttribute(span, "messaging.operation", "process");
          }
        }
        span->mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_OK);
        const size_t target = static_cast<size_t>(std::max(0, shape.span_bytes));
        if (shape.attributes == TraceRequestShape::Attributes::kSemanticConventions) {
          AddConventionAttributes(span, rng);
          // Application attributes of ~40 bytes each until the span is about
          // span_bytes long.
          for (int a = 0; span->ByteSizeLong() + 40 <= target; ++a) {
            AddStringAttribute(span, "app.attribute." + std::to_string(a), "value-" + Digits(rng, 16));
          }
        } else {
          AddStringAttribute(span, "http.method", "GET");
          AddIntAttribute(span, "http.status_code", 200);
          const size_t current = span->ByteSizeLong();
          if (current + 30 < target) {
            AddStringAttribute(span, "app.payload", std::string(target - current - 30, 'p'));
          }
        }
      }
    }
  }
  return request.SerializeAsString();
}

}  // namespace gateway
