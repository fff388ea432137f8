#include "gateway/lambda/extension_main.h"

#include <malloc.h>

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/lambda/aws_secrets.h"
#include "gateway/lambda/curl_extensions_api.h"
#include "gateway/lambda/extension_config.h"
#include "gateway/lambda/extension_runner.h"
#include "gateway/lambda/program_pages.h"
#include "pipeline/base/logging.h"

namespace gateway::lambda {

bool InExtensionMode(const EnvLookup& env) {
  std::optional<std::string> api = env("AWS_LAMBDA_RUNTIME_API");
  return api.has_value() && !api->empty();
}

void TuneAllocatorForSandbox() {
#if defined(__GLIBC__)
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
#endif
}

int RunExtensionMain(std::string_view argv0, const ConfigOverrides& flags, const std::string& config_path) {
  const EnvLookup env = ProcessEnv();
  absl::StatusOr<ExtensionSettings> settings = ExtensionSettingsFromEnv(env, argv0);
  if (!settings.ok()) {
    std::cerr << "otlp_gateway: lambda extension: " << settings.status().message() << "\n";
    return 2;
  }
  if (!config_path.empty()) settings->config_file = config_path;
  CurlExtensionsApiOptions api_options;
  api_options.runtime_api = settings->runtime_api;
  std::unique_ptr<ExtensionsApiClient> api = NewCurlExtensionsApiClient(api_options, RealClock());
  const AwsSecretsOptions secrets = AwsSecretsOptionsFromEnv(env);

  LifecycleOptions lifecycle;
  lifecycle.flush_timeout = settings->flush_timeout;
  ExtensionRunnerDeps deps;
  deps.api = api.get();
  deps.load_config = [&]() -> absl::StatusOr<GatewayConfig> {
    absl::StatusOr<GatewayConfig> config =
        LoadExtensionConfig(env, settings->config_file, flags,
                            [&secrets](const std::string& value) { return ResolveSecret(value, secrets); });
    if (config.ok()) SetLogLevel(config->log.level);
    return config;
  };
  if (settings->release_program_pages) {
    deps.release_program_pages = [](ProgramPageRelease how) {
      const absl::Time start = absl::Now();
      absl::StatusOr<ReleasedProgramPages> released = ReleaseProgramPages(how);
      if (released.ok()) {
        LogDebug("lambda_program_pages_released",
                 {{"how", how == ProgramPageRelease::kReclaim ? "reclaim" : "unmap"},
                  {"segments", absl::StrCat(released->segments)},
                  {"bytes", absl::StrCat(released->bytes)},
                  {"took_us", absl::StrCat(absl::ToInt64Microseconds(absl::Now() - start))}});
      } else {
        LogInfo("lambda_program_pages_kept", {{"reason", std::string(released.status().message())}});
      }
    };
  }
  ExtensionRunner runner(*settings, lifecycle, std::move(deps));
  return runner.Run();
}

}  // namespace gateway::lambda
