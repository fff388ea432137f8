#include "gateway/lambda/extension_config.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/status_macros.h"

namespace gateway::lambda {
namespace {

constexpr int64_t kMinTelemetryMib = 4;
constexpr int64_t kMaxTelemetryMib = 64;

std::string Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// The environment without the function's OTLP exporter settings: in a
// Lambda function they point the SDK at this extension.
EnvLookup WithoutFunctionOtlpTarget(const EnvLookup& env) {
  return [env](std::string_view name) -> std::optional<std::string> {
    if (name == "OTEL_EXPORTER_OTLP_ENDPOINT" || name == "OTEL_EXPORTER_OTLP_HEADERS") return std::nullopt;
    return env ? env(name) : std::nullopt;
  };
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("GATEWAY_CONFIG_FILE ", path, ": cannot open"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

absl::StatusOr<ExtensionSettings> ExtensionSettingsFromEnv(const EnvLookup& env, std::string_view argv0) {
  ExtensionSettings settings;
  std::optional<std::string> api = env("AWS_LAMBDA_RUNTIME_API");
  if (!api.has_value() || api->empty()) return absl::InvalidArgumentError("AWS_LAMBDA_RUNTIME_API is not set");
  settings.runtime_api = *api;
  settings.extension_name = Basename(argv0);
  if (settings.extension_name.empty()) return absl::InvalidArgumentError("cannot tell the extension's file name");
  if (auto v = env("GATEWAY_CONFIG_FILE"); v.has_value()) settings.config_file = *v;
  if (auto v = env("GATEWAY_LAMBDA_FLUSH_TIMEOUT"); v.has_value() && !v->empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(*v, &d) || d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("GATEWAY_LAMBDA_FLUSH_TIMEOUT: invalid duration \"", *v, "\" (use e.g. 500ms, 2s)"));
    }
    settings.flush_timeout = d;
  }
  if (auto v = env("GATEWAY_LAMBDA_TELEMETRY_PORT"); v.has_value() && !v->empty()) {
    int port = 0;
    if (!absl::SimpleAtoi(*v, &port) || port < 0 || port > 65535 || port == 9001) {
      return absl::InvalidArgumentError(
          absl::StrCat("GATEWAY_LAMBDA_TELEMETRY_PORT: \"", *v, "\" is not a port (0-65535, not Lambda's 9001)"));
    }
    settings.telemetry_port = port;
  }
  if (auto v = env("GATEWAY_LAMBDA_TELEMETRY_HOST"); v.has_value() && !v->empty()) settings.telemetry_host = *v;
  if (auto v = env("GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES"); v.has_value() && !v->empty()) {
    if (!absl::SimpleAtob(*v, &settings.release_program_pages)) {
      return absl::InvalidArgumentError(
          absl::StrCat("GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES: \"", *v, "\" is not true or false"));
    }
  }
  return settings;
}

std::string FindCaBundle(const EnvLookup& env, const std::function<bool(const std::string&)>& exists) {
  if (std::optional<std::string> file = env ? env("SSL_CERT_FILE") : std::nullopt; file.has_value() && !file->empty()) {
    return *file;
  }
  for (const char* candidate :
       {"/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem"}) {
    if (exists(candidate)) return candidate;
  }
  return "";
}

GatewayConfig ExtensionDefaults(const EnvLookup& env) {
  GatewayConfig c;
  c.exporter.ca_file = FindCaBundle(env, [](const std::string& path) { return access(path.c_str(), R_OK) == 0; });
  c.grpc.endpoint = "127.0.0.1:4317";
  c.http.endpoint = "127.0.0.1:4318";
  c.http.threads = 1;
  c.reparent.shards = 1;
  c.reparent.max_held_spans = 100'000;
  c.reparent.max_resolved_spans = 200'000;
  c.exporter.max_in_flight = 4;
  int64_t function_mib = 0;
  std::optional<std::string> memory = env ? env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") : std::nullopt;
  if (memory.has_value() && absl::SimpleAtoi(*memory, &function_mib) && function_mib > 0) {
    c.queue.memory_limit_mib = std::clamp(function_mib / 8, kMinTelemetryMib, kMaxTelemetryMib);
  } else {
    c.queue.memory_limit_mib = 16;
  }
  c.queue.process_memory_limit_mib = -1;
  c.shutdown.drain_timeout = absl::Milliseconds(100);
  if (std::optional<std::string> level = env ? env("GATEWAY_LOG_LEVEL") : std::nullopt; level.has_value()) {
    LogLevel parsed;
    if (ParseLogLevel(*level, &parsed)) c.log.level = parsed;
  }
  return c;
}

absl::StatusOr<GatewayConfig> LoadExtensionConfig(const EnvLookup& env, const std::string& config_file,
                                                  const ConfigOverrides& flags, const SecretResolver& resolve) {
  const EnvLookup config_env = WithoutFunctionOtlpTarget(env);
  std::string yaml;
  if (!config_file.empty()) {
    GATEWAY_ASSIGN_OR_RETURN(yaml, ReadFile(config_file));
  }
  absl::StatusOr<GatewayConfig> loaded = LoadConfigOver(ExtensionDefaults(env), yaml, config_env);
  if (!loaded.ok()) {
    if (config_file.empty()) return loaded.status();
    return absl::Status(loaded.status().code(), absl::StrCat(config_file, ": ", loaded.status().message()));
  }
  GatewayConfig config = *std::move(loaded);
  GATEWAY_RETURN_IF_ERROR(ApplyFlagOverrides(flags, &config));
  if (ResolveExporterType(config) == ExporterType::kDebug && config.exporter.type == ExporterType::kAuto) {
    return absl::InvalidArgumentError(
        "DT_ENDPOINT is not set: the extension has nowhere to send telemetry (set DT_ENDPOINT to "
        "https://<env-id>.live.dynatrace.com/api/v2/otlp and DT_API_TOKEN, or exporter.* in GATEWAY_CONFIG_FILE)");
  }
  if (ResolveExporterType(config) == ExporterType::kDynatrace) {
    if (config.exporter.dynatrace.api_token.empty()) {
      return absl::InvalidArgumentError(
          "DT_API_TOKEN is not set: the Dynatrace exporter needs an API token with the openTelemetryTrace.ingest, "
          "metrics.ingest and logs.ingest scopes (the token itself, or the ARN of a Secrets Manager secret or "
          "SSM parameter holding it)");
    }
    if (resolve) {
      absl::StatusOr<std::string> token = resolve(config.exporter.dynatrace.api_token);
      if (!token.ok()) {
        return absl::Status(token.status().code(), absl::StrCat("DT_API_TOKEN: ", token.status().message()));
      }
      config.exporter.dynatrace.api_token = *std::move(token);
    }
  }
  GATEWAY_RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

}  // namespace gateway::lambda
