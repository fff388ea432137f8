#include "gateway/gateway_app.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "pipeline/otlp/trace_ids.h"
#include "tests/fakes/fake_dynatrace.h"
#include "tests/fakes/fake_resident_memory.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using ::opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
using ::opentelemetry::proto::collector::logs::v1::LogsService;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using ::opentelemetry::proto::collector::trace::v1::TraceService;
using ::opentelemetry::proto::trace::v1::Span;
using ::gateway::testing::FakeDynatrace;

std::string Bytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

const std::string kProducerTrace = Bytes("0af7651916cd43dd8448eb211c80319c");
const std::string kProducerSpan = Bytes("b7ad6b7169203331");
const std::string kConsumerTrace = Bytes("11111111111111111111111111111111");
const std::string kConsumerSpan = Bytes("c000000000000001");
const std::string kChildSpan = Bytes("c000000000000002");

Span* AddSpan(ExportTraceServiceRequest* request, const std::string& trace, const std::string& id,
              const std::string& parent, Span::SpanKind kind, const std::string& name) {
  auto* rs = request->resource_spans_size() ? request->mutable_resource_spans(0) : request->add_resource_spans();
  if (!rs->has_resource()) {
    auto* attr = rs->mutable_resource()->add_attributes();
    attr->set_key("service.name");
    attr->mutable_value()->set_string_value("orders");
  }
  auto* ss = rs->scope_spans_size() ? rs->mutable_scope_spans(0) : rs->add_scope_spans();
  Span* span = ss->add_spans();
  span->set_trace_id(trace);
  span->set_span_id(id);
  span->set_parent_span_id(parent);
  span->set_kind(kind);
  span->set_name(name);
  span->set_start_time_unix_nano(absl::ToUnixNanos(absl::Now()));
  span->set_end_time_unix_nano(absl::ToUnixNanos(absl::Now()));
  return span;
}

class GatewayAppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
  }

  GatewayConfig Config() const {
    GatewayConfig config;
    config.grpc.endpoint = "127.0.0.1:0";
    config.http.endpoint = "127.0.0.1:0";
    config.admin.endpoint = "127.0.0.1:0";
    config.exporter.type = ExporterType::kDynatrace;
    config.exporter.dynatrace.endpoint = dynatrace_->url();
    config.exporter.dynatrace.api_token = "test-token";
    config.exporter.retry.initial_interval = absl::Milliseconds(50);
    config.exporter.retry.max_interval = absl::Milliseconds(200);
    config.reparent.hold_window = absl::Seconds(5);
    config.reparent.shards = 2;
    config.batch.timeout = absl::Milliseconds(20);
    config.shutdown.drain_timeout = absl::Seconds(2);
    // In process the RSS is the test's too: tests of the process bound set
    // one and give the app a fake RSS.
    config.queue.process_memory_limit_mib = -1;
    return config;
  }

  static std::unique_ptr<GatewayApp> Start(const GatewayConfig& config) {
    absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, {});
    EXPECT_TRUE(app.ok()) << app.status();
    return app.ok() ? *std::move(app) : nullptr;
  }

  static grpc::Status Export(const GatewayApp& app, const ExportTraceServiceRequest& request) {
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(app.grpc_port()),
                                       grpc::InsecureChannelCredentials());
    auto stub = TraceService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ExportTraceServiceResponse response;
    return stub->Export(&context, request, &response);
  }

  std::map<std::string, Span> ReceivedById() const {
    std::map<std::string, Span> spans;
    for (const auto& rs : dynatrace_->ReceivedSpans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const Span& span : ss.spans()) spans[span.span_id()] = span;
      }
    }
    return spans;
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
};

TEST_F(GatewayAppTest, ConsumerAndItsEarlierExportedChildArriveInTheProducersTrace) {
  std::unique_ptr<GatewayApp> app = Start(Config());
  ASSERT_NE(app, nullptr);

  // The child ends first, so the SDK exports it in an earlier request.
  ExportTraceServiceRequest first;
  AddSpan(&first, kConsumerTrace, kChildSpan, kConsumerSpan, Span::SPAN_KIND_CLIENT, "db.query");
  ASSERT_TRUE(Export(*app, first).ok());

  ExportTraceServiceRequest second;
  AddSpan(&second, kProducerTrace, kProducerSpan, "", Span::SPAN_KIND_PRODUCER, "publish");
  Span* consumer = AddSpan(&second, kConsumerTrace, kConsumerSpan, "", Span::SPAN_KIND_CONSUMER, "process");
  auto* link = consumer->add_links();
  link->set_trace_id(kProducerTrace);
  link->set_span_id(kProducerSpan);
  ASSERT_TRUE(Export(*app, second).ok());

  ASSERT_TRUE(dynatrace_->WaitForSpans(3, absl::Now() + absl::Seconds(20)));
  std::map<std::string, Span> spans = ReceivedById();
  ASSERT_EQ(spans.size(), 3u);
  const Span& out_consumer = spans[kConsumerSpan];
  EXPECT_EQ(out_consumer.trace_id(), kProducerTrace);
  EXPECT_EQ(out_consumer.parent_span_id(), kProducerSpan);
  EXPECT_EQ(out_consumer.links_size(), 0);
  const Span& out_child = spans[kChildSpan];
  EXPECT_EQ(out_child.trace_id(), kProducerTrace);
  EXPECT_EQ(out_child.parent_span_id(), kConsumerSpan);
  EXPECT_EQ(spans[kProducerSpan].trace_id(), kProducerTrace);
  EXPECT_EQ(app->metrics().CounterValue("gateway_spans_reparented_total"), 1);
  app->Shutdown();
}

TEST_F(GatewayAppTest, ProcessMemoryLimitPushesClientsBackUntilMemoryFalls) {
  GatewayConfig config = Config();
  config.queue.process_memory_limit_mib = 64;
  testing::FakeResidentMemory memory;
  memory.bytes = 63 << 20;  // past the refuse mark, far under queue.memory_limit_mib's budget
  GatewayAppDeps deps;
  deps.resident_memory = &memory;
  absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, std::move(deps));
  ASSERT_TRUE(app.ok()) << app.status();
  // The guard samples on its own thread: wait (bounded) for its verdict.
  for (int i = 0; i < 1000 && (*app)->metrics().CounterValue("gateway_memory_pressure_total") == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ((*app)->metrics().CounterValue("gateway_memory_pressure_total"), 1);

  ExportTraceServiceRequest request;
  AddSpan(&request, kConsumerTrace, kConsumerSpan, "", Span::SPAN_KIND_INTERNAL, "work");
  EXPECT_EQ(Export(**app, request).error_code(), grpc::StatusCode::UNAVAILABLE);

  memory.bytes = 20 << 20;
  grpc::Status status;
  for (int i = 0; i < 200; ++i) {
    status = Export(**app, request);
    if (status.ok()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(dynatrace_->WaitForRequests(1, absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(ReceivedById().count(kConsumerSpan), 1u);
  // The fate tables are bounded by a quarter of the process bound.
  const std::string text = (*app)->metrics().RenderPrometheus();
  const size_t at = text.find("\ngateway_reparent_table_bytes ");
  ASSERT_NE(at, std::string::npos) << text;
  const double table_bytes = std::stod(text.substr(at + std::string("\ngateway_reparent_table_bytes ").size()));
  EXPECT_LE(table_bytes, 16 << 20);
  (*app)->Shutdown();
}

TEST_F(GatewayAppTest, WithinAProcessBoundTheTelemetryBudgetIsAtMostAnEighthOfIt) {
  auto budget_bytes = [&](int64_t memory_limit_mib, int64_t process_limit_mib) {
    GatewayConfig config = Config();
    config.queue.memory_limit_mib = memory_limit_mib;
    config.queue.process_memory_limit_mib = process_limit_mib;
    testing::FakeResidentMemory memory;  // far under every bound
    memory.bytes = 1 << 20;
    GatewayAppDeps deps;
    deps.resident_memory = &memory;
    absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, std::move(deps));
    EXPECT_TRUE(app.ok()) << app.status();
    if (!app.ok()) return int64_t{-1};
    const std::string text = (*app)->metrics().RenderPrometheus();
    (*app)->Shutdown();
    const size_t at = text.find("\ngateway_memory_limit_bytes ");
    EXPECT_NE(at, std::string::npos) << text;
    if (at == std::string::npos) return int64_t{-1};
    return static_cast<int64_t>(std::stoll(text.substr(at + std::string("\ngateway_memory_limit_bytes ").size())));
  };
  EXPECT_EQ(budget_bytes(256, 64), int64_t{8} << 20);   // lowered to 64 / 8
  EXPECT_EQ(budget_bytes(4, 64), int64_t{4} << 20);     // already under it: kept
  EXPECT_EQ(budget_bytes(256, -1), int64_t{256} << 20);  // no process bound
}

TEST_F(GatewayAppTest, TheDefaultConfigurationBoundsTheProcessAndTheTablesInBytes) {
  GatewayConfig config = Config();
  config.queue.process_memory_limit_mib = GatewayConfig{}.queue.process_memory_limit_mib;
  ASSERT_EQ(config.queue.process_memory_limit_mib, 0);  // the default: the container's, else 256 MiB
  testing::FakeResidentMemory memory;
  memory.bytes = 1 << 20;
  GatewayAppDeps deps;
  deps.resident_memory = &memory;
  absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, std::move(deps));
  ASSERT_TRUE(app.ok()) << app.status();
  const std::string text = (*app)->metrics().RenderPrometheus();
  (*app)->Shutdown();
  auto gauge = [&](const std::string& name) {
    const size_t at = text.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name << "\n" << text;
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  const double process = gauge("gateway_process_memory_limit_bytes");
  EXPECT_GT(process, 0);
  EXPECT_EQ(gauge("gateway_reparent_table_bytes_limit"), std::max(1.0, std::floor(process / 4)));
  EXPECT_EQ(gauge("gateway_held_spans_limit"), std::min(1e6, std::max(1.0, std::floor(process / 8 / 640))));
  EXPECT_LE(gauge("gateway_memory_limit_bytes"), 256.0 * (1 << 20));
  EXPECT_GE(gauge("gateway_held_span_bytes"), 0);
}

TEST_F(GatewayAppTest, LogsPassThroughByteIdentical) {
  std::unique_ptr<GatewayApp> app = Start(Config());
  ASSERT_NE(app, nullptr);
  ExportLogsServiceRequest request;
  auto* record = request.add_resource_logs()->add_scope_logs()->add_log_records();
  record->mutable_body()->set_string_value("hello");
  record->set_time_unix_nano(absl::ToUnixNanos(absl::Now()));
  auto stub = LogsService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(app->grpc_port()),
                                                       grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  ExportLogsServiceResponse response;
  ASSERT_TRUE(stub->Export(&context, request, &response).ok());
  ASSERT_TRUE(dynatrace_->WaitForRequests(1, absl::Now() + absl::Seconds(10)));
  std::vector<FakeDynatrace::ReceivedRequest> received = dynatrace_->Requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].signal, Signal::kLogs);
  EXPECT_EQ(received[0].body, request.SerializeAsString());
  app->Shutdown();
}

TEST_F(GatewayAppTest, PersistentQueueDeliversAfterRestartWhatTheTargetNeverGot) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
                          "/gateway_app_wal_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  GatewayConfig config = Config();
  config.queue.persistent.enabled = true;
  config.queue.persistent.directory = dir;
  config.shutdown.drain_timeout = absl::Milliseconds(300);

  dynatrace_->GoDown();
  {
    std::unique_ptr<GatewayApp> app = Start(config);
    ASSERT_NE(app, nullptr);
    ExportTraceServiceRequest request;
    AddSpan(&request, kProducerTrace, kProducerSpan, "", Span::SPAN_KIND_PRODUCER, "publish");
    ASSERT_TRUE(Export(*app, request).ok());  // acknowledged: on disk
    app->Shutdown();                          // target still down: nothing delivered
  }
  EXPECT_EQ(dynatrace_->SpanCount(), 0);
  ASSERT_TRUE(dynatrace_->ComeBack().ok());

  std::unique_ptr<GatewayApp> restarted = Start(config);
  ASSERT_NE(restarted, nullptr);
  ASSERT_TRUE(dynatrace_->WaitForSpans(1, absl::Now() + absl::Seconds(20)));
  EXPECT_EQ(ReceivedById().count(kProducerSpan), 1u);
  restarted->Shutdown();

  // Delivered and acknowledged: a third run replays nothing.
  std::unique_ptr<GatewayApp> third = Start(config);
  ASSERT_NE(third, nullptr);
  third->Shutdown();
  EXPECT_EQ(dynatrace_->SpanCount(), 1);
  std::filesystem::remove_all(dir);
}

// Each of the gateway's own threads says what it is in `top -H` and `perf`.
TEST_F(GatewayAppTest, ItsThreadsAreNamedForWhatTheyDo) {
  GatewayConfig config = Config();
  config.http.threads = 2;
  std::unique_ptr<GatewayApp> app = Start(config);
  ASSERT_NE(app, nullptr);
  std::multiset<std::string> names;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.insert(name);
  }
  for (const char* expected : {"reparent-0", "reparent-1", "exporter", "http-0", "http-1", "http-accept",
                               "admin-0", "admin-accept", "grpc-accept", "admission-wait", "heap-trimmer"}) {
    EXPECT_EQ(names.count(expected), 1u) << expected;
  }
  app->Shutdown();
}

}  // namespace
}  // namespace gateway
