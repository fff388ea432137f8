// exporter.ca_file (set by the Lambda extension to the sandbox's CA bundle):
// the exporter trusts exactly that bundle for an HTTPS target.
#include <curl/curl.h>

#include <memory>
#include <string>

#include "gateway/config/config.h"
#include "gateway/gateway_app.h"
#include "gateway/receivers/http_server.h"
#include "gtest/gtest.h"
#include "pipeline/base/sync.h"
#include "tests/gateway/tls_test_support.h"

namespace gateway {
namespace {

// An HTTPS OTLP target that accepts every trace request.
class CountingTarget final : public HttpHandler {
 public:
  HttpResponse Handle(HttpRequest request) override {
    MutexLock lock(&mu_);
    if (request.path == "/v1/traces") ++requests_;
    return {200, "application/x-protobuf", "", {}};
  }
  int requests() {
    MutexLock lock(&mu_);
    return requests_;
  }

 private:
  Mutex mu_;
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
};

long PostTraces(int port, const std::string& body) {
  CURL* easy = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces";
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  long status = 0;
  if (curl_easy_perform(easy) == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return status;
}

class ExporterCaFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.threads = 1;
    options.tls_cert_path = testing::kTestCertPath;
    options.tls_key_path = testing::kTestKeyPath;
    absl::StatusOr<std::unique_ptr<HttpServer>> server = StartHttpServer(options, target_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Sends 3 spans through a gateway exporting to the HTTPS target; whether
  // the target got them within the flush.
  bool Delivered(const std::string& ca_file) {
    GatewayConfig config;
    config.grpc.enabled = false;
    config.http.endpoint = "127.0.0.1:0";
    config.admin.endpoint = "127.0.0.1:0";
    config.exporter.type = ExporterType::kOtlpHttp;
    config.exporter.otlphttp.endpoint = "https://127.0.0.1:" + std::to_string(server_->port());
    config.exporter.ca_file = ca_file;
    config.shutdown.drain_timeout = absl::Milliseconds(100);
    absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, {});
    EXPECT_TRUE(app.ok()) << app.status();
    if (!app.ok()) return false;
    EXPECT_EQ(PostTraces((*app)->http_port(), testing::TlsTestTraces(3).SerializeAsString()), 200);
    const FlushResult flushed = (*app)->Flush(absl::Now() + absl::Seconds(3));
    (*app)->Shutdown();
    return flushed.undelivered_bytes == 0 && target_.requests() > 0;
  }

  CountingTarget target_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ExporterCaFileTest, ATargetSignedByTheBundleIsTrusted) { EXPECT_TRUE(Delivered(testing::kTestCertPath)); }

TEST_F(ExporterCaFileTest, WithoutTheBundleTheSameTargetIsNot) {
  // libcurl's default bundle does not hold the test certificate.
  EXPECT_FALSE(Delivered(""));
  EXPECT_EQ(target_.requests(), 0);
}

}  // namespace
}  // namespace gateway
