#include "gateway/config/config_schema.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/host_port.h"
#include "pipeline/base/status_macros.h"

namespace gateway {
namespace {

absl::Status ValidateHostPort(std::string_view key, const std::string& endpoint) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be host:port (e.g. 0.0.0.0:4317), ",
                                                   ToAbsl(why), ", got \"", endpoint, "\""));
  };
  absl::StatusOr<HostPort> parsed = ParseHostPort(endpoint);
  if (!parsed.ok()) return bad(ToStd(parsed.status().message()));
  if (parsed->host.empty()) return bad("no host");
  return absl::OkStatus();
}

// An http:// URL whose host is not a loopback address or "localhost".
bool IsCleartextOffLoopback(const std::string& url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) return false;
  absl::string_view host = rest.substr(0, rest.find_first_of("/"));
  if (absl::ConsumePrefix(&host, "[")) {
    host = host.substr(0, host.find(']'));
  } else {
    host = host.substr(0, host.rfind(':'));
  }
  return !(host == "localhost" || host == "::1" || absl::StartsWith(host, "127."));
}

absl::Status ValidateUrl(std::string_view key, const std::string& url) {
  absl::string_view rest = url;
  if ((absl::ConsumePrefix(&rest, "https://") || absl::ConsumePrefix(&rest, "http://")) && !rest.empty() &&
      rest.front() != '/' && rest.find_first_of(" \t\r\n") == absl::string_view::npos) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be an https:// or http:// URL, got \"",
                                                 url, "\""));
}

// A file the gateway must read at start-up (and may re-read later).
absl::Status CheckReadable(std::string_view key, const std::string& path) {
  if (::access(path.c_str(), R_OK) == 0) return absl::OkStatus();
  const int error = errno;
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(key), ": cannot read \"", path, "\": ", std::strerror(error)));
}

absl::Status ValidateTls(std::string_view key, const TlsConfig& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(key), ": cert_file and key_file must be set together"));
  }
  return absl::OkStatus();
}

absl::Status Positive(std::string_view key, absl::Duration d) {
  if (d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be greater than 0"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateConfig(const GatewayConfig& c) {
  if (c.grpc.enabled) {
    GATEWAY_RETURN_IF_ERROR(ValidateHostPort("receivers.grpc.endpoint", c.grpc.endpoint));
    GATEWAY_RETURN_IF_ERROR(ValidateTls("receivers.grpc.tls", c.grpc.tls));
  }
  if (c.http.enabled) {
    GATEWAY_RETURN_IF_ERROR(ValidateHostPort("receivers.http.endpoint", c.http.endpoint));
    GATEWAY_RETURN_IF_ERROR(ValidateTls("receivers.http.tls", c.http.tls));
  }
  if (!c.grpc.enabled && !c.http.enabled) {
    return absl::InvalidArgumentError("receivers: at least one of grpc and http must be enabled");
  }
  GATEWAY_RETURN_IF_ERROR(ValidateHostPort("admin.endpoint", c.admin.endpoint));
  if (c.reparent.target_kinds.empty()) {
    return absl::InvalidArgumentError("reparent.target_kinds: must name at least one span kind");
  }
  if (c.reparent.resolved_ttl < c.reparent.hold_window) {
    return absl::InvalidArgumentError("reparent.resolved_ttl: must be at least reparent.hold_window");
  }
  GATEWAY_RETURN_IF_ERROR(ValidateFateStoreConfig(c.fate_store, c.reparent.hold_window));
  GATEWAY_RETURN_IF_ERROR(Positive("batch.timeout", c.batch.timeout));
  GATEWAY_RETURN_IF_ERROR(Positive("exporter.timeout", c.exporter.timeout));
  GATEWAY_RETURN_IF_ERROR(Positive("exporter.retry.initial_interval", c.exporter.retry.initial_interval));
  GATEWAY_RETURN_IF_ERROR(Positive("exporter.retry.max_elapsed", c.exporter.retry.max_elapsed));
  if (c.exporter.retry.max_interval < c.exporter.retry.initial_interval) {
    return absl::InvalidArgumentError(
        "exporter.retry.max_interval: must be at least exporter.retry.initial_interval");
  }
  GATEWAY_RETURN_IF_ERROR(Positive("shutdown.drain_timeout", c.shutdown.drain_timeout));
  if (c.queue.admission_wait < absl::ZeroDuration() || c.queue.admission_wait > absl::Seconds(60)) {
    return absl::InvalidArgumentError("queue.admission_wait: must be between 0s and 60s");
  }
  if (c.shutdown.drain_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("shutdown.drain_delay: must not be negative");
  }
  GATEWAY_RETURN_IF_ERROR(Positive("metrics.series_ttl", c.metrics.series_ttl));
  if (c.batch.max_bytes > c.exporter.limits.traces.max_request_bytes) {
    return absl::InvalidArgumentError(
        "batch.max_bytes: must not exceed exporter.limits.traces.max_request_bytes");
  }
  if (c.queue.persistent.enabled && c.queue.persistent.directory.empty()) {
    return absl::InvalidArgumentError("queue.persistent.directory: must be set when queue.persistent.enabled");
  }
  if (!c.exporter.ca_file.empty()) GATEWAY_RETURN_IF_ERROR(CheckReadable("exporter.ca_file", c.exporter.ca_file));
  switch (ResolveExporterType(c)) {
    case ExporterType::kDynatrace:
      if (c.exporter.dynatrace.endpoint.empty()) {
        return absl::InvalidArgumentError(
            "exporter.dynatrace.endpoint: must be set for the dynatrace exporter (or set DT_ENDPOINT)");
      }
      GATEWAY_RETURN_IF_ERROR(ValidateUrl("exporter.dynatrace.endpoint", c.exporter.dynatrace.endpoint));
      if (IsCleartextOffLoopback(c.exporter.dynatrace.endpoint) && !c.exporter.dynatrace.allow_insecure_http) {
        return absl::InvalidArgumentError(absl::StrCat(
            "exporter.dynatrace.endpoint: ", c.exporter.dynatrace.endpoint,
            " is http://, which would send the API token in cleartext; use https:// (an ActiveGate with a private CA "
            "works with https), or set exporter.dynatrace.allow_insecure_http: true"));
      }
      if (c.exporter.dynatrace.api_token.empty() && c.exporter.dynatrace.api_token_file.empty()) {
        return absl::InvalidArgumentError(
            "exporter.dynatrace.api_token: must be set for the dynatrace exporter (or set DT_API_TOKEN, or "
            "exporter.dynatrace.api_token_file)");
      }
      if (!c.exporter.dynatrace.api_token_file.empty()) {
        GATEWAY_RETURN_IF_ERROR(CheckReadable("exporter.dynatrace.api_token_file", c.exporter.dynatrace.api_token_file));
      }
      break;
    case ExporterType::kOtlpHttp:
      if (c.exporter.otlphttp.endpoint.empty()) {
        return absl::InvalidArgumentError(
            "exporter.otlphttp.endpoint: must be set for the otlphttp exporter (or set "
            "OTEL_EXPORTER_OTLP_ENDPOINT)");
      }
      GATEWAY_RETURN_IF_ERROR(ValidateUrl("exporter.otlphttp.endpoint", c.exporter.otlphttp.endpoint));
      break;
    case ExporterType::kDebug:
    case ExporterType::kAuto:
      break;
  }
  return absl::OkStatus();
}

ExporterType ResolveExporterType(const GatewayConfig& config) {
  if (config.exporter.type != ExporterType::kAuto) return config.exporter.type;
  if (!config.exporter.dynatrace.endpoint.empty()) return ExporterType::kDynatrace;
  if (!config.exporter.otlphttp.endpoint.empty()) return ExporterType::kOtlpHttp;
  return ExporterType::kDebug;
}

std::string_view ExporterTypeName(ExporterType type) {
  switch (type) {
    case ExporterType::kAuto:
      return "auto";
    case ExporterType::kDynatrace:
      return "dynatrace";
    case ExporterType::kOtlpHttp:
      return "otlphttp";
    case ExporterType::kDebug:
      return "debug";
  }
  return "auto";
}

std::vector<std::string> ConfigSecrets(const GatewayConfig& c) {
  std::vector<std::string> secrets;
  for (const std::string* s : {&c.exporter.dynatrace.api_token, &c.admin.status_token, &c.grpc.auth.bearer_token,
                               &c.http.auth.bearer_token, &c.fate_store.redis.password}) {
    secrets.push_back(*s);
  }
  for (const auto& [name, value] : c.exporter.otlphttp.headers) {
    secrets.push_back(value);
  }
  // Short values (a header like "gzip") would scrub harmless text everywhere.
  std::erase_if(secrets, [](const std::string& s) { return s.size() < kMinSecretLength; });
  return secrets;
}

}  // namespace gateway
