// The gateway's configuration schema: one plain struct per section with the
// built-in defaults, the cross-field validation, and what counts as a secret.
// Loading (YAML, environment, flags) is in config.h.
//
//   GatewayConfig config;                       // the built-in defaults
//   config.exporter.dynatrace.endpoint = "https://abc12345.live.dynatrace.com/api/v2/otlp";
//   config.exporter.dynatrace.api_token = token;
//   GATEWAY_RETURN_IF_ERROR(ValidateConfig(config));
//   ExporterType type = ResolveExporterType(config);   // kDynatrace
//
// docs/configuration.md lists every key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/config/fate_store_config.h"
#include "gateway/config/metrics_config.h"
#include "pipeline/base/logging.h"
#include "pipeline/reparent/reparent_options.h"

namespace gateway {

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
  std::string endpoint = "127.0.0.1:4317";
  int max_recv_msg_size_mib = 4;
  TlsConfig tls;
  AuthConfig auth;
};

struct HttpReceiverConfig {
  bool enabled = true;
  std::string endpoint = "127.0.0.1:4318";
  int max_request_body_mib = 16;
  // Origins allowed by CORS ("*" for any); empty: no CORS headers.
  std::vector<std::string> cors_allowed_origins;
  TlsConfig tls;
  AuthConfig auth;
  // I/O threads of the HTTP server.
  int threads = 2;
  // Open connections at most; more are closed at accept.
  int max_connections = 1024;
  // A body slower than this on average (after 5 s) is cut off; 0: no minimum.
  int min_body_bytes_per_second = 1024;
};

struct AdminConfig {
  // /healthz, /readyz, /metrics, /status. Loopback by default.
  std::string endpoint = "127.0.0.1:13133";
  // /status and /status.json (span names, trace ids) answer clients off
  // loopback only with "Authorization: Bearer <status_token>"; empty: never.
  // Secret.
  std::string status_token;
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
  // When set, the token is read from this file instead (surrounding
  // whitespace trimmed) at start-up, and again on SIGHUP: a rotated token is
  // used from the next export attempt on, without a restart.
  std::string api_token_file;
  // An http:// endpoint off loopback sends the token in cleartext: refused
  // unless this is set.
  bool allow_insecure_http = false;
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
  // PEM CA bundle for HTTPS targets (exactly these CAs are trusted, e.g. an
  // ActiveGate's private CA); empty: libcurl's default. YAML
  // exporter.ca_file, env DT_CA_FILE; the Lambda extension sets it to the
  // sandbox's bundle (gateway/lambda). Must be readable at start-up.
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
  // A gRPC call refused because the bytes in flight are at memory_limit_mib
  // waits this long at most for room (in arrival order) before it is
  // answered UNAVAILABLE. Zero: answered at once.
  absl::Duration admission_wait = absl::Milliseconds(500);
  PersistentQueueConfig persistent;
};

struct ShutdownConfig {
  // On SIGTERM: stop accepting, flush held spans and queues for this long.
  absl::Duration drain_timeout = absl::Seconds(25);
  // On SIGTERM, before that: /readyz answers 503 while the receivers keep
  // accepting, so a load balancer or the Collector's resolver drops this
  // replica first (docs/scale-out.md). Zero: no delay.
  absl::Duration drain_delay = absl::ZeroDuration();
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
};

struct GatewayConfig {
  GrpcReceiverConfig grpc;  // receivers.grpc
  HttpReceiverConfig http;  // receivers.http
  AdminConfig admin;
  ReparentOptions reparent;
  FateStoreConfig fate_store;  // reparent.fate_store
  BatchConfig batch;
  ExporterConfig exporter;
  MetricsConfig metrics;
  QueueConfig queue;
  ShutdownConfig shutdown;
  LogConfig log;
};

// Cross-field checks (URLs, host:port, positive sizes, TLS pairs, the token
// the chosen exporter needs). Errors name the key.
absl::Status ValidateConfig(const GatewayConfig& config);

// kAuto resolved: kDynatrace if exporter.dynatrace.endpoint is set, else
// kOtlpHttp if exporter.otlphttp.endpoint is set, else kDebug.
ExporterType ResolveExporterType(const GatewayConfig& config);

// "auto", "dynatrace", "otlphttp", "debug".
std::string_view ExporterTypeName(ExporterType type);

// The secret values in `config` at least kMinSecretLength long, so that
// outputs (the admin pages) can be scrubbed of them.
std::vector<std::string> ConfigSecrets(const GatewayConfig& config);
inline constexpr size_t kMinSecretLength = 6;

// What secrets are shown as.
inline constexpr std::string_view kRedacted = "REDACTED";

}  // namespace gateway
