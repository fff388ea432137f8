#include "pipeline/export/secret_redactor.h"

#include "absl/strings/str_replace.h"

namespace gateway {

SecretRedactor::SecretRedactor(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) {
    if (value.size() < 4) continue;
    secrets_.push_back(value);
    const size_t space = value.find(' ');
    if (space != std::string::npos && value.size() - space > 8) secrets_.push_back(value.substr(space + 1));
  }
}

std::string SecretRedactor::Redact(std::string text) const {
  for (const std::string& secret : secrets_) text = absl::StrReplaceAll(text, {{secret, "<redacted>"}});
  return text;
}

}  // namespace gateway
