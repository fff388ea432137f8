// The gateway's configuration: one plain struct, loaded from YAML (or from the
// embedded defaults), overridden by command-line flags, validated, and
// rendered back with secrets redacted for the admin status page.
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

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pipeline/logging.h"
#include "pipeline/reparent_options.h"

namespace gateway {

// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
EnvLookup ProcessEnv();

// An environment made of `vars` only; for tests.
EnvLookup MapEnv(std::map<std::string, std::string> vars);

struct TlsConfig {
  // Both set: the listener serves TLS. Both empty: plaintext.
  std::string cert_file;
  std::string key_file;

  bool Enabled() const { return !cert_file.empty(); }
};

struct AuthConfig {
  // Non-empty: requests must carry "Authorization: Bearer <token>". Secret.
  std::string bearer_token;
};

struct GrpcReceiverConfig {
  bool enabled = true;
  std::string endpoint = "0.0.0.0:4317";
  int max_recv_msg_size_mib = 4;
  TlsConfig tls;
  AuthConfig auth;
};

struct HttpReceiverConfig {
  bool enabled = true;
  std::string endpoint = "0.0.0.0:4318";
  int max_request_body_mib = 16;
  // Origins allowed by CORS ("*" for any); empty: no CORS headers.
  std::vector<std::string> cors_allowed_origins;
  TlsConfig tls;
  AuthConfig auth;
  // I/O threads of the HTTP server.
  int threads = 2;
};

struct AdminConfig {
  // /healthz, /readyz, /metrics, /status. Loopback by default.
  std::string endpoint = "127.0.0.1:13133";
};

struct BatchConfig {
  int max_spans = 2000;
  int64_t max_bytes = 4'000'000;
  absl::Duration timeout = absl::Milliseconds(200);
};

enum class ExporterType { kAuto, kDynatrace, kOtlpHttp, kDebug };
enum class Compression { kGzip, kNone };

struct DynatraceExporterConfig {
  // Base of the OTLP API, e.g. https://abc12345.live.dynatrace.com/api/v2/otlp;
  // the exporter appends /v1/traces, /v1/metrics, /v1/logs.
  std::string endpoint;
  // Sent as "Authorization: Api-Token <token>". Secret.
  std::string api_token;
};

struct OtlpHttpExporterConfig {
  // Base URL; /v1/<signal> is appended.
  std::string endpoint;
  // Extra request headers. Values are treated as secrets.
  std::map<std::string, std::string> headers;
};

struct RetryConfig {
  bool enabled = true;
  absl::Duration initial_interval = absl::Seconds(5);
  absl::Duration max_interval = absl::Seconds(30);
  // A request still undelivered after this long is given up (counted).
  absl::Duration max_elapsed = absl::Minutes(55);
};

struct SignalLimits {
  // Largest request body sent to the backend; bigger batches are split.
  int64_t max_request_bytes = 0;
};

struct ExportLimits {
  // Dynatrace's documented OTLP payload limits.
  SignalLimits traces{8'000'000};
  SignalLimits metrics{4'000'000};
  SignalLimits logs{2'000'000};
};

struct ExporterConfig {
  // kAuto: Dynatrace when a Dynatrace endpoint is known, else debug. See
  // ResolveExporterType.
  ExporterType type = ExporterType::kAuto;
  DynatraceExporterConfig dynatrace;
  OtlpHttpExporterConfig otlphttp;
  Compression compression = Compression::kGzip;
  // PEM CA bundle for HTTPS targets; empty: libcurl's default. No YAML key:
  // the Lambda extension sets it to the sandbox's bundle (gateway/lambda).
  std::string ca_file;
  absl::Duration timeout = absl::Seconds(10);
  RetryConfig retry;
  // Concurrent requests to the backend.
  int max_in_flight = 16;
  ExportLimits limits;
};

struct PersistentQueueConfig {
  bool enabled = false;
  std::string directory;
  int64_t max_size_mib = 1024;
};

struct QueueConfig {
  // Bytes accepted and not yet delivered; past it receivers push back.
  int64_t memory_limit_mib = 256;
  // Bound on the process's resident memory (MemoryGuard); it also caps the
  // reparenting tables. 0: 80% of the container's (cgroup) memory limit when
  // there is one, else none. -1: none.
  int64_t process_memory_limit_mib = 0;
  PersistentQueueConfig persistent;
};

struct ShutdownConfig {
  // On SIGTERM: stop accepting, flush held spans and queues for this long.
  absl::Duration drain_timeout = absl::Seconds(25);
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
};

struct GatewayConfig {
  GrpcReceiverConfig grpc;  // receivers.grpc
  HttpReceiverConfig http;  // receivers.http
  AdminConfig admin;
  ReparentOptions reparent;
  BatchConfig batch;
  ExporterConfig exporter;
  QueueConfig queue;
  ShutdownConfig shutdown;
  LogConfig log;
};

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

// Cross-field checks (URLs, host:port, positive sizes, TLS pairs, the token
// the chosen exporter needs). Errors name the key.
absl::Status ValidateConfig(const GatewayConfig& config);

// kAuto resolved: kDynatrace if exporter.dynatrace.endpoint is set, else kDebug.
ExporterType ResolveExporterType(const GatewayConfig& config);

// "auto", "dynatrace", "otlphttp", "debug".
std::string_view ExporterTypeName(ExporterType type);

// The configuration in effect as YAML that LoadConfig accepts. Secrets (API
// token, bearer tokens, otlphttp header values) are replaced by "REDACTED".
std::string RenderEffectiveConfig(const GatewayConfig& config);

// The secret values in `config` at least kMinSecretLength long, so that
// outputs (the admin pages) can be scrubbed of them.
std::vector<std::string> ConfigSecrets(const GatewayConfig& config);
inline constexpr size_t kMinSecretLength = 6;

inline constexpr std::string_view kRedacted = "REDACTED";

}  // namespace gateway
