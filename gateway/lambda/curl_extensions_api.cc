#include "gateway/lambda/curl_extensions_api.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"

namespace gateway::lambda {
namespace {

constexpr char kIdentifierHeader[] = "lambda-extension-identifier";
constexpr size_t kMaxResponseBytes = 1 << 20;
constexpr size_t kMaxErrorBodyInMessage = 300;

struct Response {
  long status = 0;
  std::string body;
  std::string identifier;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<Response*>(user);
  const size_t n = size * count;
  const size_t room = kMaxResponseBytes - std::min(kMaxResponseBytes, response->body.size());
  response->body.append(data, std::min(n, room));
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<Response*>(user);
  const size_t n = size * count;
  const std::string_view line(data, n);
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  if (absl::AsciiStrToLower(ToAbsl(line.substr(0, colon))) == kIdentifierHeader) {
    response->identifier = std::string(absl::StripAsciiWhitespace(ToAbsl(line.substr(colon + 1))));
  }
  return n;
}

class CurlExtensionsApiClient final : public ExtensionsApiClient {
 public:
  CurlExtensionsApiClient(const CurlExtensionsApiOptions& options, const Clock& clock)
      : options_(options), clock_(clock) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    easy_ = curl_easy_init();
  }
  ~CurlExtensionsApiClient() override { curl_easy_cleanup(easy_); }

  absl::StatusOr<RegisterInfo> Register(std::string_view extension_name) override {
    const std::string name_header = absl::StrCat("Lambda-Extension-Name: ", ToAbsl(extension_name));
    absl::StatusOr<Response> r = Call("POST", "/2020-01-01/extension/register", RenderRegisterRequest(),
                                      {name_header}, /*blocking=*/false);
    if (!r.ok()) return r.status();
    if (r->status != 200) return Failure("register", *r);
    if (r->identifier.empty()) {
      return absl::UnavailableError("register: the answer has no Lambda-Extension-Identifier");
    }
    identifier_ = r->identifier;
    absl::StatusOr<RegisterInfo> info = ParseRegisterResponse(r->body);
    return info.ok() ? *info : RegisterInfo{};
  }

  absl::StatusOr<LifecycleEvent> NextEvent() override {
    absl::StatusOr<Response> r = Call("GET", "/2020-01-01/extension/event/next", "", {}, /*blocking=*/true);
    if (!r.ok()) return r.status();
    if (r->status != 200) return Failure("event/next", *r);
    return ParseLifecycleEvent(r->body, clock_.Now());
  }

  absl::Status SubscribeTelemetry(const TelemetrySubscription& subscription) override {
    absl::StatusOr<Response> r =
        Call("PUT", "/2022-07-01/telemetry", RenderTelemetrySubscription(subscription), {}, /*blocking=*/false);
    if (!r.ok()) return r.status();
    if (r->status == 202) {
      // AWS documents 202 as the answer of local test environments; AWS's
      // emulator sends it with errorType Telemetry.NotSupported and then no
      // events, so waiting for runtimeDone would hold every invoke.
      return absl::UnimplementedError(absl::StrCat("telemetry subscribe: HTTP 202 (accepted but not served, as by a "
                                                   "local emulator): ",
                                                   r->body.substr(0, kMaxErrorBodyInMessage)));
    }
    if (r->status != 200) return Failure("telemetry subscribe", *r);
    return absl::OkStatus();
  }

  absl::Status InitError(std::string_view error_type, std::string_view message) override {
    return ReportError("/2020-01-01/extension/init/error", error_type, message);
  }

  absl::Status ExitError(std::string_view error_type, std::string_view message) override {
    return ReportError("/2020-01-01/extension/exit/error", error_type, message);
  }

 private:
  absl::Status ReportError(const char* path, std::string_view error_type, std::string_view message) {
    const std::string type_header = absl::StrCat("Lambda-Extension-Function-Error-Type: ", ToAbsl(error_type));
    absl::StatusOr<Response> r =
        Call("POST", path, RenderErrorRequest(error_type, message), {type_header}, /*blocking=*/false);
    if (!r.ok()) return r.status();
    if (r->status < 200 || r->status >= 300) return Failure(path, *r);
    return absl::OkStatus();
  }

  static absl::Status Failure(std::string_view call, const Response& r) {
    const std::string message =
        absl::StrCat(ToAbsl(call), ": HTTP ", r.status, ": ", r.body.substr(0, kMaxErrorBodyInMessage));
    if (r.status == 403) return absl::PermissionDeniedError(message);
    if (r.status >= 400 && r.status < 500) return absl::InvalidArgumentError(message);
    return absl::UnavailableError(message);
  }

  absl::StatusOr<Response> Call(const char* method, const char* path, const std::string& body,
                                std::initializer_list<std::string> extra_headers, bool blocking) {
    Response response;
    curl_easy_reset(easy_);
    const std::string url = absl::StrCat("http://", options_.runtime_api, path);
    curl_slist* headers = nullptr;
    for (const std::string& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
    if (!identifier_.empty()) {
      headers = curl_slist_append(headers, absl::StrCat("Lambda-Extension-Identifier: ", identifier_).c_str());
    }
    if (!body.empty()) headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, method);
    if (std::string_view(method) != "GET") {
      curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, &response);
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_NOPROXY, "*");  // the Runtime API is local
    curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (!blocking) {
      curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(options_.request_timeout)));
    }
    const CURLcode code = curl_easy_perform(easy_);
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &response.status);
    curl_slist_free_all(headers);
    if (code != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat(method, " ", path, ": ", curl_easy_strerror(code)));
    }
    return response;
  }

  const CurlExtensionsApiOptions options_;
  const Clock& clock_;
  CURL* easy_ = nullptr;
  std::string identifier_;
};

}  // namespace

std::unique_ptr<ExtensionsApiClient> NewCurlExtensionsApiClient(const CurlExtensionsApiOptions& options,
                                                                const Clock& clock) {
  return std::make_unique<CurlExtensionsApiClient>(options, clock);
}

}  // namespace gateway::lambda
