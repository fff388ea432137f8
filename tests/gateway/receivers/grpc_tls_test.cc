// The OTLP/gRPC receiver with receivers.grpc.tls set: what a client of the
// gateway relies on. Uses the self-signed test certificate in testdata/.
#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gateway/receivers/grpc_receiver.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "pipeline/base/metrics_registry.h"
#include "tests/fakes/fake_ingest.h"
#include "tests/gateway/tls_test_support.h"

namespace gateway {
namespace {

namespace trace_v1 = opentelemetry::proto::collector::trace::v1;

using testing::FakeIngest;
using testing::kOtherKeyPath;
using testing::kTestCertPath;
using testing::kTestKeyPath;
using testing::ReadTestFile;

trace_v1::ExportTraceServiceRequest MakeTraces(int spans) { return testing::TlsTestTraces(spans); }

class GrpcTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GrpcReceiverOptions options;
    options.listen_address = "127.0.0.1:0";
    options.tls_cert_path = kTestCertPath;
    options.tls_key_path = kTestKeyPath;
    auto receiver = StartGrpcReceiver(options, ingest_, registry_);
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);
    ASSERT_GT(receiver_->port(), 0);
  }

  void TearDown() override {
    if (receiver_) receiver_->Shutdown(absl::Now() + absl::Seconds(5));
  }

  std::string Target() const { return "127.0.0.1:" + std::to_string(receiver_->port()); }

  // A channel that trusts only the test certificate; `target_name` is the
  // name the certificate must be valid for (empty: the address's host).
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& target_name = "localhost") const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadTestFile(kTestCertPath);
    EXPECT_FALSE(ssl.pem_root_certs.empty());
    grpc::ChannelArguments args;
    if (!target_name.empty()) args.SetSslTargetNameOverride(target_name);
    return grpc::CreateCustomChannel(Target(), grpc::SslCredentials(ssl), args);
  }

  static grpc::Status Export(const std::shared_ptr<grpc::Channel>& channel,
                             const trace_v1::ExportTraceServiceRequest& request,
                             trace_v1::ExportTraceServiceResponse* response,
                             std::chrono::seconds timeout = std::chrono::seconds(10)) {
    auto stub = trace_v1::TraceService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub->Export(&context, request, response);
  }

  FakeIngest ingest_;
  MetricsRegistry registry_;
  std::unique_ptr<GrpcReceiver> receiver_;
};

TEST_F(GrpcTlsTest, TlsClientTrustingTheCertificateExportsTraces) {
  trace_v1::ExportTraceServiceRequest request = MakeTraces(3);
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = Export(TlsChannel(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_FALSE(response.has_partial_success());
  std::vector<FakeIngest::Call> calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].signal, Signal::kTraces);
  EXPECT_EQ(calls[0].request, request.SerializeAsString());
}

TEST_F(GrpcTlsTest, CertificateIsValidForTheLoopbackAddressWithoutOverride) {
  // The certificate's subjectAltName has IP:127.0.0.1, so a client that dials
  // 127.0.0.1 verifies the host without a target name override.
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = Export(TlsChannel(/*target_name=*/""), MakeTraces(1), &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

TEST_F(GrpcTlsTest, ClientExpectingAnotherHostNameIsRefused) {
  // Host name verification is on: the certificate is not valid for this name.
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = Export(TlsChannel("collector.example.com"), MakeTraces(1), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(ingest_.CallCount(), 0u);
}

TEST_F(GrpcTlsTest, PlaintextClientFailsAndTlsClientsAreServedAfterwards) {
  std::shared_ptr<grpc::Channel> tls = TlsChannel();
  trace_v1::ExportTraceServiceResponse response;
  ASSERT_TRUE(Export(tls, MakeTraces(1), &response).ok());

  auto plaintext = grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
  for (int i = 0; i < 3; ++i) {
    grpc::Status status = Export(plaintext, MakeTraces(1), &response, std::chrono::seconds(5));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  EXPECT_EQ(ingest_.CallCount(), 1u);

  // The open TLS channel and a new one both still work.
  grpc::Status status = Export(tls, MakeTraces(2), &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  status = Export(TlsChannel(), MakeTraces(2), &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(ingest_.CallCount(), 3u);
}

class GrpcTlsStartTest : public ::testing::Test {
 protected:
  absl::Status StartWith(const std::string& cert, const std::string& key) {
    GrpcReceiverOptions options;
    options.listen_address = "127.0.0.1:0";
    options.tls_cert_path = cert;
    options.tls_key_path = key;
    auto receiver = StartGrpcReceiver(options, ingest_, registry_);
    if (receiver.ok()) (*receiver)->Shutdown(absl::Now());
    return receiver.status();
  }

  FakeIngest ingest_;
  MetricsRegistry registry_;
};

TEST_F(GrpcTlsStartTest, MissingCertificateFileIsNotFoundNamingThePath) {
  absl::Status status = StartWith("tests/gateway/testdata/no-such.crt", kTestKeyPath);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "no-such.crt")) << status;
}

TEST_F(GrpcTlsStartTest, MissingKeyFileIsNotFoundNamingThePath) {
  absl::Status status = StartWith(kTestCertPath, "tests/gateway/testdata/no-such.key");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "no-such.key")) << status;
}

TEST_F(GrpcTlsStartTest, CertificateWithoutTheOtherHalfIsInvalidArgument) {
  EXPECT_EQ(StartWith(kTestCertPath, "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StartWith("", kTestKeyPath).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(GrpcTlsStartTest, FileThatIsNotACertificateIsAnErrorNamingIt) {
  absl::Status status = StartWith("tests/gateway/testdata/README.md", kTestKeyPath);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "README.md")) << status;
}

TEST_F(GrpcTlsStartTest, KeyThatIsNotAKeyIsAnErrorNamingIt) {
  absl::Status status = StartWith(kTestCertPath, kTestCertPath);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "key")) << status;
}

TEST_F(GrpcTlsStartTest, KeyThatDoesNotBelongToTheCertificateIsAnError) {
  absl::Status status = StartWith(kTestCertPath, kOtherKeyPath);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "other.key")) << status;
}

}  // namespace
}  // namespace gateway
