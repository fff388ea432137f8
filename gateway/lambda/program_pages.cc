#include "gateway/lambda/program_pages.h"

#include <errno.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21  // Linux 5.4
#endif

namespace gateway::lambda {
namespace {

struct Walk {
  uintptr_t page = 4096;
  ReleasedProgramPages released;
  int advice = MADV_PAGEOUT;
  int error = 0;
};

int AdviseObject(dl_phdr_info* info, size_t /*size*/, void* data) {
  Walk& walk = *static_cast<Walk*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0 || ph.p_memsz == 0) continue;
    // Whole pages inside the segment only: its first and last page may be
    // shared with a writable neighbour.
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    const uintptr_t begin = (start + walk.page - 1) & ~(walk.page - 1);
    const uintptr_t end = (start + ph.p_memsz) & ~(walk.page - 1);
    if (end <= begin) continue;
    if (madvise(reinterpret_cast<void*>(begin), end - begin, walk.advice) != 0) {
      // EINVAL from a kernel before 5.4, or for a special mapping (the vDSO).
      walk.error = errno;
      ++walk.released.refused_segments;
      continue;
    }
    ++walk.released.segments;
    walk.released.bytes += end - begin;
  }
  return 0;
}

}  // namespace

absl::StatusOr<ReleasedProgramPages> ReleaseProgramPages(ProgramPageRelease how) {
  Walk walk;
  walk.advice = how == ProgramPageRelease::kReclaim ? MADV_PAGEOUT : MADV_DONTNEED;
  if (const long page = sysconf(_SC_PAGESIZE); page > 0) walk.page = static_cast<uintptr_t>(page);
  dl_iterate_phdr(AdviseObject, &walk);
  if (walk.released.segments == 0 && walk.error != 0) {
    const bool reclaim = how == ProgramPageRelease::kReclaim;
    return absl::FailedPreconditionError(absl::StrCat(reclaim ? "madvise(MADV_PAGEOUT): " : "madvise(MADV_DONTNEED): ",
                                                      std::strerror(walk.error),
                                                      reclaim ? " (needs Linux 5.4 or later)" : ""));
  }
  return walk.released;
}

}  // namespace gateway::lambda
