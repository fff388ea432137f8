#include "pipeline/ingest/heap_trimmer.h"

#include <malloc.h>

#include <utility>

#include "pipeline/base/thread_name.h"

namespace gateway {
namespace {

int64_t MallocFreeBytes() {
#if defined(__GLIBC__)
  // Free chunks in every arena (fordblks); the sanitizers' malloc reports 0.
  return static_cast<int64_t>(mallinfo2().fordblks);
#else
  return 0;
#endif
}

}  // namespace

HeapTrimmer::HeapTrimmer(const HeapTrimmerOptions& options, ResidentMemory& memory, MetricsRegistry& metrics,
                         std::function<int64_t()> free_bytes, std::function<void()> trim)
    : options_(options),
      memory_(memory),
      free_bytes_(free_bytes ? std::move(free_bytes) : std::function<int64_t()>(MallocFreeBytes)),
      trim_(trim ? std::move(trim) : std::function<void()>([] { malloc_trim(0); })),
      trims_(metrics.GetCounter("gateway_heap_trims_total",
                                "Times the heap's free memory passed the threshold and was given back to the OS")),
      trimmed_bytes_(metrics.GetCounter("gateway_heap_trimmed_bytes_total",
                                        "Free heap bytes there were when the heap was trimmed")) {}

HeapTrimmer::~HeapTrimmer() { Stop(); }

void HeapTrimmer::Start() {
  if (thread_.joinable() || stop_.HasBeenNotified()) return;
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.interval)) Sample();
  });
  SetThreadName(thread_, "heap-trimmer");
}

void HeapTrimmer::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

bool HeapTrimmer::Sample() {
  const int64_t heap_free = free_bytes_();
  if (heap_free <= options_.max_free_bytes) return false;
  if (free_at_trim_ >= 0) {
    // The free chunks may be the ones the last trim already gave back.
    const int64_t growth = options_.max_free_bytes / 2;
    const int64_t resident = memory_.ResidentBytes();
    const bool more_free = heap_free >= free_at_trim_ + growth;
    const bool more_resident = resident >= 0 && resident_after_trim_ >= 0 && resident >= resident_after_trim_ + growth;
    if (!more_free && !more_resident) return false;
  }
  trim_();
  trims_->Add();
  trimmed_bytes_->Add(heap_free);
  free_at_trim_ = heap_free;
  resident_after_trim_ = memory_.ResidentBytes();
  return true;
}

}  // namespace gateway
