#include "pipeline/base/cgroup.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {

std::vector<std::string> CgroupFiles(const std::string& cgroup_root, const std::string& proc_self_cgroup,
                                     const std::string& v2_file, const std::string& v1_controller,
                                     const std::string& v1_file) {
  std::vector<std::string> files = {absl::StrCat(cgroup_root, "/", v2_file),
                                    absl::StrCat(cgroup_root, "/", v1_controller, "/", v1_file)};
  absl::StatusOr<std::string> lines = ReadSmallFile(proc_self_cgroup);
  if (!lines.ok()) return files;
  for (absl::string_view line : absl::StrSplit(ToAbsl(*lines), '\n')) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3 || parts[2].empty() || parts[2] == "/") continue;
    const std::string path(parts[2]);
    if (parts[0] == "0" && parts[1].empty()) files.push_back(absl::StrCat(cgroup_root, path, "/", v2_file));
    for (absl::string_view controller : absl::StrSplit(parts[1], ',')) {
      if (controller == v1_controller) {
        files.push_back(absl::StrCat(cgroup_root, "/", v1_controller, path, "/", v1_file));
      }
    }
  }
  return files;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

namespace {

// One cpu.max ("max 100000" or "150000 100000"), or one v1 quota file with
// its period file beside it.
absl::StatusOr<double> ParseCpuLimit(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  int64_t quota = 0;
  int64_t period = 0;
  if (absl::EndsWith(path, "cpu.max")) {
    std::vector<absl::string_view> fields = absl::StrSplit(ToAbsl(*text), ' ', absl::SkipEmpty());
    if (!fields.empty() && fields[0] == "max") return absl::NotFoundError(absl::StrCat(path, ": no limit"));
    if (fields.size() != 2 || !absl::SimpleAtoi(fields[0], &quota) || !absl::SimpleAtoi(fields[1], &period)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unreadable quota \"", *text, "\""));
    }
  } else {
    if (!absl::SimpleAtoi(ToAbsl(*text), &quota)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unreadable quota \"", *text, "\""));
    }
    if (quota < 0) return absl::NotFoundError(absl::StrCat(path, ": no limit"));
    const std::string period_path = path.substr(0, path.rfind('/')) + "/cpu.cfs_period_us";
    absl::StatusOr<std::string> period_text = ReadSmallFile(period_path);
    if (!period_text.ok() || !absl::SimpleAtoi(ToAbsl(*period_text), &period)) {
      return absl::InvalidArgumentError(absl::StrCat(period_path, ": unreadable period"));
    }
  }
  if (quota <= 0 || period <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": quota or period not positive"));
  }
  return static_cast<double>(quota) / static_cast<double>(period);
}

}  // namespace

absl::StatusOr<double> ContainerCpuLimit(const std::string& cgroup_root, const std::string& proc_self_cgroup) {
  for (const std::string& path : CgroupFiles(cgroup_root, proc_self_cgroup, "cpu.max", "cpu", "cpu.cfs_quota_us")) {
    absl::StatusOr<double> limit = ParseCpuLimit(path);
    if (limit.ok() || absl::IsInvalidArgument(limit.status())) return limit;
  }
  return absl::NotFoundError("no cgroup CPU limit");
}

int UsableCpus(const std::string& cgroup_root, const std::string& proc_self_cgroup, int affinity_cpus) {
  int cpus = std::max(1, affinity_cpus);
  if (absl::StatusOr<double> quota = ContainerCpuLimit(cgroup_root, proc_self_cgroup); quota.ok()) {
    cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(*quota))));
  }
  return cpus;
}

int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
  if (affinity <= 0) affinity = static_cast<int>(std::thread::hardware_concurrency());
  return UsableCpus("/sys/fs/cgroup", "/proc/self/cgroup", affinity);
}

}  // namespace gateway
