#include "tests/fakes/fake_lambda_api.h"

#include <curl/curl.h>

#include <utility>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"

namespace gateway::testing {
namespace {

namespace json = ::boost::json;

constexpr char kJson[] = "application/json";

HttpResponse Answer(int status, std::string body) { return {status, kJson, std::move(body), {}}; }

HttpResponse ErrorAnswer(int status, const std::string& type, const std::string& message) {
  return Answer(status, json::serialize(json::object{{"errorType", type}, {"errorMessage", message}}));
}

// The URI with its host replaced by 127.0.0.1: "http://sandbox.localdomain:4243/x" -> "http://127.0.0.1:4243/x".
std::string LocalDestination(const std::string& uri) {
  constexpr std::string_view kScheme = "http://";
  if (uri.rfind(kScheme, 0) != 0) return "";
  const size_t host_end = uri.find_first_of(":/", kScheme.size());
  return absl::StrCat("http://127.0.0.1", host_end == std::string::npos ? "" : uri.substr(host_end));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeLambdaApi>> FakeLambdaApi::Start(Options options) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::unique_ptr<FakeLambdaApi> api(new FakeLambdaApi(options));
  HttpServerOptions server;
  server.listen_address = "127.0.0.1:0";
  // event/next holds a thread while it waits.
  server.threads = 4;
  server.shutdown_grace = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<HttpServer>> started = StartHttpServer(server, *api);
  if (!started.ok()) return started.status();
  api->server_ = *std::move(started);
  return api;
}

FakeLambdaApi::~FakeLambdaApi() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (server_ != nullptr) server_->Shutdown();
}

std::string FakeLambdaApi::address() const { return absl::StrCat("127.0.0.1:", server_->port()); }

void FakeLambdaApi::PushInvoke(const std::string& request_id, absl::Time deadline) {
  json::object event{{"eventType", "INVOKE"},
                     {"deadlineMs", absl::ToUnixMillis(deadline)},
                     {"requestId", request_id},
                     {"invokedFunctionArn", "arn:aws:lambda:us-east-1:123456789012:function:fake"},
                     {"tracing", json::object{{"type", "X-Amzn-Trace-Id"}, {"value", "Root=1-00000000-000000000000000000000000"}}}};
  MutexLock lock(&mu_);
  events_.push_back(json::serialize(event));
}

void FakeLambdaApi::PushShutdown(absl::Time deadline, const std::string& reason) {
  json::object event{{"eventType", "SHUTDOWN"}, {"shutdownReason", reason}, {"deadlineMs", absl::ToUnixMillis(deadline)}};
  MutexLock lock(&mu_);
  events_.push_back(json::serialize(event));
}

long FakeLambdaApi::SendTelemetry(const std::string& json_array) {
  const std::string url = destination();
  if (url.empty()) return 0;
  CURL* easy = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, json_array.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(json_array.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  long status = 0;
  if (curl_easy_perform(easy) == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return status;
}

long FakeLambdaApi::SendRuntimeDone(const std::string& request_id) {
  json::array batch{json::object{
      {"time", "2026-01-01T00:00:00.000Z"},
      {"type", "platform.runtimeDone"},
      {"record", json::object{{"requestId", request_id}, {"status", "success"}}}}};
  return SendTelemetry(json::serialize(batch));
}

void FakeLambdaApi::set_on_register(std::function<void()> on_register) { on_register_ = std::move(on_register); }

void FakeLambdaApi::set_on_next(std::function<void(int call, absl::Time at)> on_next) {
  on_next_ = std::move(on_next);
}

bool FakeLambdaApi::WaitForNextCalls(int calls, absl::Time deadline) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline([this, calls]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return next_calls_ >= calls; },
                               deadline);
}

bool FakeLambdaApi::WaitForSubscription(absl::Time deadline) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return subscribed_; }, deadline);
}

std::string FakeLambdaApi::registered_name() const {
  MutexLock lock(&mu_);
  return registered_name_;
}

std::string FakeLambdaApi::registered_events() const {
  MutexLock lock(&mu_);
  return registered_events_;
}

absl::Time FakeLambdaApi::registered_at() const {
  MutexLock lock(&mu_);
  return registered_at_;
}

std::string FakeLambdaApi::subscription_body() const {
  MutexLock lock(&mu_);
  return subscription_body_;
}

std::string FakeLambdaApi::destination() const {
  MutexLock lock(&mu_);
  return destination_;
}

int FakeLambdaApi::next_calls() const {
  MutexLock lock(&mu_);
  return next_calls_;
}

std::vector<FakeLambdaApi::ErrorReport> FakeLambdaApi::errors() const {
  MutexLock lock(&mu_);
  return errors_;
}

bool FakeLambdaApi::Identified(const HttpRequest& request) const {
  MutexLock lock(&mu_);
  return !identifier_.empty() && request.Header("lambda-extension-identifier") == identifier_;
}

HttpResponse FakeLambdaApi::Handle(HttpRequest request) {
  if (request.method == "POST" && request.path == "/2020-01-01/extension/register") return Register(request);
  if (request.method == "GET" && request.path == "/2020-01-01/extension/event/next") return Next(request);
  if (request.method == "PUT" && (request.path == "/2022-07-01/telemetry" || request.path == "/2022-07-01/telemetry/")) {
    return Subscribe(request);
  }
  if (request.method == "POST" && (request.path == "/2020-01-01/extension/init/error" ||
                                   request.path == "/2020-01-01/extension/exit/error")) {
    return ReportError(request);
  }
  return ErrorAnswer(404, "InvalidRequest", "unknown path");
}

HttpResponse FakeLambdaApi::Register(const HttpRequest& request) {
  const std::string name = request.Header("lambda-extension-name");
  if (name.empty()) return ErrorAnswer(403, "Extension.InvalidExtensionName", "Empty extension name");
  if (options_.register_status != 200) {
    return ErrorAnswer(options_.register_status, "Extension.RegistrationRefused", "scripted");
  }
  boost::system::error_code ec;
  json::value body = json::parse(request.body, ec);
  if (ec || !body.is_object()) return ErrorAnswer(403, "InvalidRequestFormat", "body is not a JSON object");
  std::string id;
  {
    MutexLock lock(&mu_);
    registered_name_ = name;
    registered_events_ = request.body;
    registered_at_ = absl::Now();
    identifier_ = "a1b2c3d4-5678-90ab-cdef-000000000001";
    id = identifier_;
  }
  if (on_register_) on_register_();
  HttpResponse response = Answer(
      200, R"({"functionName":"fake-function","functionVersion":"$LATEST","handler":"handler.main"})");
  response.headers.emplace_back("Lambda-Extension-Identifier", id);
  return response;
}

HttpResponse FakeLambdaApi::Next(const HttpRequest& request) {
  if (!Identified(request)) return ErrorAnswer(403, "Extension.InvalidExtensionIdentifier", "unknown identifier");
  int call = 0;
  {
    MutexLock lock(&mu_);
    call = ++next_started_;
  }
  if (on_next_) on_next_(call, absl::Now());
  {
    MutexLock lock(&mu_);
    ++next_calls_;
  }
  MutexLock lock(&mu_);
  const bool got = mu_.AwaitWithTimeout(
      [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !events_.empty() || stopping_; }, options_.next_timeout);
  if (!got || events_.empty()) return ErrorAnswer(500, "Fake.NoEvent", "no event pushed in time");
  HttpResponse response = Answer(200, std::move(events_.front()));
  events_.pop_front();
  response.headers.emplace_back("Lambda-Extension-Event-Identifier", absl::StrCat("event-", call));
  return response;
}

HttpResponse FakeLambdaApi::Subscribe(const HttpRequest& request) {
  if (!Identified(request)) return ErrorAnswer(403, "Extension.InvalidExtensionIdentifier", "unknown identifier");
  boost::system::error_code ec;
  json::value body = json::parse(request.body, ec);
  std::string uri;
  if (!ec && body.is_object()) {
    const json::value* destination = body.get_object().if_contains("destination");
    const json::value* u =
        destination != nullptr && destination->is_object() ? destination->get_object().if_contains("URI") : nullptr;
    if (u != nullptr && u->is_string()) uri = std::string(u->get_string());
  }
  {
    MutexLock lock(&mu_);
    subscribed_ = true;
    subscription_body_ = request.body;
    if (options_.subscribe_status == 200) destination_ = LocalDestination(uri);
  }
  if (uri.empty()) return ErrorAnswer(400, "ValidationError", "destination.URI is missing");
  if (options_.subscribe_status != 200) {
    return ErrorAnswer(options_.subscribe_status, "Telemetry.NotSupported", "scripted");
  }
  return Answer(200, "\"OK\"");
}

HttpResponse FakeLambdaApi::ReportError(const HttpRequest& request) {
  if (!Identified(request)) return ErrorAnswer(403, "Extension.InvalidExtensionIdentifier", "unknown identifier");
  MutexLock lock(&mu_);
  errors_.push_back({request.path, request.Header("lambda-extension-function-error-type"), request.body});
  return Answer(202, R"({"status":"OK"})");
}

}  // namespace gateway::testing
