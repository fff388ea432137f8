// The load generator's run: the options every sender takes, the schedule
// that hands out send numbers (and open-loop start times), what each slot
// counts, and the interface of a sender (gRPC, HTTP).
//
//   std::unique_ptr<LoadDriver> driver = NewGrpcDriver(options, pool);
//   if (!driver->Connect(SteadyClock::now() + std::chrono::seconds(10))) return 1;
//   Schedule schedule(options, SteadyClock::now());
//   bool finished = driver->Run(schedule);
//   SlotStats stats = driver->Stats();
//
// A slot is one request in flight at a time. Closed loop (rate 0): each
// finished request starts the next one on its slot. Open loop (rate > 0):
// requests start on a fixed schedule, latency counts from the scheduled
// start, and a tick that finds no free slot counts as "missed_ticks".
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/loadgen_requests.h"

namespace loadgen {

using SteadyClock = std::chrono::steady_clock;

struct RunOptions {
  // host:port of the OTLP receiver.
  std::string target;
  // Slots (requests in flight).
  int concurrency = 1;
  // gRPC channels the slots are spread over.
  int connections = 1;
  // libcurl multi loops (threads) the HTTP slots are spread over.
  int http_threads = 1;
  // Request path for HTTP.
  std::string http_path;
  SteadyClock::duration duration{};
  // Stop after this many requests; 0: run for `duration`.
  int64_t max_requests = 0;
  // Requests per second, open loop; 0: closed loop.
  double rate = 0;
  // Deadline of each request.
  std::chrono::milliseconds timeout{};
  // Salt ids per pass over the pool (RequestPool::Render) instead of
  // resending the pool's bodies as they are.
  bool unique_ids = true;
};

// What one slot saw. Only the slot's own completion touches it, so it needs
// no lock; merged after the run.
struct SlotStats {
  int64_t requests = 0;
  int64_t ok = 0;
  int64_t spans_ok = 0;
  int64_t bytes_ok = 0;
  int64_t backpressure = 0;
  // Failed requests by code ("grpc_UNAVAILABLE", "http_503", "curl_..."),
  // plus "missed_ticks" in open loop.
  std::map<std::string, int64_t> errors;
  std::vector<uint32_t> latency_us;  // successful requests
  std::vector<uint32_t> error_latency_us;

  void Merge(const SlotStats& other);
};

// Writes the body of send number `index` into `*body`: pool entry
// index % pool.size(), its ids salted per pass over the pool when
// `unique_ids` (RequestPool::Render), as generated otherwise. Returns the
// spans in it.
int RenderSend(const RequestPool& pool, bool unique_ids, uint64_t index, std::string* body);

// Microseconds from `start` to now, clamped to uint32.
uint32_t MicrosSince(SteadyClock::time_point start);

// Hands out send numbers until the run is over, and open-loop start times.
// Thread-safe.
class Schedule {
 public:
  // `options` must outlive the schedule.
  Schedule(const RunOptions& options, SteadyClock::time_point start);

  // The next send number, or false when the run is over.
  bool Next(uint64_t* index);

  // Scheduled start of open-loop tick `k`.
  SteadyClock::time_point TickTime(uint64_t k) const;

  void Stop() { stopped_.store(true, std::memory_order_relaxed); }
  bool Over() const { return stopped_.load(std::memory_order_relaxed) || SteadyClock::now() >= end_; }
  SteadyClock::time_point end() const { return end_; }

 private:
  const RunOptions& options_;
  const SteadyClock::time_point start_;
  const SteadyClock::time_point end_;
  std::atomic<uint64_t> next_{0};
  std::atomic<bool> stopped_{false};
};

// Sends requests from a pool over one protocol.
class LoadDriver {
 public:
  virtual ~LoadDriver() = default;

  // Connects ahead of the run where the protocol allows; false if it does
  // not connect by `deadline`.
  virtual bool Connect(SteadyClock::time_point deadline) = 0;

  // Runs until the schedule is over and every request has finished, or the
  // grace period after the end (timeout + 5 s) ran out: then false.
  virtual bool Run(Schedule& schedule) = 0;

  // Everything the slots counted; after Run.
  virtual SlotStats Stats() const = 0;
};

}  // namespace loadgen
