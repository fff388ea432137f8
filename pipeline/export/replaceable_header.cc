#include "pipeline/export/replaceable_header.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace gateway {

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  std::string secret(absl::StripAsciiWhitespace(contents.str()));
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": empty"));
  return secret;
}

}  // namespace gateway
