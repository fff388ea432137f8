// The OTLP/HTTP receiver with receivers.http.tls set (HttpServer over
// OpenSSL): what a client of the gateway relies on. Uses the self-signed test
// certificate in testdata/ and libcurl as the client.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gateway/receivers/http_server.h"
#include "gateway/receivers/otlp_http_handler.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/metrics_registry.h"
#include "tests/fakes/fake_ingest.h"
#include "tests/gateway/receivers/http_test_client.h"
#include "tests/gateway/tls_test_support.h"

namespace gateway {
namespace {

namespace trace_v1 = opentelemetry::proto::collector::trace::v1;

using testing::FakeIngest;
using testing::HttpsClient;
using testing::HttpsPost;
using testing::HttpsResponse;
using testing::kOtherKeyPath;
using testing::kTestCertPath;
using testing::kTestKeyPath;
using testing::RawHttpClient;

constexpr char kProtobuf[] = "application/x-protobuf";

std::string TracesWire(int spans) { return testing::TlsTestTraces(spans).SerializeAsString(); }

// The first bytes of a TLS ClientHello record (handshake, TLS 1.0 record
// version, 512-byte length) and then nothing: the server waits for the rest.
constexpr char kPartialClientHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

class HttpTlsTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = {}) {
    options.listen_address = "127.0.0.1:0";
    options.tls_cert_path = kTestCertPath;
    options.tls_key_path = kTestKeyPath;
    // One I/O thread: a stalled connection would stall everyone if the
    // handshake blocked it.
    options.threads = 1;
    auto server = StartHttpServer(options, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  // POST /v1/traces over HTTPS: 200 with an ExportTraceServiceResponse.
  void ExpectExportWorks(HttpsClient& client, int spans) {
    const size_t calls = ingest_.CallCount();
    const std::string body = TracesWire(spans);
    HttpsResponse r = client.Post(server_->port(), "/v1/traces", body, kProtobuf);
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_EQ(r.content_type, kProtobuf);
    trace_v1::ExportTraceServiceResponse response;
    ASSERT_TRUE(response.ParseFromString(r.body));
    EXPECT_FALSE(response.has_partial_success());
    std::vector<FakeIngest::Call> all = ingest_.Calls();
    ASSERT_EQ(all.size(), calls + 1);
    EXPECT_EQ(all.back().signal, Signal::kTraces);
    EXPECT_EQ(all.back().request, body);
  }

  void ExpectExportWorks(int spans = 2) {
    HttpsClient client;
    ExpectExportWorks(client, spans);
  }

  FakeIngest ingest_;
  MetricsRegistry registry_;
  OtlpHttpHandler handler_{OtlpHttpHandlerOptions{}, ingest_, registry_};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpTlsTest, HttpsPostOfTracesGets200WithTheProtobufResponse) {
  Start();
  ExpectExportWorks(3);
}

TEST_F(HttpTlsTest, CertificateIsValidForLocalhostByName) {
  Start();
  HttpsResponse r = HttpsPost(server_->port(), "/v1/traces", TracesWire(1), kProtobuf, "localhost");
  EXPECT_EQ(r.status, 200) << r.error;
}

TEST_F(HttpTlsTest, ClientExpectingAnotherHostNameIsRefused) {
  Start();
  HttpsResponse r = HttpsPost(server_->port(), "/v1/traces", TracesWire(1), kProtobuf, "collector.example.com");
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(ingest_.CallCount(), 0u);
}

TEST_F(HttpTlsTest, KeepAliveConnectionServesSeveralRequests) {
  Start();
  HttpsClient client;
  ExpectExportWorks(client, 1);
  HttpsResponse second = client.Post(server_->port(), "/v1/traces", TracesWire(2), kProtobuf);
  EXPECT_EQ(second.status, 200) << second.error;
  EXPECT_EQ(second.new_connections, 0) << "the second request should reuse the TLS connection";
  EXPECT_EQ(ingest_.CallCount(), 2u);
}

TEST_F(HttpTlsTest, PlainHttpToTheTlsPortIsClosedAndHttpsStillWorks) {
  Start();
  for (int i = 0; i < 3; ++i) {
    RawHttpClient plain(server_->port());
    ASSERT_TRUE(plain.connected());
    const std::string body = TracesWire(1);
    plain.Send("POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
               "Content-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
    // No HTTP answer; the server closes the connection.
    EXPECT_EQ(plain.ReadResponse(absl::Seconds(5)).status, 0);
    EXPECT_TRUE(plain.WaitForClose(absl::Seconds(5)));
  }
  EXPECT_EQ(ingest_.CallCount(), 0u);
  ExpectExportWorks();
}

TEST_F(HttpTlsTest, StalledHandshakesDoNotBlockOtherClients) {
  HttpServerOptions options;
  // Longer than the test: the stalled clients stay open throughout, so the
  // exports below succeed alongside them, not after them.
  options.read_timeout = absl::Seconds(60);
  Start(options);
  RawHttpClient silent(server_->port());
  RawHttpClient partial(server_->port());
  ASSERT_TRUE(silent.connected());
  ASSERT_TRUE(partial.connected());
  ASSERT_TRUE(partial.Send(std::string(kPartialClientHello, sizeof(kPartialClientHello) - 1)));

  ExpectExportWorks();
  ExpectExportWorks();
  // Both stalled connections are still open (the server did not give up on
  // them to serve the others).
  EXPECT_FALSE(silent.WaitForClose(absl::Milliseconds(50)));
  EXPECT_FALSE(partial.WaitForClose(absl::Milliseconds(50)));
}

TEST_F(HttpTlsTest, StalledHandshakeIsClosedAfterTheReadTimeout) {
  HttpServerOptions options;
  options.read_timeout = absl::Milliseconds(300);
  Start(options);
  RawHttpClient silent(server_->port());
  RawHttpClient partial(server_->port());
  ASSERT_TRUE(partial.Send(std::string(kPartialClientHello, sizeof(kPartialClientHello) - 1)));
  EXPECT_TRUE(silent.WaitForClose(absl::Seconds(10)));
  EXPECT_TRUE(partial.WaitForClose(absl::Seconds(10)));
  ExpectExportWorks();
}

TEST_F(HttpTlsTest, ShutdownDoesNotWaitForAStalledHandshake) {
  HttpServerOptions options;
  options.read_timeout = absl::Seconds(60);
  options.shutdown_grace = absl::Seconds(20);
  Start(options);
  RawHttpClient partial(server_->port());
  ASSERT_TRUE(partial.Send(std::string(kPartialClientHello, sizeof(kPartialClientHello) - 1)));
  ExpectExportWorks();  // the handshake is under way by now (same I/O thread)

  // A handshake is not a request in flight: Shutdown closes it rather than
  // waiting out the grace period for it.
  const absl::Time start = absl::Now();
  server_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(partial.WaitForClose(absl::Seconds(5)));
}

class HttpTlsStartTest : public ::testing::Test {
 protected:
  absl::Status StartWith(const std::string& cert, const std::string& key) {
    HttpServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.threads = 1;
    options.tls_cert_path = cert;
    options.tls_key_path = key;
    auto server = StartHttpServer(options, handler_);
    if (server.ok()) (*server)->Shutdown();
    return server.status();
  }

  FakeIngest ingest_;
  MetricsRegistry registry_;
  OtlpHttpHandler handler_{OtlpHttpHandlerOptions{}, ingest_, registry_};
};

TEST_F(HttpTlsStartTest, MissingCertificateFileIsAnErrorNamingThePath) {
  absl::Status status = StartWith("tests/gateway/testdata/no-such.crt", kTestKeyPath);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "no-such.crt")) << status;
}

TEST_F(HttpTlsStartTest, MissingKeyFileIsAnErrorNamingThePath) {
  absl::Status status = StartWith(kTestCertPath, "tests/gateway/testdata/no-such.key");
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "no-such.key")) << status;
}

TEST_F(HttpTlsStartTest, CertificateWithoutTheOtherHalfIsInvalidArgument) {
  EXPECT_EQ(StartWith(kTestCertPath, "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StartWith("", kTestKeyPath).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpTlsStartTest, FileThatIsNotACertificateIsInvalidArgumentNamingIt) {
  absl::Status status = StartWith("tests/gateway/testdata/README.md", kTestKeyPath);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "README.md")) << status;
}

TEST_F(HttpTlsStartTest, KeyThatDoesNotBelongToTheCertificateIsInvalidArgument) {
  absl::Status status = StartWith(kTestCertPath, kOtherKeyPath);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "other.key")) << status;
}

}  // namespace
}  // namespace gateway
