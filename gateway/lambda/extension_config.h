// Configuration in Lambda extension mode: the environment Lambda users set on
// the function (DT_ENDPOINT, DT_API_TOKEN, ...), defaults sized for a small
// sandbox, and the extension's own settings (GATEWAY_LAMBDA_*).
//
//   absl::StatusOr<ExtensionSettings> settings = ExtensionSettingsFromEnv(env, argv[0]);
//   absl::StatusOr<GatewayConfig> config = LoadExtensionConfig(env, flags, secrets);
//
// Precedence, highest first: flags (when the binary is started by hand),
// GATEWAY_CONFIG_FILE, the environment (DT_ENDPOINT, DT_API_TOKEN), the
// extension defaults below, the built-in defaults. The function's own
// OTEL_EXPORTER_OTLP_* variables (which point its SDK at this extension)
// are not read as the exporter's target.
//
// The CA bundle for HTTPS to Dynatrace: SSL_CERT_FILE when set, else the
// first of /etc/pki/tls/certs/ca-bundle.crt (Amazon Linux, the Lambda
// runtimes), /etc/ssl/certs/ca-certificates.crt (Debian, Ubuntu),
// /etc/ssl/cert.pem that exists; libcurl's default when none does.
//
// Extension defaults: receivers on 127.0.0.1:4317 / 127.0.0.1:4318 (one
// HTTP thread), one reparenting shard, at most 100,000 held and 200,000
// remembered spans, 4 export requests in flight, the telemetry budget
// (queue.memory_limit_mib) an eighth of AWS_LAMBDA_FUNCTION_MEMORY_SIZE
// (4..64 MiB), no process memory bound (no sampling thread), drain timeout
// 100 ms after the SHUTDOWN flush, log level from GATEWAY_LOG_LEVEL.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/config/config.h"

namespace gateway::lambda {

struct ExtensionSettings {
  // AWS_LAMBDA_RUNTIME_API: host:port of the Runtime, Extensions and
  // Telemetry APIs.
  std::string runtime_api;
  // Lambda-Extension-Name: the executable's file name.
  std::string extension_name;
  // GATEWAY_CONFIG_FILE: a YAML file read over the extension defaults.
  std::string config_file;
  // GATEWAY_LAMBDA_FLUSH_TIMEOUT: longest flush at the end of an invoke.
  absl::Duration flush_timeout = absl::Seconds(2);
  // GATEWAY_LAMBDA_TELEMETRY_PORT: the Telemetry API listener, on all
  // interfaces of the sandbox (Lambda posts to sandbox.localdomain).
  int telemetry_port = 4243;
  // GATEWAY_LAMBDA_TELEMETRY_HOST: the host in the destination URI.
  std::string telemetry_host = "sandbox.localdomain";
  // The listener's bind address.
  std::string telemetry_listen_host = "0.0.0.0";
  // GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES: give the pages of start-up code
  // back to the kernel after the first invoke (program_pages.h).
  bool release_program_pages = true;
};

// Errors name the variable.
absl::StatusOr<ExtensionSettings> ExtensionSettingsFromEnv(const EnvLookup& env, std::string_view argv0);

// The extension defaults (above) over the built-in ones.
GatewayConfig ExtensionDefaults(const EnvLookup& env);

// The CA bundle as described above; `exists` tells whether a file exists.
std::string FindCaBundle(const EnvLookup& env, const std::function<bool(const std::string&)>& exists);

// Resolves a value that names a secret (an AWS Secrets Manager or SSM
// Parameter Store ARN) to the secret; other values are returned unchanged.
using SecretResolver = std::function<absl::StatusOr<std::string>(const std::string& value)>;

// Loads the configuration as described above and validates it. Errors are
// meant for /extension/init/error, e.g. "DT_ENDPOINT is not set: ...".
// `resolve` (may be empty) is applied to exporter.dynatrace.api_token.
absl::StatusOr<GatewayConfig> LoadExtensionConfig(const EnvLookup& env, const std::string& config_file,
                                                  const ConfigOverrides& flags, const SecretResolver& resolve);

}  // namespace gateway::lambda
