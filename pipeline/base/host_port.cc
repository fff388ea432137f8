#include "pipeline/base/host_port.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {
namespace {

// The port in `text`, or -1 unless it is a number of 0-65535.
int PortNumber(std::string_view text) {
  int port = -1;
  if (!absl::SimpleAtoi(ToAbsl(text), &port) || port < 0 || port > 65535) return -1;
  return port;
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return absl::InvalidArgumentError("no port");
  std::string_view host = text.substr(0, colon);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') return absl::InvalidArgumentError("unbalanced [ ] around an IPv6 address");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return absl::InvalidArgumentError("write IPv6 addresses in brackets");
  }
  HostPort out;
  out.port = PortNumber(text.substr(colon + 1));
  if (out.port < 0) return absl::InvalidArgumentError("port must be 0-65535");
  out.host.assign(host);
  return out;
}

HostPort SplitAuthority(std::string_view authority) {
  HostPort out;
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    host = authority.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
    if (close != std::string_view::npos && close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  out.host.assign(host);
  if (!port.empty()) out.port = PortNumber(port);
  return out;
}

}  // namespace gateway
