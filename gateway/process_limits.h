// Process-wide limits the gateway sets for itself at start.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace gateway {

// Raises the soft open-file limit (RLIMIT_NOFILE) to the hard one, as Go
// programs and nginx do: the usual soft limit of 1024 is below what
// receivers.http.max_connections allows (1024 by default) plus the gRPC
// clients, export connections and files. Returns the soft limit in effect;
// an error only if the limit cannot be read.
absl::StatusOr<uint64_t> RaiseOpenFileLimit();

// Descriptors the gateway needs beyond its HTTP connections (gRPC clients,
// export connections, the persistent queue's files, the admin endpoint),
// for the warning when the limit is lower than max_connections plus these.
inline constexpr uint64_t kOpenFileHeadroom = 256;

}  // namespace gateway
