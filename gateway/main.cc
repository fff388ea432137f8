// otlp_gateway: parses flags, loads the configuration, starts the gateway and
// waits for SIGTERM/SIGINT (SIGHUP re-reads the API token file). Everything
// else lives in libraries (gateway_app).
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "gateway/config/config.h"
#include "gateway/gateway_app.h"
#include "gateway/lambda/extension_main.h"
#include "gateway/process_limits.h"
#include "pipeline/base/allocator.h"
#include "pipeline/base/logging.h"

namespace {

constexpr char kUsage[] = R"(otlp_gateway: an OTLP ingest gateway that reparents messaging consumer spans
onto the producer span they link to, and exports to Dynatrace.

Usage: otlp_gateway [flags]

  --config=FILE            YAML configuration (default: the embedded one)
  --validate               check the configuration, print it (secrets redacted), exit
  --print-default-config   print the embedded default configuration and exit
  --healthcheck=URL        GET URL, exit 0 on 2xx (for container HEALTHCHECKs)
  --grpc-endpoint=H:P      OTLP/gRPC listener (default 127.0.0.1:4317)
  --http-endpoint=H:P      OTLP/HTTP listener (default 127.0.0.1:4318)
  --admin-endpoint=H:P     /healthz /readyz /metrics /status (default 127.0.0.1:13133)
  --dt-endpoint=URL        Dynatrace OTLP base, e.g. https://abc.live.dynatrace.com/api/v2/otlp
  --dt-api-token=TOKEN     Dynatrace API token (prefer DT_API_TOKEN in the environment)
  --exporter=TYPE          dynatrace | otlphttp | debug
  --hold-window=DURATION   how long a span waits for its parent, e.g. 10s
  --memory-limit-mib=N     bytes accepted and not yet delivered before clients are
                           pushed back (default 256)
  --process-memory-limit-mib=N
                           bound on the gateway's resident memory (default 0: 80%
                           of the container's memory limit; -1: none)
  --log-level=LEVEL        debug | info | warn | error
  --drain-delay=DURATION   on SIGTERM, answer /readyz 503 and keep receiving for
                           this long before the drain (default 0s; a second
                           signal ends it early). For a tier that routes by
                           trace id: long enough for its resolver to drop
                           this replica (docs/scale-out.md)
  --help                   this text

Environment: DT_ENDPOINT, DT_API_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_HEADERS. With AWS_LAMBDA_RUNTIME_API set the binary runs as
an AWS Lambda extension (docs/lambda.md). With no Dynatrace endpoint the gateway prints one
line per span (debug exporter). docs/configuration.md lists every key.
)";

int HealthCheck(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return 1;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return rc == CURLE_OK && status >= 200 && status < 300 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Lambda extension mode (docs/lambda.md) when AWS_LAMBDA_RUNTIME_API is set.
  const bool lambda_extension = gateway::lambda::InExtensionMode(gateway::ProcessEnv());
  // Large request and export buffers from the heaps, not a fresh mmap each
  // (pipeline/base/allocator.h); before any thread starts. A Lambda sandbox is
  // small: few arenas, freed heap handed back.
  if (lambda_extension) {
    gateway::lambda::TuneAllocatorForSandbox();
  } else {
    gateway::TuneAllocatorForThroughput();
  }
  // Debian builds Abseil without NDEBUG, which turns on absl::Mutex's
  // deadlock detector: a global graph updated on every lock gRPC takes
  // (~2% of the gateway's CPU under load). Lock order is a test-time
  // concern here.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // The API token is in memory: no core dump, and no ptrace by other
  // processes of the same user.
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> rest;
  absl::StatusOr<gateway::ConfigOverrides> overrides = gateway::ParseOverrideFlags(args, &rest);
  if (!overrides.ok()) {
    std::cerr << "otlp_gateway: " << overrides.status().message() << "\n" << kUsage;
    return 2;
  }
  std::string config_path;
  bool validate_only = false;
  std::optional<absl::Duration> drain_delay_flag;
  for (const std::string& arg : rest) {
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--print-default-config") {
      std::cout << gateway::DefaultConfigYaml();
      return 0;
    } else if (arg.rfind("--healthcheck=", 0) == 0) {
      return HealthCheck(arg.substr(std::string("--healthcheck=").size()));
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(std::string("--config=").size());
    } else if (arg == "--validate") {
      validate_only = true;
    } else if (arg.rfind("--drain-delay=", 0) == 0) {
      const std::string value = arg.substr(std::string("--drain-delay=").size());
      absl::Duration drain_delay;
      if (!absl::ParseDuration(value, &drain_delay) || drain_delay < absl::ZeroDuration()) {
        std::cerr << "otlp_gateway: --drain-delay: not a duration: " << value << "\n" << kUsage;
        return 2;
      }
      drain_delay_flag = drain_delay;
    } else {
      std::cerr << "otlp_gateway: unknown flag " << arg << "\n" << kUsage;
      return 2;
    }
  }

  if (lambda_extension && !validate_only) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const int code = gateway::lambda::RunExtensionMain(argv[0], *overrides, config_path);
    curl_global_cleanup();
    return code;
  }

  absl::StatusOr<gateway::GatewayConfig> config =
      config_path.empty() ? gateway::LoadDefaultConfig(gateway::ProcessEnv())
                          : gateway::LoadConfigFile(config_path, gateway::ProcessEnv());
  absl::Status status = config.status();
  if (status.ok()) status = gateway::ApplyFlagOverrides(*overrides, &*config);
  if (status.ok()) status = gateway::ValidateConfig(*config);
  if (!status.ok()) {
    std::cerr << "otlp_gateway: invalid configuration: " << status.message() << "\n";
    return 2;
  }
  gateway::SetLogLevel(config->log.level);
  const std::string effective = gateway::RenderEffectiveConfig(*config);
  if (validate_only) {
    std::cout << effective;
    std::cout << "configuration OK\n";
    return 0;
  }

  curl_global_init(CURL_GLOBAL_DEFAULT);
  // Block the shutdown signals and SIGHUP in every thread; this one waits
  // for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigset_t with_hup = signals;
  sigaddset(&with_hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &with_hup, nullptr);
  signal(SIGPIPE, SIG_IGN);

  gateway::LogInfo("starting", {{"config", effective}});
  if (absl::StatusOr<uint64_t> files = gateway::RaiseOpenFileLimit(); !files.ok()) {
    gateway::LogWarn("open_file_limit_unknown", {{"error", std::string(files.status().message())}});
  } else if (config->http.enabled &&
             *files < static_cast<uint64_t>(config->http.max_connections) + gateway::kOpenFileHeadroom) {
    gateway::LogWarn("open_file_limit_low",
                     {{"limit", absl::StrCat(*files)},
                      {"max_connections", absl::StrCat(config->http.max_connections)},
                      {"hint", "raise the hard limit (ulimit -Hn, the container's nofile ulimit) or lower "
                               "receivers.http.max_connections; out of descriptors, accepts back off"}});
  }
  absl::StatusOr<std::unique_ptr<gateway::GatewayApp>> app = gateway::StartGateway(*config, {});
  if (!app.ok()) {
    gateway::LogError("start_failed", {{"error", std::string(app.status().message())}});
    return 1;
  }
  int received = 0;
  // SIGHUP: re-read exporter.dynatrace.api_token_file (a failure keeps the
  // old token and is logged by ReloadApiToken).
  while (sigwait(&with_hup, &received) == 0 && received == SIGHUP) {
    gateway::LogInfo("signal", {{"signal", "SIGHUP"}});
    (void)(*app)->ReloadApiToken();
  }
  gateway::LogInfo("signal", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
  const absl::Duration drain_delay = drain_delay_flag.value_or(config->shutdown.drain_delay);
  if (drain_delay > absl::ZeroDuration()) {
    // Readiness off, still receiving, until the delay is over or another
    // signal comes.
    (*app)->BeginDrain();
    const timespec wait = absl::ToTimespec(drain_delay);
    sigtimedwait(&signals, nullptr, &wait);
  }
  (*app)->Shutdown();
  app->reset();
  curl_global_cleanup();
  return 0;
}
