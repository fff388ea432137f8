// Removes the values of configured request headers (the API token) from text
// bound for logs, e.g. an error body that echoes the request's headers.
//
//   SecretRedactor redactor({{"Authorization", "Api-Token dt0c01.ABC..."}});
//   LogWarn("export_rejected", {{"body", redactor.Redact(response_body)}});
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace gateway {

class SecretRedactor {
 public:
  // Header values shorter than 4 bytes are left alone (they would scrub
  // harmless text). A value with a scheme ("Api-Token <token>",
  // "Bearer <token>") also has its part after the first space removed when
  // that part is 8 bytes or longer.
  explicit SecretRedactor(const std::vector<std::pair<std::string, std::string>>& headers);

  // `text` with every secret replaced by "<redacted>".
  std::string Redact(std::string text) const;

 private:
  std::vector<std::string> secrets_;
};

}  // namespace gateway
