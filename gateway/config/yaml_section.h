// A map node of a YAML configuration document, named by its dotted path
// ("receivers.grpc"), with readers that check each value's type and range,
// substitute ${env:VAR} references, and name the key in every error.
//
//   YamlSection top(YAML::Load(text), "", env);
//   GATEWAY_RETURN_IF_ERROR(top.CheckKeys({"batch"}));
//   GATEWAY_ASSIGN_OR_RETURN(YamlSection batch, top.Sub("batch"));
//   GATEWAY_RETURN_IF_ERROR(batch.Integer("max_spans", &config.max_spans, 1, 10'000'000));
//   // errors read e.g. "batch.max_spans: must be between 1 and 10000000, got 0"
//
// yaml-cpp reports malformed documents by throwing; the readers here do not
// throw for well-formed ones.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/config/config_env.h"
#include "yaml-cpp/yaml.h"

namespace gateway {

class YamlSection {
 public:
  // `node` may be undefined or null (an absent section reads as empty).
  // `env` must outlive the section and every section made from it.
  YamlSection(YAML::Node node, std::string path, const EnvLookup& env);

  // Every key must be in `allowed`, and appear once.
  absl::Status CheckKeys(std::initializer_list<std::string_view> allowed) const;

  // The nested section `key` (may be absent: then it reads as empty).
  absl::StatusOr<YamlSection> Sub(std::string_view key) const;

  // Each reader leaves `out` alone when the key is absent or null.
  absl::Status String(std::string_view key, std::string* out) const;
  // A whole number in [min, max].
  template <typename Int>
  absl::Status Integer(std::string_view key, Int* out, int64_t min, int64_t max) const {
    std::optional<int64_t> value;
    absl::Status status = Int64(key, min, max, &value);
    if (status.ok() && value.has_value()) *out = static_cast<Int>(*value);
    return status;
  }
  // "true" or "false", in any case.
  absl::Status Bool(std::string_view key, bool* out) const;
  // As ParseConfigDuration reads it.
  absl::Status Duration(std::string_view key, absl::Duration* out) const;
  // A list of strings, e.g. [a, b].
  absl::Status StringList(std::string_view key, std::vector<std::string>* out) const;
  // A map of strings, e.g. {a: x, b: y}.
  absl::Status StringMap(std::string_view key, std::map<std::string, std::string>* out) const;

  // The key is present and not null.
  bool Has(std::string_view key) const;

  // The dotted path of `key` in this section, for error messages.
  std::string Child(std::string_view key) const;

 private:
  std::string Label() const;
  YAML::Node Get(std::string_view key) const;
  absl::StatusOr<std::optional<std::string>> Scalar(std::string_view key) const;
  absl::Status Int64(std::string_view key, int64_t min, int64_t max, std::optional<int64_t>* out) const;

  YAML::Node node_;
  std::string path_;
  const EnvLookup& env_;
};

}  // namespace gateway
