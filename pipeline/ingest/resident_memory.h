// How much memory the process holds, and how much its container allows.
//
//   std::unique_ptr<ResidentMemory> rss = NewProcResidentMemory();
//   int64_t bytes = rss->ResidentBytes();          // VmRSS of this process
//   absl::StatusOr<int64_t> limit = ContainerMemoryLimit("/sys/fs/cgroup", "/proc/self/cgroup");
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace gateway {

// The process's resident set size. An interface so that tests can drive a
// MemoryGuard with made-up figures.
class ResidentMemory {
 public:
  virtual ~ResidentMemory() = default;
  // Resident bytes now; -1 when they cannot be read. Thread-safe.
  virtual int64_t ResidentBytes() = 0;
};

// Reads /proc/self/statm (one small read, no allocation).
std::unique_ptr<ResidentMemory> NewProcResidentMemory();

// The memory limit of the cgroup this process runs in (cgroup v2
// `memory.max`, else v1 `memory.limit_in_bytes`), looked up under
// `cgroup_root` both at the root (a container's own cgroup namespace) and at
// the process's path from `proc_self_cgroup`. NotFound when there is no
// limit ("max", or v1's near-2^63 "unlimited") or no cgroup files.
absl::StatusOr<int64_t> ContainerMemoryLimit(const std::string& cgroup_root,
                                             const std::string& proc_self_cgroup);

}  // namespace gateway
