// The whole gateway with receivers.grpc.tls and receivers.http.tls set in
// its YAML configuration: spans sent over gRPC+TLS and HTTPS reach the
// (fake) Dynatrace, and a TLS file that cannot be used stops the start.
#include <chrono>
#include <memory>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/config/config.h"
#include "gateway/gateway_app.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "tests/fakes/fake_dynatrace.h"
#include "tests/gateway/tls_test_support.h"

namespace gateway {
namespace {

namespace trace_v1 = opentelemetry::proto::collector::trace::v1;
using ::gateway::testing::FakeDynatrace;
using ::gateway::testing::HttpsPost;
using ::gateway::testing::HttpsResponse;
using ::gateway::testing::kTestCertPath;
using ::gateway::testing::kTestKeyPath;
using ::gateway::testing::ReadTestFile;
using ::opentelemetry::proto::trace::v1::Span;

trace_v1::ExportTraceServiceRequest OneServerSpan(char id, const std::string& name) {
  trace_v1::ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("checkout");
  Span* span = rs->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, id));
  span->set_span_id(std::string(8, id));
  span->set_kind(Span::SPAN_KIND_SERVER);
  span->set_name(name);
  span->set_start_time_unix_nano(absl::ToUnixNanos(absl::Now()));
  span->set_end_time_unix_nano(absl::ToUnixNanos(absl::Now()));
  return request;
}

class GatewayTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
  }

  // The configuration as a user writes it, with both receivers on TLS.
  absl::StatusOr<GatewayConfig> Config(const std::string& grpc_cert, const std::string& grpc_key,
                                       const std::string& http_cert, const std::string& http_key) const {
    const std::string yaml = absl::StrCat(R"(
receivers:
  grpc:
    endpoint: 127.0.0.1:0
    tls: {cert_file: ")", grpc_cert, R"(", key_file: ")", grpc_key, R"("}
  http:
    endpoint: 127.0.0.1:0
    threads: 1
    tls: {cert_file: ")", http_cert, R"(", key_file: ")", http_key, R"("}
admin:
  endpoint: 127.0.0.1:0
reparent: {hold_window: 5s, shards: 2}
batch: {timeout: 20ms}
exporter:
  type: dynatrace
  dynatrace: {endpoint: ")", dynatrace_->url(), R"(", api_token: test-token}
  retry: {initial_interval: 50ms, max_interval: 200ms}
shutdown: {drain_timeout: 2s}
)");
    absl::StatusOr<GatewayConfig> config = LoadConfig(yaml, MapEnv({}));
    if (!config.ok()) return config.status();
    absl::Status valid = ValidateConfig(*config);
    if (!valid.ok()) return valid;
    return config;
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
};

TEST_F(GatewayTlsTest, SpansOverGrpcTlsAndHttpsReachTheExportTarget) {
  absl::StatusOr<GatewayConfig> config = Config(kTestCertPath, kTestKeyPath, kTestCertPath, kTestKeyPath);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->grpc.tls.Enabled());
  ASSERT_TRUE(config->http.tls.Enabled());
  absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(*config, {});
  ASSERT_TRUE(app.ok()) << app.status();

  // gRPC over TLS, trusting only the test certificate.
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadTestFile(kTestCertPath);
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", (*app)->grpc_port()),
                                           grpc::SslCredentials(ssl), args);
  auto stub = trace_v1::TraceService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  trace_v1::ExportTraceServiceResponse grpc_response;
  grpc::Status status = stub->Export(&context, OneServerSpan('\x01', "via-grpc-tls"), &grpc_response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();

  // OTLP/HTTP over HTTPS.
  HttpsResponse https = HttpsPost((*app)->http_port(), "/v1/traces",
                                  OneServerSpan('\x02', "via-https").SerializeAsString(), "application/x-protobuf");
  ASSERT_EQ(https.status, 200) << https.error << https.body;
  trace_v1::ExportTraceServiceResponse http_response;
  EXPECT_TRUE(http_response.ParseFromString(https.body));

  ASSERT_TRUE(dynatrace_->WaitForSpans(2, absl::Now() + absl::Seconds(15)));
  std::set<std::string> names;
  for (const auto& rs : dynatrace_->ReceivedSpans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const Span& span : ss.spans()) names.insert(span.name());
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"via-grpc-tls", "via-https"}));
  (*app)->Shutdown();
}

TEST_F(GatewayTlsTest, MissingGrpcCertificateStopsTheStartNamingTheFile) {
  absl::StatusOr<GatewayConfig> config =
      Config("tests/gateway/testdata/missing-grpc.crt", kTestKeyPath, kTestCertPath, kTestKeyPath);
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(*config, {});
  ASSERT_FALSE(app.ok());
  EXPECT_TRUE(absl::StrContains(app.status().message(), "missing-grpc.crt")) << app.status();
}

TEST_F(GatewayTlsTest, MissingHttpKeyStopsTheStartNamingTheFile) {
  absl::StatusOr<GatewayConfig> config =
      Config(kTestCertPath, kTestKeyPath, kTestCertPath, "tests/gateway/testdata/missing-http.key");
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(*config, {});
  ASSERT_FALSE(app.ok());
  EXPECT_TRUE(absl::StrContains(app.status().message(), "missing-http.key")) << app.status();
}

TEST_F(GatewayTlsTest, CertificateWithoutKeyIsAConfigErrorNamingTheKey) {
  absl::StatusOr<GatewayConfig> config = Config(kTestCertPath, "", kTestCertPath, kTestKeyPath);
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), "receivers.grpc.tls")) << config.status();
}

}  // namespace
}  // namespace gateway
