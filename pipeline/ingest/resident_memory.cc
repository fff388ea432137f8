#include "pipeline/ingest/resident_memory.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/cgroup.h"

namespace gateway {
namespace {

class ProcResidentMemory final : public ResidentMemory {
 public:
  ProcResidentMemory() : page_size_(sysconf(_SC_PAGESIZE)) {}

  int64_t ResidentBytes() override {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    // "size resident shared text lib data dt", in pages.
    char* end = nullptr;
    std::strtoll(buf, &end, 10);
    const long long resident = std::strtoll(end, nullptr, 10);
    return resident * page_size_;
  }

 private:
  const int64_t page_size_;
};

// A limit file's value; NotFound when it says there is no limit.
absl::StatusOr<int64_t> ParseLimit(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  if (*text == "max") return absl::NotFoundError(absl::StrCat(path, ": no limit"));
  int64_t bytes = 0;
  if (!absl::SimpleAtoi(ToAbsl(*text), &bytes) || bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unreadable limit \"", *text, "\""));
  }
  // cgroup v1 spells "unlimited" as the largest page multiple below 2^63.
  if (bytes >= (int64_t{1} << 62)) return absl::NotFoundError(absl::StrCat(path, ": no limit"));
  return bytes;
}

}  // namespace

std::unique_ptr<ResidentMemory> NewProcResidentMemory() { return std::make_unique<ProcResidentMemory>(); }

absl::StatusOr<int64_t> ContainerMemoryLimit(const std::string& cgroup_root, const std::string& proc_self_cgroup) {
  const std::vector<std::string> candidates =
      CgroupFiles(cgroup_root, proc_self_cgroup, "memory.max", "memory", "memory.limit_in_bytes");
  for (const std::string& path : candidates) {
    absl::StatusOr<int64_t> limit = ParseLimit(path);
    if (limit.ok() || absl::IsInvalidArgument(limit.status())) return limit;
  }
  return absl::NotFoundError("no cgroup memory limit");
}

}  // namespace gateway
