#include "bench/loadgen_run.h"

#include <algorithm>

namespace loadgen {

void SlotStats::Merge(const SlotStats& other) {
  requests += other.requests;
  ok += other.ok;
  spans_ok += other.spans_ok;
  bytes_ok += other.bytes_ok;
  backpressure += other.backpressure;
  for (const auto& [code, n] : other.errors) errors[code] += n;
  latency_us.insert(latency_us.end(), other.latency_us.begin(), other.latency_us.end());
  error_latency_us.insert(error_latency_us.end(), other.error_latency_us.begin(), other.error_latency_us.end());
}

int RenderSend(const RequestPool& pool, bool unique_ids, uint64_t index, std::string* body) {
  const size_t entry = static_cast<size_t>(index % pool.size());
  if (unique_ids) {
    pool.Render(index, body);
  } else {
    *body = pool.bodies[entry];
  }
  return pool.span_counts[entry];
}

uint32_t MicrosSince(SteadyClock::time_point start) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX));
}

Schedule::Schedule(const RunOptions& options, SteadyClock::time_point start)
    : options_(options), start_(start), end_(start + options.duration) {}

bool Schedule::Next(uint64_t* index) {
  if (stopped_.load(std::memory_order_relaxed) || SteadyClock::now() >= end_) return false;
  const uint64_t i = next_.fetch_add(1, std::memory_order_relaxed);
  if (options_.max_requests > 0 && i >= static_cast<uint64_t>(options_.max_requests)) return false;
  *index = i;
  return true;
}

SteadyClock::time_point Schedule::TickTime(uint64_t k) const {
  return start_ + std::chrono::duration_cast<SteadyClock::duration>(
                      std::chrono::duration<double>(static_cast<double>(k) / options_.rate));
}

}  // namespace loadgen
