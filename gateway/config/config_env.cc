#include "gateway/config/config_env.h"

#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<std::string> SubstituteEnv(std::string_view text, std::string_view key,
                                          const EnvLookup& env) {
  constexpr std::string_view kOpen = "${env:";
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = text.find(kOpen, pos);
    if (start == std::string_view::npos) {
      out.append(text.substr(pos));
      return out;
    }
    out.append(text.substr(pos, start - pos));
    size_t close = text.find('}', start);
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(key), ": unterminated ${env:...} reference"));
    }
    std::string_view body = text.substr(start + kOpen.size(), close - start - kOpen.size());
    std::string_view name = body;
    std::optional<std::string_view> fallback;
    if (size_t sep = body.find(":-"); sep != std::string_view::npos) {
      name = body.substr(0, sep);
      fallback = body.substr(sep + 2);
    }
    if (name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": empty variable name in ${env:}"));
    }
    std::optional<std::string> value = env ? env(name) : std::nullopt;
    if (value.has_value() && !(value->empty() && fallback.has_value())) {
      out.append(*value);
    } else if (fallback.has_value()) {
      out.append(*fallback);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": environment variable ", ToAbsl(name),
                                                     " is not set (write ${env:", ToAbsl(name),
                                                     ":-default} to give a default)"));
    }
    pos = close + 1;
  }
}

}  // namespace gateway
