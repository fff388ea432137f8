// Metrics through the whole gateway (GatewayApp on port 0, gRPC client) into
// the fake Dynatrace, which refuses what Dynatrace refuses: with the
// Dynatrace exporter cumulative counters arrive as deltas and nothing is
// refused; with the generic OTLP exporter (or the switch off) they pass
// unchanged.
#include <filesystem>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "gateway/gateway_app.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "tests/fakes/fake_dynatrace.h"

namespace gateway {
namespace {

namespace otlp = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceResponse;
using opentelemetry::proto::collector::metrics::v1::MetricsService;
using testing::FakeDynatrace;

// A start time an hour before the test: the series predates the gateway.
const uint64_t kStart = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now() - absl::Hours(1)));

ExportMetricsServiceRequest Counter(uint64_t time, int64_t value) {
  ExportMetricsServiceRequest r;
  auto* rm = r.add_resource_metrics();
  auto* attr = rm->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("checkout");
  otlp::Metric* m = rm->add_scope_metrics()->add_metrics();
  m->set_name("orders.placed");
  m->mutable_sum()->set_is_monotonic(true);
  m->mutable_sum()->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
  auto* p = m->mutable_sum()->add_data_points();
  p->set_start_time_unix_nano(kStart);
  p->set_time_unix_nano(time);
  p->set_as_int(value);
  return r;
}

class GatewayMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
  }

  GatewayConfig Config(ExporterType type = ExporterType::kDynatrace) const {
    GatewayConfig config;
    config.grpc.endpoint = "127.0.0.1:0";
    config.http.endpoint = "127.0.0.1:0";
    config.admin.endpoint = "127.0.0.1:0";
    config.exporter.type = type;
    config.exporter.dynatrace.endpoint = dynatrace_->url();
    config.exporter.dynatrace.api_token = "test-token";
    config.exporter.otlphttp.endpoint = dynatrace_->url();
    config.exporter.otlphttp.headers["Authorization"] = "Api-Token test-token";
    config.exporter.compression = Compression::kNone;
    config.shutdown.drain_timeout = absl::Seconds(2);
    return config;
  }

  static std::unique_ptr<GatewayApp> Start(const GatewayConfig& config) {
    absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, {});
    EXPECT_TRUE(app.ok()) << app.status();
    return app.ok() ? *std::move(app) : nullptr;
  }

  static grpc::Status Export(const GatewayApp& app, const ExportMetricsServiceRequest& request,
                             ExportMetricsServiceResponse* response) {
    auto stub = MetricsService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(app.grpc_port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub->Export(&context, request, response);
  }

  // The one data point of the one metric that arrived.
  otlp::Metric ReceivedMetric() const {
    std::vector<otlp::ResourceMetrics> received = dynatrace_->ReceivedMetrics();
    EXPECT_EQ(received.size(), 1u);
    if (received.empty()) return {};
    return received[0].scope_metrics(0).metrics(0);
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
};

TEST_F(GatewayMetricsTest, DynatraceExporterSendsCumulativeCountersAsDeltasThatAreAccepted) {
  std::unique_ptr<GatewayApp> app = Start(Config());
  ASSERT_NE(app, nullptr);
  const uint64_t t0 = kStart + 3'600'000'000'000ULL;
  ExportMetricsServiceResponse response;
  ASSERT_TRUE(Export(*app, Counter(t0, 100), &response).ok());
  EXPECT_FALSE(response.has_partial_success());
  ASSERT_TRUE(Export(*app, Counter(t0 + 60'000'000'000ULL, 130), &response).ok());
  ASSERT_TRUE(dynatrace_->WaitForMetricPoints(1, absl::Now() + absl::Seconds(10)));
  const otlp::Metric m = ReceivedMetric();
  EXPECT_EQ(m.sum().aggregation_temporality(), otlp::AGGREGATION_TEMPORALITY_DELTA);
  ASSERT_EQ(m.sum().data_points_size(), 1);
  EXPECT_EQ(m.sum().data_points(0).as_int(), 30);
  EXPECT_EQ(m.sum().data_points(0).start_time_unix_nano(), t0);
  EXPECT_EQ(dynatrace_->RejectedItems(Signal::kMetrics), 0);
  EXPECT_EQ(app->metrics().CounterValue("gateway_items_accepted_total", {{"signal", "metrics"}}), 2);
  app->Shutdown();
}

TEST_F(GatewayMetricsTest, SummariesAreRefusedToTheClientAsPartialSuccess) {
  std::unique_ptr<GatewayApp> app = Start(Config());
  ASSERT_NE(app, nullptr);
  ExportMetricsServiceRequest request = Counter(kStart + 1, 1);
  otlp::Metric* summary = request.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics();
  summary->set_name("rpc.latency");
  summary->mutable_summary()->add_data_points()->set_count(4);
  ExportMetricsServiceResponse response;
  ASSERT_TRUE(Export(*app, request, &response).ok());
  EXPECT_EQ(response.partial_success().rejected_data_points(), 1);
  EXPECT_NE(response.partial_success().error_message().find("summary"), std::string::npos);
  EXPECT_EQ(app->metrics().CounterValue("gateway_metrics_points_dropped_total", {{"reason", "summary"}}), 1);
  app->Shutdown();
}

// libprotobuf cannot decode a metrics request holding invalid UTF-8, so the
// Dynatrace conversion refuses it whole, and the client is told why.
TEST_F(GatewayMetricsTest, InvalidUtf8InAConvertedRequestIsRefusedWholeAndSaysSo) {
  std::unique_ptr<GatewayApp> app = Start(Config());
  ASSERT_NE(app, nullptr);
  ExportMetricsServiceRequest request = Counter(kStart + 1, 1);
  request.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_metrics(0)->set_name("orders\xC0\xAF");
  ExportMetricsServiceResponse response;
  const grpc::Status status = Export(*app, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("invalid UTF-8"), std::string::npos) << status.error_message();
  app->Shutdown();
}

TEST_F(GatewayMetricsTest, GenericOtlpExporterLeavesMetricsAsTheyCame) {
  std::unique_ptr<GatewayApp> app = Start(Config(ExporterType::kOtlpHttp));
  ASSERT_NE(app, nullptr);
  const ExportMetricsServiceRequest request = Counter(kStart + 10, 100);
  ExportMetricsServiceResponse response;
  ASSERT_TRUE(Export(*app, request, &response).ok());
  ASSERT_TRUE(dynatrace_->WaitForMetricPoints(1, absl::Now() + absl::Seconds(10)));
  std::vector<FakeDynatrace::ReceivedRequest> received = dynatrace_->Requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].body, request.SerializeAsString());
  // Which is what Dynatrace would refuse.
  EXPECT_EQ(received[0].rejected_items, 1);
  EXPECT_NE(received[0].rejection_message.find("UNSUPPORTED_METRIC_TYPE_MONOTONIC_CUMULATIVE_SUM"), std::string::npos);
  app->Shutdown();
}

TEST_F(GatewayMetricsTest, SwitchedOffForDynatraceCumulativeCountersAreRefusedThere) {
  GatewayConfig config = Config();
  config.metrics.cumulative_to_delta = AutoBool::kFalse;
  std::unique_ptr<GatewayApp> app = Start(config);
  ASSERT_NE(app, nullptr);
  ExportMetricsServiceResponse response;
  ASSERT_TRUE(Export(*app, Counter(kStart + 10, 100), &response).ok());
  ASSERT_TRUE(dynatrace_->WaitForMetricPoints(1, absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(dynatrace_->RejectedItems(Signal::kMetrics), 1);
  app->Shutdown();
}

TEST_F(GatewayMetricsTest, PersistedDeltasAreReplayedAsTheyWereNotConvertedAgain) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
                          "/gateway_metrics_wal_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  GatewayConfig config = Config();
  config.queue.persistent.enabled = true;
  config.queue.persistent.directory = dir;
  config.shutdown.drain_timeout = absl::Milliseconds(300);
  const uint64_t t0 = kStart + 1'000'000'000ULL;

  dynatrace_->GoDown();
  {
    std::unique_ptr<GatewayApp> app = Start(config);
    ASSERT_NE(app, nullptr);
    ExportMetricsServiceResponse response;
    ASSERT_TRUE(Export(*app, Counter(t0, 10), &response).ok());                     // the baseline
    ASSERT_TRUE(Export(*app, Counter(t0 + 60'000'000'000ULL, 17), &response).ok());  // delta 7, on disk
    app->Shutdown();
  }
  ASSERT_TRUE(dynatrace_->ComeBack().ok());
  // The new process has no series state: converting the record again would
  // make it a first point and drop it.
  std::unique_ptr<GatewayApp> restarted = Start(config);
  ASSERT_NE(restarted, nullptr);
  ASSERT_TRUE(dynatrace_->WaitForMetricPoints(1, absl::Now() + absl::Seconds(20)));
  const otlp::Metric m = ReceivedMetric();
  ASSERT_EQ(m.sum().data_points_size(), 1);
  EXPECT_EQ(m.sum().data_points(0).as_int(), 7);
  EXPECT_EQ(m.sum().aggregation_temporality(), otlp::AGGREGATION_TEMPORALITY_DELTA);
  restarted->Shutdown();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gateway
