// Where configuration values come from besides the file: the environment,
// looked up through an injectable function, and the ${env:VAR} and
// ${env:VAR:-default} references a value may contain.
//
//   EnvLookup env = MapEnv({{"DT_API_TOKEN", "dt0c01.abc"}});   // or ProcessEnv()
//   absl::StatusOr<std::string> token = SubstituteEnv("${env:DT_API_TOKEN}", "exporter.dynatrace.api_token", env);
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gateway {

// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
EnvLookup ProcessEnv();

// An environment made of `vars` only; for tests.
EnvLookup MapEnv(std::map<std::string, std::string> vars);

// `text` with every ${env:VAR} replaced by VAR's value and every
// ${env:VAR:-default} by VAR's value, or `default` when VAR is unset or
// empty. An unset VAR without a default, an empty name or a missing "}" is
// an error naming `key`. An empty `env` has no variables.
absl::StatusOr<std::string> SubstituteEnv(std::string_view text, std::string_view key, const EnvLookup& env);

}  // namespace gateway
