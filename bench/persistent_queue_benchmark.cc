// What the persistent queue costs the thread that accepts a request: one
// Append of a request-sized record, with fdatasync (as in production) and
// without, from 1 to 8 concurrent callers (receiver threads). Concurrent
// Appends share one fdatasync (group commit), so the time per call falls as
// callers are added while each call still waits for the disk.
//
//   bazel run -c opt //bench:persistent_queue_benchmark -- --benchmark_repetitions=3
//
// The queue lives under $TEST_TMPDIR, else $TMPDIR, else /tmp: run it on the
// file system the gateway's queue would use.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "pipeline/export/persistent_queue.h"

namespace gateway {
namespace {

std::string QueueDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr) tmp = std::getenv("TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/pq_bench_", ::getpid());
}

std::unique_ptr<PersistentQueue>& SharedQueue() {
  static auto* queue = new std::unique_ptr<PersistentQueue>();
  return *queue;
}

// Arguments: record bytes, fdatasync (1) or not (0).
void BM_Append(benchmark::State& state) {
  const std::string record(static_cast<size_t>(state.range(0)), 'r');
  if (state.thread_index() == 0) {
    std::filesystem::remove_all(QueueDir());
    PersistentQueueOptions options;
    options.sync = state.range(1) != 0;
    auto queue = OpenPersistentQueue(QueueDir(), int64_t{8} << 30, options);
    if (!queue.ok()) {
      state.SkipWithError(std::string(queue.status().message()).c_str());
      return;
    }
    SharedQueue() = *std::move(queue);
  }
  for (auto _ : state) {
    absl::StatusOr<uint64_t> id = SharedQueue()->Append(Signal::kTraces, record);
    if (!id.ok()) {
      state.SkipWithError("append failed");
      break;
    }
    SharedQueue()->Ack(*id);  // keeps the files from growing without bound
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  if (state.thread_index() == 0) {
    SharedQueue().reset();
    std::filesystem::remove_all(QueueDir());
  }
}
BENCHMARK(BM_Append)
    ->ArgNames({"bytes", "sync"})
    ->Args({64 << 10, 1})
    ->Args({64 << 10, 0})
    ->ThreadRange(1, 8)
    ->UseRealTime();

}  // namespace
}  // namespace gateway
