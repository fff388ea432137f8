#include "pipeline/base/allocator.h"

#include <malloc.h>

namespace gateway {

bool TuneAllocatorForThroughput() {
#if defined(__GLIBC__)
  // Setting either threshold explicitly also turns off glibc's dynamic
  // adjustment of both.
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes)) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes)) == 1;
  return mmap_ok && trim_ok;
#else
  return false;
#endif
}

}  // namespace gateway
