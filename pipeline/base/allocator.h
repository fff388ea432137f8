// Process-wide allocator settings for a gateway that moves large buffers.
//
// glibc's malloc serves blocks above its mmap threshold (128 KiB at start,
// raised to the size of the largest block freed so far) with a fresh mmap,
// and gives the top of its heaps back to the kernel whenever more than
// twice that threshold is free. Received requests (tens to hundreds of KiB)
// and encoded export bodies (MiB) are exactly that size class: allocated and
// freed thousands of times per second, each time faulted in page by page
// and given back. TuneAllocatorForThroughput fixes the thresholds instead:
// blocks below kMmapThresholdBytes come from the heaps, and heap tops are
// returned only past kTrimThresholdBytes free. Memory that stays free longer
// is still returned: MemoryGuard calls malloc_trim when resident memory
// nears the process bound.
//
// Call once, first thing in main, before threads start. The engine benchmark
// calls it too, so it measures the allocator the gateway runs with.
#pragma once

#include <cstddef>

namespace gateway {

inline constexpr size_t kMmapThresholdBytes = size_t{16} << 20;
inline constexpr size_t kTrimThresholdBytes = size_t{32} << 20;

// Returns false when the C library refused a setting (not glibc, or values
// out of range); the process then runs with the library's defaults.
bool TuneAllocatorForThroughput();

}  // namespace gateway
