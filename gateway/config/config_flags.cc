#include "gateway/config/config.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gateway/config/config_values.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/status_macros.h"

namespace gateway {

absl::Status ApplyFlagOverrides(const ConfigOverrides& o, GatewayConfig* config) {
  if (o.grpc_endpoint) config->grpc.endpoint = *o.grpc_endpoint;
  if (o.http_endpoint) config->http.endpoint = *o.http_endpoint;
  if (o.admin_endpoint) config->admin.endpoint = *o.admin_endpoint;
  if (o.dt_endpoint) config->exporter.dynatrace.endpoint = *o.dt_endpoint;
  if (o.dt_api_token) config->exporter.dynatrace.api_token = *o.dt_api_token;
  if (o.hold_window) {
    GATEWAY_RETURN_IF_ERROR(ParseConfigDuration(*o.hold_window, "--hold-window",
                                                          &config->reparent.hold_window));
  }
  if (o.log_level) GATEWAY_RETURN_IF_ERROR(ParseLogLevelValue(*o.log_level, "--log-level", &config->log.level));
  if (o.exporter_type) {
    GATEWAY_RETURN_IF_ERROR(ParseExporterType(*o.exporter_type, "--exporter", &config->exporter.type));
  }
  if (o.memory_limit_mib) {
    int64_t mib = 0;
    if (!absl::SimpleAtoi(*o.memory_limit_mib, &mib) || mib <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--memory-limit-mib: expected a positive whole number of MiB, got \"", *o.memory_limit_mib, "\""));
    }
    config->queue.memory_limit_mib = mib;
  }
  if (o.process_memory_limit_mib) {
    int64_t mib = 0;
    if (!absl::SimpleAtoi(*o.process_memory_limit_mib, &mib) || mib < -1 || mib > (1 << 20)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--process-memory-limit-mib: expected a whole number of MiB (0: from the container, -1: "
                       "none), got \"",
                       *o.process_memory_limit_mib, "\""));
    }
    config->queue.process_memory_limit_mib = mib;
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfigOverrides> ParseOverrideFlags(const std::vector<std::string>& args,
                                                   std::vector<std::string>* rest) {
  ConfigOverrides o;
  const std::pair<std::string_view, std::optional<std::string> ConfigOverrides::*> kFlags[] = {
      {"grpc-endpoint", &ConfigOverrides::grpc_endpoint}, {"http-endpoint", &ConfigOverrides::http_endpoint},
      {"admin-endpoint", &ConfigOverrides::admin_endpoint}, {"dt-endpoint", &ConfigOverrides::dt_endpoint},
      {"dt-api-token", &ConfigOverrides::dt_api_token},   {"hold-window", &ConfigOverrides::hold_window},
      {"log-level", &ConfigOverrides::log_level},         {"exporter", &ConfigOverrides::exporter_type},
      {"memory-limit-mib", &ConfigOverrides::memory_limit_mib},
      {"process-memory-limit-mib", &ConfigOverrides::process_memory_limit_mib},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    absl::string_view body = arg;
    if (!absl::ConsumePrefix(&body, "--")) {
      if (rest != nullptr) rest->push_back(args[i]);
      continue;
    }
    absl::string_view name = body.substr(0, body.find('='));
    bool matched = false;
    for (const auto& [flag, member] : kFlags) {
      if (ToStd(name) != flag) continue;
      matched = true;
      if (name.size() < body.size()) {
        o.*member = std::string(body.substr(name.size() + 1));
      } else if (i + 1 < args.size()) {
        o.*member = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, ": missing value"));
      }
    }
    if (!matched && rest != nullptr) rest->push_back(args[i]);
  }
  return o;
}

}  // namespace gateway
