// The gateway's configuration: one plain struct (config_schema.h), loaded
// from YAML (or from the embedded defaults), overridden by command-line
// flags, validated, and rendered back with secrets redacted for the admin
// status page.
//
//   GatewayConfig config;
//   GATEWAY_ASSIGN_OR_RETURN(config, LoadConfigFile(path, ProcessEnv()));  // or LoadDefaultConfig(ProcessEnv())
//   ConfigOverrides flags;
//   flags.grpc_endpoint = "0.0.0.0:14317";
//   GATEWAY_RETURN_IF_ERROR(ApplyFlagOverrides(flags, &config));
//   GATEWAY_RETURN_IF_ERROR(ValidateConfig(config));
//   LogInfo("config", {{"effective", RenderEffectiveConfig(config)}});
//
// Precedence, highest first: flags > the config file > environment defaults
// (DT_ENDPOINT, DT_API_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS) > built-in defaults. Values in the file may
// reference the environment as ${env:VAR} or ${env:VAR:-default}.
// docs/configuration.md lists every key.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/config/config_env.h"
#include "gateway/config/config_schema.h"

namespace gateway {

// The embedded default configuration file (documentation of the defaults in
// YAML form; loading it yields GatewayConfig{} plus environment defaults).
std::string_view DefaultConfigYaml();

// Parses `yaml_text` over the defaults. Unknown keys, malformed values and
// unset ${env:VAR} references are errors naming the key, e.g.
// "reparent.hold_window: invalid duration \"10\" (use e.g. 10s, 200ms, 5m)".
// Does not validate cross-field constraints: call ValidateConfig.
absl::StatusOr<GatewayConfig> LoadConfig(std::string_view yaml_text, const EnvLookup& env);

// LoadConfig over `base` instead of the built-in defaults: environment
// defaults, then `yaml_text`, are applied on top of it (Lambda extension
// mode, whose defaults suit a small sandbox).
absl::StatusOr<GatewayConfig> LoadConfigOver(GatewayConfig base, std::string_view yaml_text, const EnvLookup& env);

// Reads and parses a file; errors name the path.
absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path, const EnvLookup& env);

// The built-in defaults plus environment defaults; never fails for a
// well-formed environment.
absl::StatusOr<GatewayConfig> LoadDefaultConfig(const EnvLookup& env);

// Command-line flags that override the file. Unset fields leave it alone.
struct ConfigOverrides {
  std::optional<std::string> grpc_endpoint;   // --grpc-endpoint
  std::optional<std::string> http_endpoint;   // --http-endpoint
  std::optional<std::string> admin_endpoint;  // --admin-endpoint
  std::optional<std::string> dt_endpoint;     // --dt-endpoint
  std::optional<std::string> dt_api_token;    // --dt-api-token
  std::optional<std::string> hold_window;     // --hold-window, e.g. "10s"
  std::optional<std::string> log_level;       // --log-level
  std::optional<std::string> exporter_type;   // --exporter: dynatrace|otlphttp|debug
  std::optional<std::string> memory_limit_mib;  // --memory-limit-mib: queue.memory_limit_mib
  std::optional<std::string> process_memory_limit_mib;  // --process-memory-limit-mib
};

// Applies `overrides` to `config`. Errors name the flag.
absl::Status ApplyFlagOverrides(const ConfigOverrides& overrides, GatewayConfig* config);

// Parses the override flags above out of `args` ("--name=value" or
// "--name value"); anything else is appended to `rest` untouched. For
// main.cc, which may also use its own flag parser and fill ConfigOverrides.
absl::StatusOr<ConfigOverrides> ParseOverrideFlags(const std::vector<std::string>& args,
                                                   std::vector<std::string>* rest);

// The configuration in effect as YAML that LoadConfig accepts. Secrets (API
// token, bearer tokens, otlphttp header values) are replaced by "REDACTED".
std::string RenderEffectiveConfig(const GatewayConfig& config);

}  // namespace gateway
