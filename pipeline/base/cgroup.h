// What the container allows this process: the files of its cgroup (v2 and
// v1), looked up as the kernel shows them inside and outside a container.
//
//   // "/sys/fs/cgroup/memory.max", then the process's own cgroup path...
//   std::vector<std::string> files = CgroupFiles("/sys/fs/cgroup", "/proc/self/cgroup",
//                                                "memory.max", "memory", "memory.limit_in_bytes");
//   int cpus = UsableCpus();  // affinity, capped by the CPU quota
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gateway {

// Candidate paths of one cgroup setting, most specific last: `v2_file` and
// `v1_controller`/`v1_file` at `cgroup_root` (a container's own cgroup
// namespace), then under the process's paths read from `proc_self_cgroup`
// ("0::/path" for v2, "N:controller,...:/path" for v1).
std::vector<std::string> CgroupFiles(const std::string& cgroup_root, const std::string& proc_self_cgroup,
                                     const std::string& v2_file, const std::string& v1_controller,
                                     const std::string& v1_file);

// Contents of a small file, trimmed of white space; NotFound when it cannot
// be read.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

// The cgroup's CPU quota in CPUs (v2 `cpu.max` "quota period", else v1
// `cpu.cfs_quota_us` / `cpu.cfs_period_us`), e.g. 1.5. NotFound when there
// is none ("max", -1) or no cgroup files; InvalidArgument when unreadable.
absl::StatusOr<double> ContainerCpuLimit(const std::string& cgroup_root, const std::string& proc_self_cgroup);

// CPUs this process may run on: `affinity_cpus`, capped by the CPU quota
// under `cgroup_root` rounded up; at least 1.
int UsableCpus(const std::string& cgroup_root, const std::string& proc_self_cgroup, int affinity_cpus);

// The same for this process: sched_getaffinity and /sys/fs/cgroup.
int UsableCpus();

}  // namespace gateway
