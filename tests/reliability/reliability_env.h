// Shared pieces of the reliability tests: a gateway started in-process on
// 127.0.0.1 port 0 exporting to a FakeDynatrace, span requests with unique
// ids, raw gRPC and HTTP clients that send exactly the bytes a test gives,
// and span bookkeeping at the fake.
//
//   std::unique_ptr<FakeDynatrace> dt = *FakeDynatrace::Start({});
//   GatewayConfig config = ReliabilityConfig(*dt);
//   std::unique_ptr<GatewayApp> app = *StartGateway(config, {});
//   SpanFactory spans;
//   grpc::Status s = GrpcExportRaw(app->grpc_port(), kTraceExport, spans.Request(10).SerializeAsString());
//   std::map<std::string, int> seen = SpanIdCounts(*dt);
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/config/config.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/sync.h"
#include "tests/fakes/fake_dynatrace.h"
#include "tests/gateway/receivers/http_test_client.h"

namespace gateway::reliability {

using ::gateway::testing::FakeDynatrace;
using ::gateway::testing::RawHttpClient;
using ::gateway::testing::RawHttpResponse;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

inline constexpr char kTraceExport[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
inline constexpr char kLogsExport[] = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

// Loopback listeners, the fake as Dynatrace target, short batching, holds
// and backoffs so a test finishes in seconds.
inline GatewayConfig ReliabilityConfig(const FakeDynatrace& dynatrace) {
  GatewayConfig config;
  config.grpc.endpoint = "127.0.0.1:0";
  config.http.endpoint = "127.0.0.1:0";
  config.admin.endpoint = "127.0.0.1:0";
  config.http.threads = 2;
  config.exporter.type = ExporterType::kDynatrace;
  config.exporter.dynatrace.endpoint = dynatrace.url();
  config.exporter.dynatrace.api_token = "test-token";
  config.exporter.timeout = absl::Seconds(2);
  config.exporter.retry.initial_interval = absl::Milliseconds(20);
  config.exporter.retry.max_interval = absl::Milliseconds(200);
  config.reparent.hold_window = absl::Milliseconds(200);
  config.reparent.shards = 2;
  config.batch.timeout = absl::Milliseconds(20);
  config.shutdown.drain_timeout = absl::Seconds(5);
  // In process, the gateway's RSS is the test's too (its requests, its
  // clients, a sanitizer's overhead): no process bound here. The bound is
  // tested on the binary (memory_bound_test.sh) and with a fake RSS
  // (gateway_app_test).
  config.queue.process_memory_limit_mib = -1;
  return config;
}

// Requests of spans with ids unique within the factory (span id = counter).
class SpanFactory {
 public:
  explicit SpanFactory(uint64_t first_id = 1) : next_(first_id) {}

  ExportTraceServiceRequest Request(int spans) {
    ExportTraceServiceRequest request;
    auto* rs = request.add_resource_spans();
    auto* attr = rs->mutable_resource()->add_attributes();
    attr->set_key("service.name");
    attr->mutable_value()->set_string_value("reliability");
    auto* ss = rs->add_scope_spans();
    const uint64_t now = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
    for (int i = 0; i < spans; ++i) {
      const uint64_t id = next_++;
      auto* span = ss->add_spans();
      span->set_trace_id(IdBytes(0x7000000000000000ULL, id));
      span->set_span_id(IdBytes(id));
      span->set_name("op");
      span->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
      span->set_start_time_unix_nano(now);
      span->set_end_time_unix_nano(now + 1000);
    }
    return request;
  }

  // 8 big-endian bytes of `id`, optionally prefixed by 8 bytes of `high`.
  static std::string IdBytes(uint64_t id) {
    std::string out(8, '\0');
    for (int i = 7; i >= 0; --i, id >>= 8) out[i] = static_cast<char>(id & 0xff);
    return out;
  }
  static std::string IdBytes(uint64_t high, uint64_t low) { return IdBytes(high) + IdBytes(low); }

 private:
  uint64_t next_;
};

// A unary call with `body` as the raw request bytes (no client-side
// serialization, so malformed protobuf reaches the server as is).
inline grpc::Status GrpcExportRaw(int port, const std::string& method, const std::string& body,
                                  absl::Duration timeout = absl::Seconds(10)) {
  static auto* channels = new std::map<int, std::shared_ptr<grpc::Channel>>();
  static auto* mu = new Mutex();
  std::shared_ptr<grpc::Channel> channel;
  {
    MutexLock lock(mu);
    auto& c = (*channels)[port];
    if (c == nullptr) {
      grpc::ChannelArguments args;
      args.SetMaxSendMessageSize(64 << 20);
      c = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args);
    }
    channel = c;
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), grpc::internal::RpcMethod(method.c_str(), grpc::internal::RpcMethod::NORMAL_RPC), &context,
      request, &response);
}

// One HTTP/1.1 GET on a fresh connection (the admin endpoint's /metrics,
// /readyz, /status.json); status 0 when it could not connect or no answer
// came within 5 s.
inline RawHttpResponse HttpGet(int port, const std::string& path) {
  RawHttpClient client(port);
  if (!client.connected()) return {};
  client.Send("GET " + path + " HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n");
  return client.ReadResponse(absl::Seconds(5));
}

// One HTTP/1.1 POST on a fresh connection.
inline RawHttpResponse HttpPost(int port, std::string_view path, std::string_view content_type, const std::string& body,
                                std::string_view extra_headers = "", absl::Duration timeout = absl::Seconds(10)) {
  RawHttpClient client(port);
  if (!client.connected()) return {};
  std::string head = "POST " + std::string(path) + " HTTP/1.1\r\nHost: gateway\r\nContent-Type: " +
                     std::string(content_type) + "\r\n" + std::string(extra_headers) +
                     "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  // A server may answer early (413 for an oversized body) and close while
  // the body is still being sent; the send then fails but the answer is
  // readable, as it is for curl.
  client.Send(head + body);
  return client.ReadResponse(timeout);
}

// How often each span id arrived at the fake (2xx-answered requests only).
inline std::map<std::string, int> SpanIdCounts(const FakeDynatrace& dynatrace) {
  std::map<std::string, int> counts;
  for (const auto& rs : dynatrace.ReceivedSpans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) ++counts[span.span_id()];
    }
  }
  return counts;
}

// Waits until every id in `ids` has arrived at the fake, or `timeout`
// passed; returns how often each span id arrived (as SpanIdCounts).
inline std::map<std::string, int> WaitForSpanIds(const FakeDynatrace& dynatrace, const std::vector<std::string>& ids,
                                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::map<std::string, int> counts;
  while (true) {
    counts = SpanIdCounts(dynatrace);
    size_t present = 0;
    for (const std::string& id : ids) present += counts.count(id);
    if (present == ids.size() || absl::Now() >= deadline) return counts;
    dynatrace.WaitForRequests(dynatrace.RequestCount() + 1, std::min(deadline, absl::Now() + absl::Milliseconds(200)));
  }
}

// The value of an unlabelled gauge or counter in Prometheus text, or -1.
inline double MetricValue(const std::string& prometheus, const std::string& name) {
  size_t pos = 0;
  while ((pos = prometheus.find(name, pos)) != std::string::npos) {
    const bool line_start = pos == 0 || prometheus[pos - 1] == '\n';
    const size_t after = pos + name.size();
    if (line_start && after < prometheus.size() && prometheus[after] == ' ') {
      const size_t end = prometheus.find('\n', after);
      double value = -1;
      if (absl::SimpleAtod(prometheus.substr(after + 1, end - after - 1), &value)) return value;
      return -1;
    }
    pos = after;
  }
  return -1;
}

}  // namespace gateway::reliability
