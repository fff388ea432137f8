#include "gateway/lambda/aws_secrets.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pipeline/base/absl_compat.h"

namespace gateway::lambda {
namespace {

namespace json = ::boost::json;

constexpr size_t kMaxResponseBytes = 256 * 1024;

struct Arn {
  std::string partition;
  std::string service;
  std::string region;
};

std::optional<Arn> ParseArn(const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits(':', 5));
  if (parts.size() < 6 || parts[0] != "arn" || parts[2].empty() || parts[3].empty()) return std::nullopt;
  if (parts[1].rfind("aws", 0) != 0) return std::nullopt;
  return Arn{parts[1], parts[2], parts[3]};
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t n = size * count;
  body->append(data, std::min(n, kMaxResponseBytes - std::min(kMaxResponseBytes, body->size())));
  return n;
}

std::string Endpoint(const Arn& arn, const AwsSecretsOptions& options) {
  if (!options.endpoint_override.empty()) return options.endpoint_override;
  const char* domain = arn.partition == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return absl::StrCat("https://", arn.service, ".", arn.region, ".", domain, "/");
}

// The "__type" (or "code") of an AWS JSON error answer, for messages.
std::string ErrorType(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return "";
  for (const char* key : {"__type", "code", "Code"}) {
    if (const json::value* t = v.get_object().if_contains(key); t != nullptr && t->is_string()) {
      return std::string(t->get_string());
    }
  }
  return "";
}

absl::StatusOr<std::string> Extract(const Arn& arn, const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return absl::UnavailableError(absl::StrCat(arn.service, ": answer is not JSON"));
  const json::object& o = v.get_object();
  if (arn.service == "ssm") {
    const json::value* parameter = o.if_contains("Parameter");
    const json::value* value =
        parameter != nullptr && parameter->is_object() ? parameter->get_object().if_contains("Value") : nullptr;
    if (value == nullptr || !value->is_string()) {
      return absl::UnavailableError("ssm: answer has no Parameter.Value");
    }
    return std::string(value->get_string());
  }
  const json::value* secret = o.if_contains("SecretString");
  if (secret == nullptr || !secret->is_string()) {
    return absl::InvalidArgumentError("secretsmanager: the secret has no SecretString (binary secrets are not read)");
  }
  const std::string text(secret->get_string());
  json::value inner = json::parse(text, ec);
  if (!ec && inner.is_object()) {
    if (const json::value* token = inner.get_object().if_contains("DT_API_TOKEN");
        token != nullptr && token->is_string()) {
      return std::string(token->get_string());
    }
  }
  return text;
}

}  // namespace

AwsSecretsOptions AwsSecretsOptionsFromEnv(const EnvLookup& env) {
  AwsSecretsOptions options;
  options.access_key_id = env("AWS_ACCESS_KEY_ID").value_or("");
  options.secret_access_key = env("AWS_SECRET_ACCESS_KEY").value_or("");
  options.session_token = env("AWS_SESSION_TOKEN").value_or("");
  options.endpoint_override = env("GATEWAY_AWS_ENDPOINT_URL").value_or("");
  return options;
}

bool IsSecretArn(const std::string& value) {
  const std::optional<Arn> arn = ParseArn(value);
  return arn.has_value() && (arn->service == "secretsmanager" || arn->service == "ssm");
}

absl::StatusOr<std::string> ResolveSecret(const std::string& value, const AwsSecretsOptions& options) {
  if (!IsSecretArn(value)) return value;
  const Arn arn = *ParseArn(value);
  if (options.access_key_id.empty() || options.secret_access_key.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(arn.service, ": no AWS credentials in the environment (AWS_ACCESS_KEY_ID)"));
  }
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  json::object request;
  std::string target;
  if (arn.service == "ssm") {
    request["Name"] = value;
    request["WithDecryption"] = true;
    target = "AmazonSSM.GetParameter";
  } else {
    request["SecretId"] = value;
    target = "secretsmanager.GetSecretValue";
  }
  const std::string request_body = json::serialize(request);
  std::string response;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return absl::InternalError("curl_easy_init failed");
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/x-amz-json-1.1");
  headers = curl_slist_append(headers, absl::StrCat("X-Amz-Target: ", target).c_str());
  if (!options.session_token.empty()) {
    headers = curl_slist_append(headers, absl::StrCat("X-Amz-Security-Token: ", options.session_token).c_str());
  }
  const std::string url = Endpoint(arn, options);
  const std::string sigv4 = absl::StrCat("aws:amz:", arn.region, ":", arn.service);
  const std::string userpwd = absl::StrCat(options.access_key_id, ":", options.secret_access_key);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request_body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(easy, CURLOPT_USERPWD, userpwd.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options.timeout)));
  const CURLcode code = curl_easy_perform(easy);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(arn.service, " ", url, ": ", curl_easy_strerror(code)));
  }
  if (status != 200) {
    const std::string type = ErrorType(response);
    const std::string message = absl::StrCat(arn.service, ": HTTP ", status, type.empty() ? "" : " ", type);
    return status == 400 || status == 403 ? absl::PermissionDeniedError(message) : absl::UnavailableError(message);
  }
  return Extract(arn, response);
}

}  // namespace gateway::lambda
