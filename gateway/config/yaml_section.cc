#include "gateway/config/yaml_section.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/config/config_values.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/status_macros.h"

namespace gateway {

YamlSection::YamlSection(YAML::Node node, std::string path, const EnvLookup& env)
    : node_(std::move(node)), path_(std::move(path)), env_(env) {}

absl::Status YamlSection::CheckKeys(std::initializer_list<std::string_view> allowed) const {
  if (!node_.IsDefined() || node_.IsNull()) return absl::OkStatus();
  if (!node_.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(Label(), "must be a map of keys"));
  }
  std::set<std::string, std::less<>> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(Label(), "keys must be plain strings"));
    }
    const std::string& key = it->first.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (!known) {
      std::vector<std::string> names(allowed.begin(), allowed.end());
      return absl::InvalidArgumentError(absl::StrCat(Child(key), ": unknown key (known keys here: ",
                                                     absl::StrJoin(names, ", "), ")"));
    }
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat(Child(key), ": key appears twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<YamlSection> YamlSection::Sub(std::string_view key) const {
  YAML::Node child = Get(key);
  if (child.IsDefined() && !child.IsNull() && !child.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(Child(key), ": must be a map of keys"));
  }
  return YamlSection(child, Child(key), env_);
}

absl::Status YamlSection::String(std::string_view key, std::string* out) const {
  std::optional<std::string> text;
  GATEWAY_ASSIGN_OR_RETURN(text, Scalar(key));
  if (text.has_value()) *out = std::move(*text);
  return absl::OkStatus();
}

absl::Status YamlSection::Int64(std::string_view key, int64_t min, int64_t max, std::optional<int64_t>* out) const {
  std::optional<std::string> text;
  GATEWAY_ASSIGN_OR_RETURN(text, Scalar(key));
  if (!text.has_value()) return absl::OkStatus();
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Child(key), ": must be an integer, got \"", *text, "\""));
  }
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(Child(key), ": must be between ", min, " and ", max, ", got ", value));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status YamlSection::Bool(std::string_view key, bool* out) const {
  std::optional<std::string> text;
  GATEWAY_ASSIGN_OR_RETURN(text, Scalar(key));
  if (!text.has_value()) return absl::OkStatus();
  std::string lower = absl::AsciiStrToLower(*text);
  if (lower == "true") {
    *out = true;
  } else if (lower == "false") {
    *out = false;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(Child(key), ": must be true or false, got \"", *text, "\""));
  }
  return absl::OkStatus();
}

absl::Status YamlSection::Duration(std::string_view key, absl::Duration* out) const {
  std::optional<std::string> text;
  GATEWAY_ASSIGN_OR_RETURN(text, Scalar(key));
  if (!text.has_value()) return absl::OkStatus();
  return ParseConfigDuration(*text, Child(key), out);
}

absl::Status YamlSection::StringList(std::string_view key, std::vector<std::string>* out) const {
  YAML::Node child = Get(key);
  if (!child.IsDefined() || child.IsNull()) return absl::OkStatus();
  if (!child.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat(Child(key), ": must be a list, e.g. [a, b]"));
  }
  std::vector<std::string> values;
  for (size_t i = 0; i < child.size(); ++i) {
    std::string item_key = absl::StrCat(Child(key), "[", i, "]");
    if (!child[i].IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(item_key, ": must be a string"));
    }
    std::string value;
    GATEWAY_ASSIGN_OR_RETURN(value, SubstituteEnv(child[i].Scalar(), item_key, env_));
    values.push_back(std::move(value));
  }
  *out = std::move(values);
  return absl::OkStatus();
}

absl::Status YamlSection::StringMap(std::string_view key, std::map<std::string, std::string>* out) const {
  YAML::Node child = Get(key);
  if (!child.IsDefined() || child.IsNull()) return absl::OkStatus();
  if (!child.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(Child(key), ": must be a map of strings"));
  }
  std::map<std::string, std::string> values;
  for (auto it = child.begin(); it != child.end(); ++it) {
    if (!it->first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(Child(key), ": keys must be plain strings"));
    }
    std::string item_key = absl::StrCat(Child(key), ".", it->first.Scalar());
    if (!it->second.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(item_key, ": must be a string"));
    }
    std::string value;
    GATEWAY_ASSIGN_OR_RETURN(value, SubstituteEnv(it->second.Scalar(), item_key, env_));
    values[it->first.Scalar()] = std::move(value);
  }
  *out = std::move(values);
  return absl::OkStatus();
}

bool YamlSection::Has(std::string_view key) const {
  YAML::Node child = Get(key);
  return child.IsDefined() && !child.IsNull();
}

std::string YamlSection::Child(std::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", ToAbsl(key));
}

std::string YamlSection::Label() const { return path_.empty() ? std::string("config: ") : absl::StrCat(path_, ": "); }

YAML::Node YamlSection::Get(std::string_view key) const {
  if (!node_.IsDefined() || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

absl::StatusOr<std::optional<std::string>> YamlSection::Scalar(std::string_view key) const {
  YAML::Node child = Get(key);
  if (!child.IsDefined() || child.IsNull()) return std::optional<std::string>();
  if (!child.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(Child(key), ": must be a single value, not a list or map"));
  }
  std::string value;
  GATEWAY_ASSIGN_OR_RETURN(value, SubstituteEnv(child.Scalar(), Child(key), env_));
  return std::optional<std::string>(std::move(value));
}

}  // namespace gateway
