// "host:port" as the configuration writes addresses: one parser for the
// receivers' listen addresses, the admin endpoint, Redis, and the export
// target's authority.
//
//   absl::StatusOr<HostPort> a = ParseHostPort("[::1]:4317");  // {"::1", 4317}
//   HostPort b = SplitAuthority("Collector.example:4318");    // {"Collector.example", 4318}
#ifndef PIPELINE_BASE_HOST_PORT_H_
#define PIPELINE_BASE_HOST_PORT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gateway {

struct HostPort {
  std::string host;  // an IPv6 literal without its brackets; may be empty
  int port = -1;     // -1: none
};

// Strict: "host:port" or "[v6]:port" with a port of 0-65535; the host may be
// empty (":4317"), an IPv6 literal must be in brackets. The error says what
// is wrong ("no port", "port must be 0-65535", ...), for the caller to
// prefix with the setting's name.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

// Lenient, for the authority of a URL: "host:port", "[v6]:port", "host" or
// "[v6]"; a port that is not a number is left out.
HostPort SplitAuthority(std::string_view authority);

}  // namespace gateway

#endif  // PIPELINE_BASE_HOST_PORT_H_
