// Test-only TLS helpers: the checked-in self-signed certificate for
// localhost / 127.0.0.1 (tests/gateway/testdata/README.md) and a libcurl
// HTTPS client that trusts exactly that certificate.
//
//   HttpsResponse r = HttpsPost(port, "/v1/traces", body, "application/x-protobuf");
//   EXPECT_EQ(r.status, 200) << r.error;
#pragma once

#include <curl/curl.h>

#include <fstream>
#include <sstream>
#include <string>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway::testing {

// A trace request of `spans` spans named "tls-span", ids 1..spans.
inline opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest TlsTestTraces(int spans) {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  auto* scope_spans = request.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* span = scope_spans->add_spans();
    span->set_trace_id(std::string(16, static_cast<char>(i + 1)));
    span->set_span_id(std::string(8, static_cast<char>(i + 1)));
    span->set_name("tls-span");
  }
  return request;
}

// Relative to the test's runfiles directory (the working directory).
inline constexpr char kTestCertPath[] = "tests/gateway/testdata/localhost.crt";
inline constexpr char kTestKeyPath[] = "tests/gateway/testdata/localhost.key";
// A P-256 key that does not belong to the certificate.
inline constexpr char kOtherKeyPath[] = "tests/gateway/testdata/other.key";

inline std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct HttpsResponse {
  long status = 0;  // 0: no HTTP response (see error)
  std::string content_type;
  std::string body;
  std::string error;  // curl's message when the transfer failed
  long new_connections = 0;  // CURLINFO_NUM_CONNECTS of the last request
};

// One libcurl easy handle; requests on it reuse its connection (keep-alive).
class HttpsClient {
 public:
  HttpsClient() : curl_(curl_easy_init()) {}
  ~HttpsClient() { curl_easy_cleanup(curl_); }
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // POST https://<host>:<port><path>, verifying the peer against the test
  // certificate only. `host` must be a name the certificate covers.
  HttpsResponse Post(int port, const std::string& path, const std::string& body, const std::string& content_type,
                     const std::string& host = "127.0.0.1", long timeout_ms = 10000) {
    HttpsResponse response;
    const std::string url = "https://" + host + ":" + std::to_string(port) + path;
    const std::string type_header = "Content-Type: " + content_type;
    curl_slist* headers = curl_slist_append(nullptr, type_header.c_str());
    char error[CURL_ERROR_SIZE] = {0};
    // A name other than an IP resolves to 127.0.0.1 only (no ::1 attempt).
    const std::string resolve = host + ":" + std::to_string(port) + ":127.0.0.1";
    curl_slist* resolves = host == "127.0.0.1" ? nullptr : curl_slist_append(nullptr, resolve.c_str());

    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_RESOLVE, resolves);
    curl_easy_setopt(curl_, CURLOPT_CAINFO, kTestCertPath);
    curl_easy_setopt(curl_, CURLOPT_CAPATH, nullptr);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HttpsClient::Write);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response.body);

    CURLcode rc = curl_easy_perform(curl_);
    if (rc == CURLE_OK) {
      curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &response.status);
      char* type = nullptr;
      curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &type);
      if (type != nullptr) response.content_type = type;
      curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &response.new_connections);
    } else {
      response.error = std::string(curl_easy_strerror(rc)) + ": " + error;
    }
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(curl_, CURLOPT_RESOLVE, nullptr);
    curl_slist_free_all(headers);
    curl_slist_free_all(resolves);
    return response;
  }

 private:
  static size_t Write(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  }

  CURL* curl_;
};

// One request on a fresh connection.
inline HttpsResponse HttpsPost(int port, const std::string& path, const std::string& body,
                               const std::string& content_type, const std::string& host = "127.0.0.1") {
  HttpsClient client;
  return client.Post(port, path, body, content_type, host);
}

}  // namespace gateway::testing
