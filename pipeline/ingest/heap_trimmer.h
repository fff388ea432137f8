// Gives the heap's free memory back to the operating system after a burst.
//
// The gateway keeps request-sized buffers on the heap (pipeline/base/allocator.h)
// and glibc returns a heap's free top only past 32 MiB, so after a burst a
// gateway can sit on hundreds of MiB it no longer uses: unwelcome in a
// sidecar whose memory the whole task pays for. Every `interval` the
// trimmer looks at the free bytes in malloc's arenas and calls malloc_trim
// when they pass `max_free_bytes` and, since its last trim, either they or
// the resident set have grown by half that. (A trim gives the free pages
// back but leaves the chunks free in malloc's books, so the free bytes
// alone would call for a trim every interval; a burst that reuses and
// frees the same chunks shows as resident growth instead.) Under steady
// load it rarely acts; a trim costs a few milliseconds at most, once per
// interval.
//
// Independent of MemoryGuard, which trims (and pushes back) near a process
// memory bound; this one works with or without a bound.
//
//   HeapTrimmer trimmer(HeapTrimmerOptions{}, registry);
//   trimmer.Start();
//   ...
//   trimmer.Stop();   // also in the destructor
#pragma once

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/time/time.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/ingest/resident_memory.h"
#include "pipeline/base/sync.h"

namespace gateway {

struct HeapTrimmerOptions {
  int64_t max_free_bytes = int64_t{64} << 20;
  absl::Duration interval = absl::Seconds(5);
};

class HeapTrimmer final {
 public:
  // `memory` and `metrics` must outlive the trimmer. `free_bytes` reports
  // the heap's free bytes (default: mallinfo2's fordblks, 0 when malloc is
  // not glibc's); `trim` gives them back (default: malloc_trim(0)).
  HeapTrimmer(const HeapTrimmerOptions& options, ResidentMemory& memory, MetricsRegistry& metrics,
              std::function<int64_t()> free_bytes = {}, std::function<void()> trim = {});
  ~HeapTrimmer();

  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // Samples every options.interval on a thread of its own until Stop. A
  // stopped trimmer does not start again. Start and Stop: one thread at a
  // time.
  void Start();
  void Stop();

  // One sample: trims when the free bytes pass the threshold. Returns true
  // when it trimmed. Start's thread calls it; tests call it directly.
  bool Sample();

 private:
  const HeapTrimmerOptions options_;
  ResidentMemory& memory_;
  const std::function<int64_t()> free_bytes_;
  const std::function<void()> trim_;
  Counter* const trims_;
  Counter* const trimmed_bytes_;
  // The free bytes at the last trim and the resident set right after it;
  // -1 before the first. Touched by Sample only (one thread at a time).
  int64_t free_at_trim_ = -1;
  int64_t resident_after_trim_ = -1;
  Notification stop_;
  std::thread thread_;
};

}  // namespace gateway
